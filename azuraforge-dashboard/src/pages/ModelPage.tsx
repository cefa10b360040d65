// One registered model: its versions with their verdicts, aliases (moved with a confirmation) and their history,
// the difference between two versions, and a "Try it" panel built from the version's input schema.
import { useState, type FormEvent } from "react";
import { Link, useParams, useSearchParams } from "react-router";
import { api } from "../api/client";
import type {
  ClassificationOutput,
  ForecastInput,
  ForecastOutput,
  ModelVersion,
  Prediction,
  RegisteredModel,
} from "../api/types";
import { useResource } from "../api/useResource";
import { BarChart } from "../components/BarChart";
import { LineChart } from "../components/LineChart";
import { VerdictMarks } from "../components/RunRecord";
import { formatDate, formatNumber, formatValue } from "../format";

export function ModelPage() {
  const { name = "" } = useParams();
  const project = useSearchParams()[0].get("project") ?? undefined;
  const model = useResource(`model:${project}:${name}`, () => api.getModel(name, project));
  if (model.error) return <p className="error">Could not load model {name}: {model.error.message}</p>;
  if (!model.data) return <p className="muted">Loading…</p>;
  return <ModelView model={model.data} reload={model.reload} />;
}

function ModelView({ model, reload }: { model: RegisteredModel; reload: () => void }) {
  const versions = model.version_list;
  return (
    <section>
      <div className="page-head">
        <div>
          <h1>{model.name}</h1>
          <p className="muted">
            {versions.length} version(s) · created {formatDate(model.created_at)} by {model.created_by}
            {model.description && ` · ${model.description}`}
          </p>
        </div>
      </div>
      <table className="versions">
        <thead>
          <tr>
            <th>version</th>
            <th>aliases</th>
            <th>verdict</th>
            <th>metrics</th>
            <th>source run</th>
            <th>registered</th>
          </tr>
        </thead>
        <tbody>
          {versions.map((version) => (
            <tr key={version.version} data-version={version.version}>
              <td>v{version.version}</td>
              <td>
                {version.aliases.map((alias) => (
                  <span key={alias} className="chip alias" data-alias={alias}>
                    {alias}
                  </span>
                ))}
              </td>
              <td>{version.result && <VerdictMarks result={version.result} />}</td>
              <td className="small">
                {Object.entries(version.metrics)
                  .slice(0, 3)
                  .map(([metric, value]) => `${metric} ${formatNumber(value)}`)
                  .join(" · ")}
              </td>
              <td>
                {version.source_run_exists ? (
                  <Link to={`/experiments/${version.experiment_id}`}>{version.experiment_id.slice(0, 8)}</Link>
                ) : (
                  <span className="muted" title={version.experiment_id}>
                    deleted (the version keeps its copy)
                  </span>
                )}
              </td>
              <td className="small">
                {formatDate(version.created_at)} by {version.created_by}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <div className="columns">
        <AliasMover model={model} onMoved={reload} />
        <div>
          <h2>Alias history</h2>
          {model.alias_history.length === 0 && <p className="muted">No alias has been set yet.</p>}
          <ul className="alias-history">
            {model.alias_history.map((event, index) => (
              <li key={index}>
                {event.alias}: {event.from_version === null ? "set" : `v${event.from_version}`} →{" "}
                {event.to_version === null ? "removed" : `v${event.to_version}`}{" "}
                <span className="muted small">
                  {formatDate(event.at)} by {event.by}
                </span>
              </li>
            ))}
          </ul>
        </div>
      </div>
      {versions.length > 1 && <VersionDiff versions={versions} />}
      {versions.length > 0 && <TryIt model={model} />}
    </section>
  );
}

function AliasMover({ model, onMoved }: { model: RegisteredModel; onMoved: () => void }) {
  const [alias, setAlias] = useState(model.aliases[0]?.alias ?? "production");
  const [version, setVersion] = useState(model.version_list[0]?.version ?? 1);
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState<string>();
  const current = model.aliases.find((entry) => entry.alias === alias);
  const move = () => {
    setError(undefined);
    api.setAlias(model, alias, version).then(
      () => {
        setConfirming(false);
        onMoved();
      },
      (reason: Error) => setError(reason.message),
    );
  };
  return (
    <div className="alias-mover">
      <h2>Move an alias</h2>
      <div className="field-pair">
        <label>
          alias <input id="alias-name" value={alias} onChange={(event) => setAlias(event.target.value.trim())} />
        </label>
        <label>
          version{" "}
          <select id="alias-version" value={version} onChange={(event) => setVersion(Number(event.target.value))}>
            {model.version_list.map((entry) => (
              <option key={entry.version} value={entry.version}>
                v{entry.version}
              </option>
            ))}
          </select>
        </label>
        <button type="button" onClick={() => setConfirming(true)} disabled={!alias || current?.version === version}>
          Move alias
        </button>
      </div>
      {confirming && (
        <div className="confirm" role="alertdialog" aria-label="Confirm the alias move">
          <p>
            Point <strong>{alias}</strong> at v{version}
            {current ? ` (it points at v${current.version} now)` : " (a new alias)"}? Clients that name models:/
            {model.name}@{alias} get this version from then on.
          </p>
          <button type="button" className="primary" onClick={move}>
            Confirm
          </button>{" "}
          <button type="button" className="ghost" onClick={() => setConfirming(false)}>
            Cancel
          </button>
        </div>
      )}
      {error && <p className="error">{error}</p>}
    </div>
  );
}

function VersionDiff({ versions }: { versions: ModelVersion[] }) {
  const [left, setLeft] = useState(versions[1]?.version ?? 1);
  const [right, setRight] = useState(versions[0]?.version ?? 1);
  const a = versions.find((entry) => entry.version === left);
  const b = versions.find((entry) => entry.version === right);
  const pick = (value: number, choose: (version: number) => void, id: string) => (
    <select id={id} value={value} onChange={(event) => choose(Number(event.target.value))}>
      {versions.map((entry) => (
        <option key={entry.version} value={entry.version}>
          v{entry.version}
        </option>
      ))}
    </select>
  );
  const rows = (kind: string, first: Record<string, unknown>, second: Record<string, unknown>) =>
    [...new Set([...Object.keys(first), ...Object.keys(second)])].sort().map((key) => {
      const [x, y] = [formatValue(first[key]), formatValue(second[key])];
      return (
        <tr key={`${kind}:${key}`} className={x === y ? "same" : "differs"}>
          <td>{kind}</td>
          <td>{key}</td>
          <td>{x}</td>
          <td>{y}</td>
        </tr>
      );
    });
  return (
    <div className="diff">
      <h2>
        Compare {pick(left, setLeft, "diff-left")} with {pick(right, setRight, "diff-right")}
      </h2>
      {a && b && (
        <table className="kv">
          <thead>
            <tr>
              <th></th>
              <th>field</th>
              <th>v{a.version}</th>
              <th>v{b.version}</th>
            </tr>
          </thead>
          <tbody>
            {rows("metric", a.metrics, b.metrics)}
            {rows("config", a.config, b.config)}
          </tbody>
        </table>
      )}
    </div>
  );
}

function TryIt({ model }: { model: RegisteredModel }) {
  const production = model.aliases.find((alias) => alias.alias === "production");
  const [version, setVersion] = useState(production?.version ?? model.version_list[0]?.version ?? 1);
  const chosen = model.version_list.find((entry) => entry.version === version);
  const properties = (chosen?.input_schema?.properties ?? {}) as Record<string, unknown>;
  const [file, setFile] = useState<File | null>(null);
  const [history, setHistory] = useState("");
  const [prediction, setPrediction] = useState<Prediction>();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    setError(undefined);
    setPrediction(undefined);
    let input: File | ForecastInput;
    if ("image" in properties) {
      if (!file) return setError("Choose a PNG or JPEG image first.");
      input = file;
    } else {
      try {
        input = { history: history.trim() ? parseHistory(history) : null, horizon: null, timestamps: null };
      } catch (reason) {
        return setError((reason as Error).message);
      }
    }
    setBusy(true);
    api.predict(model, version, input).then(
      (answer) => {
        setBusy(false);
        setPrediction(answer);
      },
      (reason: Error) => {
        setBusy(false);
        setError(reason.message);
      },
    );
  };

  return (
    <form className="try-it" onSubmit={submit}>
      <h2>
        Try it with{" "}
        <select id="try-version" value={version} onChange={(event) => setVersion(Number(event.target.value))}>
          {model.version_list.map((entry) => (
            <option key={entry.version} value={entry.version}>
              v{entry.version}
              {entry.aliases.length > 0 && ` (${entry.aliases.join(", ")})`}
            </option>
          ))}
        </select>
      </h2>
      {chosen?.input_schema === null && <p className="muted">This version's app declares no prediction input.</p>}
      {"image" in properties && (
        <label className="field">
          Image (PNG or JPEG){" "}
          <input
            id="try-image"
            type="file"
            accept="image/png,image/jpeg"
            onChange={(event) => setFile(event.target.files?.[0] ?? null)}
          />
        </label>
      )}
      {"history" in properties && (
        <label className="field">
          History: CSV with a header row, oldest row first (empty: the data the app was trained on, loaded afresh)
          <textarea id="try-history" rows={6} value={history} onChange={(event) => setHistory(event.target.value)} />
        </label>
      )}
      <button type="submit" className="primary" disabled={busy}>
        {busy ? "Predicting…" : "Predict"}
      </button>
      {error && <p className="error">{error}</p>}
      {prediction && "top_class" in prediction && <Classification answer={prediction} />}
      {prediction && "forecast" in prediction && <Forecast answer={prediction} />}
    </form>
  );
}

function Classification({ answer }: { answer: ClassificationOutput }) {
  const ordered = [...answer.probabilities].sort((a, b) => a.label.localeCompare(b.label, undefined, { numeric: true }));
  return (
    <div className="prediction">
      <p>
        Top class: <strong className="top-class">{answer.top_class}</strong> (
        {formatNumber(answer.top_probability * 100)} %)
      </p>
      <BarChart
        title="Class probabilities"
        labels={ordered.map((entry) => entry.label)}
        values={ordered.map((entry) => entry.probability)}
        highlight={ordered.findIndex((entry) => entry.label === answer.top_class)}
      />
    </div>
  );
}

function Forecast({ answer }: { answer: ForecastOutput }) {
  const labels = [answer.last_timestamp, ...answer.forecast.map((point, step) => point.timestamp ?? `+${step + 1}`)];
  return (
    <div className="prediction">
      <p>
        Forecast of <strong>{answer.target}</strong> after {answer.last_timestamp}:{" "}
        <span className="forecast-values">{answer.forecast.map((point) => formatNumber(point.value)).join(", ")}</span>
      </p>
      <LineChart
        title={`Forecast of ${answer.target}`}
        labels={labels}
        lines={[{ label: answer.target, values: [answer.last_value, ...answer.forecast.map((point) => point.value)] }]}
        xTitle="time"
      />
    </div>
  );
}

/** Rows of a CSV with a header line; numbers become numbers, empty cells null. */
export function parseHistory(text: string): Record<string, number | string | null>[] {
  const [header, ...lines] = text.trim().split(/\r?\n/);
  const columns = (header ?? "").split(",").map((column) => column.trim());
  return lines.map((line, index) => {
    const cells = line.split(",");
    if (cells.length !== columns.length) {
      throw new Error(`line ${index + 2} has ${cells.length} values for ${columns.length} columns`);
    }
    return Object.fromEntries(
      columns.map((column, position) => {
        const cell = (cells[position] ?? "").trim();
        const number = Number(cell);
        return [column, cell === "" ? null : Number.isNaN(number) ? cell : number];
      }),
    );
  });
}
