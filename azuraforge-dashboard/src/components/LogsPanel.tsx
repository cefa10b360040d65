// The run's run.log: read through the API, followed live from log events while it runs, searchable, and
// downloadable; a failed run's ends with its traceback, so the panel opens scrolled to the end.
import { useEffect, useMemo, useRef, useState } from "react";
import { api } from "../api/client";
import type { LiveState } from "../live/series";
import { downloadArtifact } from "./Artifact";

const PAGE = 5000;

interface Props {
  experimentId: string;
  finished: boolean;
  live: LiveState["log"];
}

export function LogsPanel({ experimentId, finished, live }: Props) {
  // Lines read through the API (all of a finished run's, the held-back ones of a running run's), by number.
  const [fetched, setFetched] = useState<Map<number, string>>(new Map());
  const [total, setTotal] = useState<number | null>(null);
  const [error, setError] = useState<string>();
  const [search, setSearch] = useState("");
  const end = useRef<HTMLDivElement>(null);

  const load = (after: number, limit: number) =>
    api.getLogs(experimentId, after, limit).then(
      (page) => {
        setTotal(page.total);
        setFetched((current) => {
          const next = new Map(current);
          page.lines.forEach((line, i) => next.set(page.first_line + i, line));
          return next;
        });
      },
      (e: Error) => setError(e.message),
    );

  useEffect(() => {
    // The last PAGE lines: a failed run's error is at the end.
    api.getLogs(experimentId, 0, 1).then(
      (first) => load(Math.max(0, first.total - PAGE), PAGE),
      (e: Error) => setError(e.message),
    );
    // Loading once per run (and again when it finishes) is the point; load is rebuilt every render.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [experimentId, finished]);

  const lines = useMemo(() => {
    const all = new Map([...fetched, ...live.lines]);
    return [...all.entries()].sort((a, b) => a[0] - b[0]);
  }, [fetched, live.lines]);
  const missing = live.heldBack.filter((gap) => !fetched.has(gap.first));
  const needle = search.trim().toLowerCase();
  const shown = needle ? lines.filter(([, text]) => text.toLowerCase().includes(needle)) : lines;

  useEffect(() => {
    if (!needle) end.current?.scrollIntoView({ block: "nearest" });
  }, [lines.length, needle]);

  return (
    <div className="logs-panel">
      <div className="logs-toolbar">
        <input type="search" placeholder="Search the log" aria-label="Search the log" value={search} onChange={(e) => setSearch(e.target.value)} />
        <span className="muted small">
          {needle ? `${shown.length} of ${lines.length} lines` : `${lines.length} lines`}
          {total !== null && total > lines.length && ` (the last ${lines.length} of ${total})`}
        </span>
        <button type="button" onClick={() => downloadArtifact(experimentId, "run.log").catch((e: Error) => setError(e.message))}>
          Download run.log
        </button>
      </div>
      {error && <p className="error">Could not read the log: {error}</p>}
      {missing.map((gap) => (
        <button key={gap.first} type="button" className="held-back" onClick={() => load(gap.first - 1, gap.count)}>
          {gap.count} lines from line {gap.first} were held back (the app writes fast): show them
        </button>
      ))}
      <pre className="log" aria-label="Run log">
        {shown.map(([number, text]) => (
          <div key={number} className={/ (ERROR|CRITICAL) /.test(text) ? "log-line log-error" : /^\S+ WARNING /.test(text) ? "log-line log-warning" : "log-line"}>
            <span className="log-number">{number}</span>
            {text}
          </div>
        ))}
        <div ref={end} />
      </pre>
      {lines.length === 0 && <p className="muted">{finished ? "This run wrote nothing." : "Nothing written yet."}</p>}
    </div>
  );
}
