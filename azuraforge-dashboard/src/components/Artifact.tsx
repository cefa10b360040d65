// Artifacts are fetched through the API client, like every other request of the session.
import { useEffect, useState } from "react";
import { api } from "../api/client";

export function ArtifactImage({ experimentId, path, alt }: { experimentId: string; path: string; alt: string }) {
  const [url, setUrl] = useState<string>();
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    let objectUrl: string | undefined;
    let current = true;
    api.getArtifact(experimentId, path).then(
      (blob) => {
        if (!current) return;
        objectUrl = URL.createObjectURL(blob);
        setUrl(objectUrl);
      },
      () => current && setFailed(true),
    );
    return () => {
      current = false;
      if (objectUrl) URL.revokeObjectURL(objectUrl);
    };
  }, [experimentId, path]);
  if (failed) return <span className="muted">[image {path} could not be loaded]</span>;
  return url ? <img src={url} alt={alt} /> : <span className="muted">loading {path}…</span>;
}

export async function downloadArtifact(experimentId: string, path: string): Promise<void> {
  saveBlob(await api.getArtifact(experimentId, path), path.split("/").at(-1) ?? path);
}

/** Offers `blob` as a download named `name` (fetched with the token, so a plain link would not do). */
export function saveBlob(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  link.click();
  // The browser reads the blob after click() returns; free it once the download has surely started.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

const PREVIEW_ROWS = 20;
const IMAGE = /\.(png|jpe?g|gif|svg|webp)$/i;
const TEXT = /\.(csv|json|md|log|txt)$/i;

/** Every artifact: a click previews CSV (first rows as a table), JSON, text and images; each downloads, and
 * all download as one zip. */
export function ArtifactList({ experimentId, paths }: { experimentId: string; paths: string[] }) {
  const [error, setError] = useState<string>();
  const [open, setOpen] = useState<string | null>(null);
  if (!paths.length) return <p className="muted">No artifacts.</p>;
  return (
    <>
      <button type="button" onClick={() => downloadAll(experimentId).catch((e: Error) => setError(e.message))}>
        Download all (zip)
      </button>
      <ul className="artifacts">
        {paths.map((path) => (
          <li key={path}>
            {IMAGE.test(path) || TEXT.test(path) ? (
              <button type="button" className="link" aria-expanded={open === path} onClick={() => setOpen(open === path ? null : path)}>
                {path}
              </button>
            ) : (
              <span>{path}</span>
            )}{" "}
            <button
              type="button"
              className="link small"
              aria-label={`Download ${path}`}
              onClick={() => downloadArtifact(experimentId, path).catch((e: Error) => setError(`${path}: ${e.message}`))}
            >
              ⤓
            </button>
            {open === path && <ArtifactPreview experimentId={experimentId} path={path} />}
          </li>
        ))}
      </ul>
      {error && <p className="error">{error}</p>}
    </>
  );
}

function ArtifactPreview({ experimentId, path }: { experimentId: string; path: string }) {
  const [text, setText] = useState<string>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    if (IMAGE.test(path)) return;
    api.getArtifact(experimentId, path).then(
      (blob) => blob.text().then(setText),
      (e: Error) => setError(e.message),
    );
  }, [experimentId, path]);
  if (IMAGE.test(path)) return <ArtifactImage experimentId={experimentId} path={path} alt={path} />;
  if (error) return <p className="error">{error}</p>;
  if (text === undefined) return <p className="muted">Loading…</p>;
  if (/\.csv$/i.test(path)) {
    const rows = text.split("\n").filter(Boolean).slice(0, PREVIEW_ROWS + 1).map(splitCsvLine);
    const [head = [], ...body] = rows;
    return (
      <div className="artifact-preview">
        <table className="kv csv-preview">
          <thead>
            <tr>{head.map((cell, i) => <th key={i}>{cell}</th>)}</tr>
          </thead>
          <tbody>
            {body.map((row, r) => (
              <tr key={r}>{row.map((cell, i) => <td key={i}>{cell}</td>)}</tr>
            ))}
          </tbody>
        </table>
        <p className="muted small">The first {body.length} rows.</p>
      </div>
    );
  }
  let shown = text;
  if (/\.json$/i.test(path)) {
    try {
      shown = JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      // Not valid JSON: show it as it is.
    }
  }
  return <pre className="artifact-preview">{shown.slice(0, 20_000)}</pre>;
}

/** One CSV line into cells, with "quoted, fields" and "" for a quote inside them. */
export function splitCsvLine(line: string): string[] {
  const cells: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const char = line[i];
    if (quoted && char === '"' && line[i + 1] === '"') {
      cell += '"';
      i++;
    } else if (char === '"') {
      quoted = !quoted;
    } else if (char === "," && !quoted) {
      cells.push(cell);
      cell = "";
    } else if (char !== "\r" || quoted) {
      cell += char;
    }
  }
  cells.push(cell);
  return cells;
}

async function downloadAll(experimentId: string): Promise<void> {
  saveBlob(await api.getArtifactsZip(experimentId), `${experimentId}.zip`);
}
