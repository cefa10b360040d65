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
  const url = URL.createObjectURL(await api.getArtifact(experimentId, path));
  const link = document.createElement("a");
  link.href = url;
  link.download = path.split("/").at(-1) ?? path;
  link.click();
  // The browser reads the blob after click() returns; free it once the download has surely started.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

export function ArtifactList({ experimentId, paths }: { experimentId: string; paths: string[] }) {
  const [error, setError] = useState<string>();
  if (!paths.length) return <p className="muted">No artifacts.</p>;
  return (
    <>
      <ul className="artifacts">
        {paths.map((path) => (
          <li key={path}>
            <button
              type="button"
              className="link"
              onClick={() => downloadArtifact(experimentId, path).catch((e: Error) => setError(`${path}: ${e.message}`))}
            >
              {path}
            </button>
          </li>
        ))}
      </ul>
      {error && <p className="error">{error}</p>}
    </>
  );
}
