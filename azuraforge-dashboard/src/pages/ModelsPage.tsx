// The model registry: every model of the projects the caller sees, with its latest version and aliases.
import { Link } from "react-router";
import { api } from "../api/client";
import { useResource } from "../api/useResource";
import { formatDate } from "../format";

export function ModelsPage() {
  const models = useResource("models", () => api.listModels());
  return (
    <section>
      <div className="page-head">
        <h1>Models</h1>
      </div>
      {models.error && <p className="error">Could not load the models: {models.error.message}</p>}
      {models.data?.length === 0 && (
        <p className="empty">No model is registered yet: open a succeeded run and choose "Register this model".</p>
      )}
      {models.data && models.data.length > 0 && (
        <table className="models">
          <thead>
            <tr>
              <th>name</th>
              <th>project</th>
              <th>versions</th>
              <th>latest</th>
              <th>aliases</th>
              <th>created</th>
            </tr>
          </thead>
          <tbody>
            {models.data.map((model) => (
              <tr key={`${model.project_id}/${model.name}`}>
                <td>
                  <Link to={`/models/${encodeURIComponent(model.name)}?project=${encodeURIComponent(model.project_id)}`}>
                    {model.name}
                  </Link>
                </td>
                <td>{model.project_id}</td>
                <td>{model.versions}</td>
                <td>{model.latest_version === null ? "—" : `v${model.latest_version}`}</td>
                <td>
                  {model.aliases.map((alias) => (
                    <span key={alias.alias} className="chip alias" data-alias={alias.alias}>
                      {alias.alias} → v{alias.version}
                    </span>
                  ))}
                </td>
                <td>{formatDate(model.created_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
