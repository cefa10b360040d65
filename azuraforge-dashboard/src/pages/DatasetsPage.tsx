// The project's uploaded datasets: upload a CSV (time series) or a zip of class folders (images), see what each
// holds and its version (SHA-256), delete one no run names.
import { useState, type FormEvent } from "react";
import { useAuth } from "../api/auth";
import { api, ApiError } from "../api/client";
import type { Dataset, DatasetKind } from "../api/types";
import { useResource } from "../api/useResource";
import { formatDate } from "../format";

const KINDS: { kind: DatasetKind; label: string; accept: string }[] = [
  { kind: "csv", label: "CSV (time series)", accept: ".csv,text/csv" },
  { kind: "image-folder", label: "zip of class folders (images)", accept: ".zip,application/zip" },
];

export function DatasetsPage() {
  const { project } = useAuth();
  const datasets = useResource(`datasets:${project}`, () => api.listDatasets(project));
  const [kind, setKind] = useState<DatasetKind>("csv");
  const [file, setFile] = useState<File | null>(null);
  const [name, setName] = useState("");
  const [sending, setSending] = useState(false);
  const [message, setMessage] = useState<{ error: boolean; text: string } | null>(null);

  const upload = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = event.currentTarget;
    if (!file) return;
    setSending(true);
    setMessage(null);
    try {
      const known = new Set(datasets.data?.map((d) => d.id));
      const stored = await api.uploadDataset(project, kind, file, name.trim() || undefined);
      setMessage({
        error: false,
        text: known.has(stored.id)
          ? `Those bytes are already kept as ${stored.name} (same version).`
          : `Uploaded ${stored.name}.`,
      });
      form.reset();
      setFile(null);
      setName("");
      datasets.reload();
    } catch (failure) {
      setMessage({ error: true, text: failure instanceof ApiError ? failure.message : String(failure) });
    } finally {
      setSending(false);
    }
  };
  const remove = async (dataset: Dataset) => {
    setMessage(null);
    try {
      await api.deleteDataset(dataset.id);
      datasets.reload();
    } catch (failure) {
      setMessage({ error: true, text: failure instanceof ApiError ? failure.message : String(failure) });
    }
  };

  return (
    <section>
      <h1>Datasets</h1>
      <p>
        Your own data for the apps that take it: choose one as the data source of a new experiment. A dataset's
        version is the SHA-256 of its file; uploading the same file again keeps one copy.
      </p>
      <form className="inline-form" onSubmit={upload} aria-label="Upload a dataset">
        <label>
          Kind{" "}
          <select value={kind} onChange={(e) => setKind(e.target.value as DatasetKind)}>
            {KINDS.map((k) => (
              <option key={k.kind} value={k.kind}>
                {k.label}
              </option>
            ))}
          </select>
        </label>
        <label>
          File{" "}
          <input
            type="file"
            accept={KINDS.find((k) => k.kind === kind)?.accept}
            onChange={(e) => setFile(e.target.files?.[0] ?? null)}
          />
        </label>
        <label>
          Name <input value={name} placeholder="the file's name" onChange={(e) => setName(e.target.value)} />
        </label>
        <button type="submit" className="primary" disabled={!file || sending}>
          {sending ? "Uploading…" : "Upload"}
        </button>
      </form>
      {message && (
        <p className={message.error ? "error" : "notice"} role={message.error ? "alert" : "status"}>
          {message.text}
        </p>
      )}
      {datasets.error && <p className="error">Could not load the datasets: {datasets.error.message}</p>}
      {datasets.data?.length === 0 && <p>No dataset in this project yet.</p>}
      {!!datasets.data?.length && (
        <table>
          <thead>
            <tr>
              <th>Name</th>
              <th>Kind</th>
              <th>Holds</th>
              <th>Size</th>
              <th>Version (SHA-256)</th>
              <th>Uploaded</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {datasets.data.map((dataset) => (
              <tr key={dataset.id}>
                <td>{dataset.name}</td>
                <td>{dataset.kind}</td>
                <td>{holds(dataset)}</td>
                <td>{(dataset.size / 1024).toFixed(1)} KiB</td>
                <td>
                  <code title={dataset.sha256}>{dataset.sha256.slice(0, 12)}</code>
                </td>
                <td>
                  {formatDate(dataset.created_at)} by {dataset.created_by}
                </td>
                <td>
                  <button type="button" onClick={() => remove(dataset)} aria-label={`Delete ${dataset.name}`}>
                    Delete
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** What a dataset holds, in a few words: its rows and columns, or its images per class. */
export function holds(dataset: Dataset): string {
  const summary = dataset.summary as { rows?: number; columns?: string[]; images?: number; classes?: object };
  if (dataset.kind === "csv") return `${summary.rows ?? 0} rows: ${(summary.columns ?? []).join(", ")}`;
  return `${summary.images ?? 0} images in ${Object.keys(summary.classes ?? {}).length} classes`;
}
