// Start a sweep: the base config (the app's form, no grid), a range or choices for each searched field, the
// objective, the sampler and pruner, how many trials and how many at once.
import { useMemo, useState, type FormEvent } from "react";
import { useNavigate } from "react-router";
import { useAuth } from "../api/auth";
import { ApiError, api } from "../api/client";
import type { AppInfo, NewSweep } from "../api/types";
import { DataSourceField, withDataset, withoutDataset } from "../components/DataSourceField";
import { buildConfig, fieldsFromSchema, initialValues, type FieldSpec, type FormValues } from "../schema/fields";
import { SchemaForm } from "../schema/SchemaForm";
import { buildSpace, canSearch, initialRow, type SearchRow } from "../schema/space";

export function SweepForm({ app }: { app: AppInfo }) {
  const navigate = useNavigate();
  const { project } = useAuth();
  const fields = useMemo(() => withoutDataset(fieldsFromSchema(app.config_schema)), [app]);
  const searchable = fields.filter(canSearch);
  const [values, setValues] = useState<FormValues>(() => initialValues(fields, app.defaults));
  const [datasetId, setDatasetId] = useState("");
  const [rows, setRows] = useState<Record<string, SearchRow>>(() =>
    Object.fromEntries(searchable.map((field) => [field.name, initialRow(field)])),
  );
  const [settings, setSettings] = useState({
    name: "",
    metric: "val_loss",
    direction: "minimize",
    sampler: "tpe",
    pruner: "median",
    nTrials: "20",
    parallelism: "2",
  });
  const [submitted, setSubmitted] = useState(false);
  const [serverErrors, setServerErrors] = useState<string[]>([]);
  const [sending, setSending] = useState(false);

  const config = buildConfig(fields, values);
  const space = buildSpace(fields, rows);
  const nTrials = Number(settings.nTrials);
  const parallelism = Number(settings.parallelism);
  const problems = [
    ...Object.entries(space.errors).map(([field, error]) => `${field}: ${error}`),
    ...(Object.keys(space.space).length === 0 ? ["Search at least one field."] : []),
    ...(Number.isInteger(nTrials) && nTrials >= 1 ? [] : ["Trials: enter a whole number of at least 1."]),
    ...(Number.isInteger(parallelism) && parallelism >= 1 ? [] : ["At once: enter a whole number of at least 1."]),
    ...(settings.metric.trim() ? [] : ["Objective: name the metric to optimise, e.g. val_loss."]),
  ];

  const set = (key: keyof typeof settings) => (event: { target: { value: string } }) =>
    setSettings((current) => ({ ...current, [key]: event.target.value }));

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setSubmitted(true);
    if (problems.length || Object.keys(config.errors).length) return;
    setSending(true);
    try {
      const body: NewSweep = {
        app: app.name,
        project,
        base_config: withDataset(config.config, datasetId),
        space: space.space,
        objective: { metric: settings.metric.trim(), direction: settings.direction as "minimize" | "maximize" },
        sampler: settings.sampler as NewSweep["sampler"],
        pruner: settings.pruner as NewSweep["pruner"],
        n_trials: nTrials,
        parallelism,
        ...(settings.name.trim() && { name: settings.name.trim() }),
      };
      const sweep = await api.createSweep(body);
      navigate(`/sweeps/${sweep.id}`);
    } catch (error) {
      const issues = error instanceof ApiError ? error.issues : [];
      setServerErrors(
        issues.length
          ? issues.map((issue) => `${issue.loc.slice(1).join(".")}: ${issue.msg}`)
          : [error instanceof Error ? error.message : String(error)],
      );
    } finally {
      setSending(false);
    }
  };

  return (
    <form onSubmit={submit} noValidate aria-label={`New ${app.name} sweep`}>
      <div className="field-pair">
        <div className="field">
          <label htmlFor="sweep-name">Name</label>
          <input id="sweep-name" type="text" placeholder="optional" value={settings.name} onChange={set("name")} />
        </div>
        <div className="field">
          <label htmlFor="sweep-metric">Objective (an epoch metric)</label>
          <div className="field-pair">
            <input id="sweep-metric" type="text" value={settings.metric} onChange={set("metric")} />
            <select aria-label="Direction" value={settings.direction} onChange={set("direction")}>
              <option value="minimize">minimize</option>
              <option value="maximize">maximize</option>
            </select>
          </div>
        </div>
      </div>
      <div className="field-pair">
        <div className="field">
          <label htmlFor="sweep-sampler">Sampler</label>
          <select id="sweep-sampler" value={settings.sampler} onChange={set("sampler")}>
            <option value="tpe">TPE (learns from earlier trials)</option>
            <option value="random">random</option>
            <option value="grid">grid</option>
          </select>
        </div>
        <div className="field">
          <label htmlFor="sweep-pruner">Pruner</label>
          <select id="sweep-pruner" value={settings.pruner} onChange={set("pruner")}>
            <option value="median">median</option>
            <option value="hyperband">hyperband</option>
            <option value="none">none</option>
          </select>
        </div>
      </div>
      <div className="field-pair">
        <div className="field">
          <label htmlFor="sweep-trials">Trials</label>
          <input id="sweep-trials" type="text" inputMode="numeric" value={settings.nTrials} onChange={set("nTrials")} />
        </div>
        <div className="field">
          <label htmlFor="sweep-parallelism">At once</label>
          <input
            id="sweep-parallelism"
            type="text"
            inputMode="numeric"
            value={settings.parallelism}
            onChange={set("parallelism")}
          />
        </div>
      </div>
      <DataSourceField app={app} value={datasetId} onChange={setDatasetId} />
      <h2>Search space</h2>
      <div className="schema-form">
        {searchable.map((field) => (
          <SearchFieldRow
            key={field.name}
            field={field}
            row={rows[field.name] ?? initialRow(field)}
            error={submitted ? space.errors[field.name] : undefined}
            onChange={(row) => setRows((current) => ({ ...current, [field.name]: row }))}
          />
        ))}
      </div>
      <h2>Base config</h2>
      <SchemaForm
        fields={fields}
        values={values}
        errors={submitted ? config.errors : {}}
        onText={(field, text) => setValues((v) => ({ ...v, text: { ...v.text, [field]: text } }))}
      />
      {[...(submitted ? problems : []), ...serverErrors].map((message) => (
        <p key={message} className="error" role="alert">
          {message}
        </p>
      ))}
      <div className="actions">
        <button type="submit" className="primary" disabled={sending}>
          Start sweep
        </button>
      </div>
    </form>
  );
}

