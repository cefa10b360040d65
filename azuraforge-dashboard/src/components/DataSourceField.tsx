// Where a run's data comes from: the app's own source (its config says which) or a dataset uploaded to the
// project. The forms of a run and of a sweep both offer it; the choice goes into the config as dataset_id.
import { Link } from "react-router";
import { useAuth } from "../api/auth";
import { api } from "../api/client";
import type { AppInfo } from "../api/types";
import { useResource } from "../api/useResource";
import type { FieldSpec } from "../schema/fields";
import { holds } from "../pages/DatasetsPage";

export const DATASET_FIELD = "dataset_id";

/** The config fields a form shows as inputs: the dataset is chosen with DataSourceField instead of typed in. */
export function withoutDataset(fields: FieldSpec[]): FieldSpec[] {
  return fields.filter((field) => field.name !== DATASET_FIELD);
}

/** The config with the chosen dataset, or without one for the app's own data. */
export function withDataset<T extends Record<string, unknown>>(config: T, datasetId: string): T {
  return { ...config, ...(datasetId && { [DATASET_FIELD]: datasetId }) };
}

export function DataSourceField({ app, value, onChange }: { app: AppInfo; value: string; onChange: (datasetId: string) => void }) {
  const { project } = useAuth();
  const kinds = app.datasets.map((spec) => spec.kind);
  const datasets = useResource(`datasets:${project}:${app.name}`, () =>
    kinds.length ? api.listDatasets(project) : Promise.resolve([]),
  );
  if (!kinds.length) return null;
  const usable = datasets.data?.filter((dataset) => kinds.includes(dataset.kind)) ?? [];
  return (
    <div className="field">
      <label htmlFor="data-source">Data source</label>
      <select id="data-source" value={value} onChange={(e) => onChange(e.target.value)}>
        <option value="">the app's own (see the config)</option>
        {usable.map((dataset) => (
          <option key={dataset.id} value={dataset.id}>
            uploaded: {dataset.name} ({holds(dataset)})
          </option>
        ))}
      </select>
      {datasets.error && <p className="error">Could not load the project's datasets: {datasets.error.message}</p>}
      <p className="field-help">
        {app.datasets.map((spec) => spec.description || spec.kind).join(" ")}{" "}
        {app.datasets.some((spec) => spec.columns.length) &&
          `Columns needed: ${app.datasets.flatMap((spec) => spec.columns).join(", ")}. `}
        <Link to="/datasets">Upload a dataset</Link>
      </p>
    </div>
  );
}
