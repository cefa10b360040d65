// Start an experiment: pick an app, fill the form generated from its config schema (or start from another run's
// config with ?from=<id>), send it.
import { useMemo, useState, type FormEvent } from "react";
import { Link, useNavigate, useSearchParams } from "react-router";
import { useAuth } from "../api/auth";
import { ApiError, api, newIdempotencyKey } from "../api/client";
import type { AppInfo, NewExperiment } from "../api/types";
import { useResource } from "../api/useResource";
import { DATASET_FIELD, DataSourceField, withDataset, withoutDataset } from "../components/DataSourceField";
import { buildConfig, fieldsFromSchema, initialValues, type FormValues } from "../schema/fields";
import { SchemaForm } from "../schema/SchemaForm";
import { placeServerErrors, type PlacedErrors } from "../schema/serverErrors";
import { SweepForm } from "./SweepForm";

export function NewExperimentPage() {
  const apps = useResource("apps", api.listApps);
  const [params, setParams] = useSearchParams();
  const chosen = params.get("app") ?? apps.data?.[0]?.name ?? "";
  const app = apps.data?.find((a) => a.name === chosen);
  // "search" starts a sweep (Optuna picks the values) instead of one run or a grid.
  const search = params.get("mode") === "search";
  // "New from this": the form starts from another run's request (its full config, seed included, and tags).
  const from = params.get("from");
  const source = useResource(`clone:${from ?? ""}`, () => (from ? api.cloneExperiment(from) : Promise.resolve(null)));
  const choose = (changes: Record<string, string>) => {
    const next = new URLSearchParams(params);
    for (const [key, value] of Object.entries(changes)) next.set(key, value);
    if (changes.app) next.delete("from"); // another app's form cannot take that run's config
    setParams(next, { replace: true });
  };
  const start = source.data?.app === chosen ? source.data : null;
  return (
    <section className="narrow">
      <h1>New experiment</h1>
      {apps.error && <p className="error">Could not load the installed apps: {apps.error.message}</p>}
      {apps.data?.length === 0 && (
        <p className="error">No app is installed. Install one (pip install an azuraforge-app-* package) and restart the platform.</p>
      )}
      {apps.data && apps.data.length > 0 && (
        <div className="field">
          <label htmlFor="app">App</label>
          <select id="app" value={chosen} onChange={(e) => choose({ app: e.target.value })}>
            {apps.data.map((a) => (
              <option key={a.name}>{a.name}</option>
            ))}
          </select>
          {app && <p className="field-help">{app.description}</p>}
          <div className="mode" role="radiogroup" aria-label="What to start">
            <label>
              <input type="radio" name="mode" checked={!search} onChange={() => choose({ mode: "run" })} /> one run or
              a grid
            </label>
            <label>
              <input type="radio" name="mode" checked={search} onChange={() => choose({ mode: "search" })} /> search
              (a sweep that learns which values work)
            </label>
          </div>
        </div>
      )}
      {apps.data && chosen && !app && <p className="error">No installed app is called {chosen}: choose one above.</p>}
      {from && source.error && <p className="error">Could not load the run to start from: {source.error.message}</p>}
      {start && (
        <p className="muted" data-testid="prefilled">
          Filled in from <Link to={`/experiments/${from}`}>{start.name || from}</Link>: change what you want to try.
        </p>
      )}
      {app &&
        (!from || source.data !== undefined || source.error) &&
        (search ? (
          <SweepForm key={app.name} app={app} />
        ) : (
          <ExperimentForm key={`${app.name}:${start ? from : ""}`} app={app} start={start} />
        ))}
    </section>
  );
}