interface RowProps {
  field: FieldSpec;
  row: SearchRow;
  error: string | undefined;
  onChange: (row: SearchRow) => void;
}

function SearchFieldRow({ field, row, error, onChange }: RowProps) {
  const id = `search-${field.name}`;
  const numeric = field.kind === "number" || field.kind === "integer";
  const text = (key: "low" | "high" | "step" | "choices", label: string) => (
    <input
      aria-label={`${field.title} ${label}`}
      type="text"
      placeholder={label}
      value={row[key]}
      onChange={(e) => onChange({ ...row, [key]: e.target.value })}
    />
  );
  return (
    <div className={`field${error ? " field-invalid" : ""}`} data-search={field.name}>
      <label htmlFor={id}>
        <input id={id} type="checkbox" checked={row.on} onChange={(e) => onChange({ ...row, on: e.target.checked })} />{" "}
        search {field.title}
      </label>
      {row.on && numeric && (
        <div className="field-pair">
          {text("low", "from")}
          {text("high", "to")}
          {field.kind === "integer" && text("step", "step")}
          <label>
            <input
              type="checkbox"
              aria-label={`${field.title} log`}
              checked={row.log}
              onChange={(e) => onChange({ ...row, log: e.target.checked })}
            />{" "}
            log
          </label>
        </div>
      )}
      {row.on && !numeric && text("choices", "choices, comma-separated")}
      {error && (
        <p className="field-error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}
