// The models an MLflow client logged into this run (mlflow.<flavor>.log_model): their files are the run's, under
// models/<model id>/artifacts/, so they are found in its artifact list; each is shown with how to load it.
const MLMODEL = /^models\/(m-[0-9a-f]{32})\/artifacts\/MLmodel$/;

export function loggedModelIds(artifacts: string[]): string[] {
  return artifacts.flatMap((path) => MLMODEL.exec(path)?.[1] ?? []).sort();
}

export function LoggedModels({ artifacts }: { artifacts: string[] }) {
  const ids = loggedModelIds(artifacts);
  if (!ids.length) return null;
  return (
    <div className="logged-models">
      <h2>Logged models</h2>
      <p className="muted small">
        Logged by the MLflow client; with <code>MLFLOW_TRACKING_URI</code> set to this server, load one with:
      </p>
      <ul>
        {ids.map((id) => (
          <li key={id} data-model={id}>
            <code>{`mlflow.pyfunc.load_model("models:/${id}")`}</code>
          </li>
        ))}
      </ul>
    </div>
  );
}