export function ExperimentForm({ app, start = null }: { app: AppInfo; start?: NewExperiment | null }) {
  const { project } = useAuth();
  const navigate = useNavigate();
  const fields = useMemo(() => withoutDataset(fieldsFromSchema(app.config_schema)), [app]);
  const [datasetId, setDatasetId] = useState(() => String(start?.config?.[DATASET_FIELD] ?? ""));
  const [values, setValues] = useState<FormValues>(() => initialValues(fields, { ...app.defaults, ...start?.config }));
  const [name, setName] = useState("");
  const [tags, setTags] = useState((start?.tags ?? []).join(", "));
  const [touched, setTouched] = useState<Set<string>>(new Set());
  const [submitted, setSubmitted] = useState(false);
  const [server, setServer] = useState<PlacedErrors>({ fields: {}, other: [] });
  const [sending, setSending] = useState(false);
  // One key per submission of these values: a retried POST (network hiccup) cannot start a second run.
  const [idempotencyKey, setIdempotencyKey] = useState(newIdempotencyKey);

  const built = buildConfig(fields, values);
  const shown: Record<string, string> = { ...server.fields };
  for (const [field, error] of Object.entries(built.errors)) {
    if (submitted || touched.has(field)) shown[field] = error;
  }

  const edited = (field: string) => {
    setTouched((current) => new Set(current).add(field));
    setServer((current) => {
      const { [field]: _dropped, ...rest } = current.fields;
      return { ...current, fields: rest };
    });
    setIdempotencyKey(newIdempotencyKey());
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setSubmitted(true);
    if (Object.keys(built.errors).length) return;
    setSending(true);
    try {
      const created = await api.createExperiment(
        {
          app: app.name,
          project,
          config: withDataset(built.config, datasetId),
          ...(name.trim() && { name: name.trim() }),
          ...(tags.trim() && { tags: splitTags(tags) }),
          ...(Object.keys(built.grid).length && { grid: built.grid }),
        },
        idempotencyKey,
      );
      navigate("batch_id" in created && "experiments" in created ? `/?batch=${created.batch_id}` : `/experiments/${created.id}`);
    } catch (error) {
      const issues = error instanceof ApiError ? error.issues : [];
      setServer(
        issues.length
          ? placeServerErrors(issues, fields.map((f) => f.name))
          : { fields: {}, other: [error instanceof Error ? error.message : String(error)] },
      );
    } finally {
      setSending(false);
    }
  };

  return (
    <form onSubmit={submit} noValidate aria-label={`New ${app.name} experiment`}>
      <div className="field-pair">
        <div className="field">
          <label htmlFor="experiment-name">Name</label>
          <input id="experiment-name" type="text" placeholder="optional" value={name} onChange={(e) => {
              setName(e.target.value);
              setIdempotencyKey(newIdempotencyKey());
            }} />
        </div>
        <div className="field">
          <label htmlFor="experiment-tags">Tags</label>
          <input id="experiment-tags" type="text" placeholder="comma-separated, optional" value={tags} onChange={(e) => {
              setTags(e.target.value);
              setIdempotencyKey(newIdempotencyKey());
            }} />
        </div>
      </div>
      <DataSourceField
        app={app}
        value={datasetId}
        onChange={(id) => {
          setDatasetId(id);
          setIdempotencyKey(newIdempotencyKey());
        }}
      />
      <h2>Config</h2>
      <SchemaForm
        fields={fields}
        values={values}
        errors={shown}
        onText={(field, text) => {
          edited(field);
          setValues((v) => ({ ...v, text: { ...v.text, [field]: text } }));
        }}
        onGrid={(field, on) => {
          edited(field);
          setValues((v) => ({ ...v, grid: { ...v.grid, [field]: on } }));
        }}
      />
      {server.other.map((message) => (
        <p key={message} className="error" role="alert">
          {message}
        </p>
      ))}
      <div className="actions">
        <button type="submit" className="primary" disabled={sending}>
          {Object.keys(built.grid).length ? `Start ${gridSize(built.grid)} experiments` : "Start experiment"}
        </button>
      </div>
    </form>
  );
}

function splitTags(text: string): string[] {
  return [...new Set(text.split(",").map((tag) => tag.trim()).filter(Boolean))];
}

function gridSize(grid: Record<string, unknown[]>): number {
  return Object.values(grid).reduce((product, values) => product * values.length, 1);
}
