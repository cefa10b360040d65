// The experiments list: filter (also by metric and config conditions), search, sort (also by any metric column
// the user adds), select runs to compare; statuses follow live events.
import { useCallback, useEffect, useMemo, useState } from "react";
import { Link, useNavigate, useSearchParams } from "react-router";
import { useAuth } from "../api/auth";
import { api } from "../api/client";
import {
  EXPERIMENT_STATUSES,
  isFinished,
  type Experiment,
  type ExperimentQuery,
  type ExperimentStatus,
  type ProgressEvent,
} from "../api/types";
import { useResource } from "../api/useResource";
import { saveBlob } from "../components/Artifact";
import { OfflineBadge, VerdictMarks } from "../components/RunRecord";
import { ExternalBadge, StatusBadge } from "../components/StatusBadge";
import { experimentDuration, experimentTitle, formatDate, formatDuration, formatNumber } from "../format";
import { useExperimentFeed } from "../live/useExperimentFeed";
import { keyMetrics, metricValue } from "../metrics";

const PAGE_SIZE = 50;
const SORTABLE: Record<string, string> = { created_at: "Created", name: "Name", app: "App", status: "Status" };
const MAX_COMPARE = 8;

export function ExperimentsPage() {
  const [params, setParams] = useSearchParams();
  const navigate = useNavigate();
  const { project } = useAuth();
  const filters = {
    project,
    status: (params.get("status") || null) as ExperimentStatus | null,
    app: params.get("app") ?? "",
    tag: params.get("tag") ?? "",
    batch_id: params.get("batch") ?? "",
    source: (params.get("source") || null) as ExperimentQuery["source"],
    sort: (params.get("sort") ?? "-created_at") as NonNullable<ExperimentQuery["sort"]>,
    q: params.get("q") ?? "",
    filter: splitList(params.get("filter")),
  };
  const columns = splitList(params.get("columns"));
  const search = filters.q;
  const apps = useResource("apps", api.listApps);
  const list = useResource(`experiments?${JSON.stringify(filters)}`, () =>
    api.listExperiments({ ...filters, limit: PAGE_SIZE }),
  );
  const [selected, setSelected] = useState<string[]>([]);
  const now = useNow(list.data?.items.some((e) => e.status === "running") ?? false);

  const setParam = (key: string, value: string) => {
    const next = new URLSearchParams(params);
    if (value) next.set(key, value);
    else next.delete(key);
    setParams(next, { replace: true });
  };

  const { setData, reload } = list;
  const patch = useCallback(
    (id: string, update: (e: Experiment) => Experiment) =>
      setData((current) =>
        current && { ...current, items: current.items.map((e) => (e.id === id ? update(e) : e)) },
      ),
    [setData],
  );
  const known = useMemo(() => new Set(list.data?.items.map((e) => e.id)), [list.data]);
  const onEvent = (event: ProgressEvent) => {
    const id = event.experiment_id;
    if (!known.has(id)) {
      if (event.type === "status" && event.status === "queued") reload();
      return;
    }
    if (event.type === "epoch_end") {
      patch(id, (e) => ({ ...e, progress: { epoch: event.epoch, total_epochs: event.total_epochs } }));
    } else if (event.type === "status") {
      // The event's time stands in for started_at and finished_at until the list is loaded again; the final
      // event carries the run's record, so the row needs no request when the run ends.
      const at = new Date(event.ts * 1000).toISOString();
      patch(id, (e) => ({
        ...e,
        status: event.status,
        error: event.error,
        started_at: e.started_at ?? (event.status === "running" ? at : null),
        ...(event.final && {
          finished_at: at,
          result: event.result,
          metrics: event.result?.metrics ?? e.metrics,
          artifacts: event.result?.artifacts ?? e.artifacts,
        }),
      }));
    }
  };
  const activeIds = (list.data?.items ?? []).filter((e) => !isFinished(e.status)).map((e) => e.id);
  useExperimentFeed(activeIds, { onEvent, onResync: reload });

  const loadMore = () => {
    api.listExperiments({ ...filters, limit: PAGE_SIZE, cursor: list.data?.next_cursor }).then(
      (page) => setData((current) => current && { ...page, items: [...current.items, ...page.items] }),
      () => reload(),
    );
  };

  const items = list.data?.items ?? [];
  const [bulkMessage, setBulkMessage] = useState<string>();
  const bulk = (action: "cancel" | "delete", selection: { ids: string[] } | { batch_id: string }) => {
    const what = "ids" in selection ? `${selection.ids.length} selected experiments` : "every experiment of this batch";
    const warning = action === "delete" ? " Running ones are cancelled first; artifacts and logs go too." : "";
    if (!window.confirm(`${action === "delete" ? "Delete" : "Cancel"} ${what}?${warning}`)) return;
    api.bulk({ action, ...selection }).then(
      (result) => {
        setSelected([]);
        const skipped = result.skipped.map((s) => s.reason).join("; ");
        setBulkMessage(`${action === "delete" ? "Deleted" : "Cancelled"} ${result.done.length}.${skipped ? ` Skipped: ${skipped}` : ""}`);
        reload();
      },
      (error: Error) => setBulkMessage(error.message),
    );
  };
  const exportCsv = () =>
    api.exportCsv(filters).then(
      (blob) => saveBlob(blob, "experiments.csv"),
      (error: Error) => setBulkMessage(error.message),
    );
  const metricNames = [...new Set(items.flatMap((e) => [...Object.keys(e.metrics), ...Object.keys(e.history)]))]
    .filter((name) => !columns.includes(name))
    .sort();
  const setColumns = (names: string[]) => setParam("columns", names.join(","));
  const toggle = (id: string) =>
    setSelected((current) => (current.includes(id) ? current.filter((x) => x !== id) : [...current, id]));

  return (
    <section>
      <div className="page-head">
        <h1>Experiments</h1>
        <div className="actions">
          <button
            type="button"
            disabled={selected.length < 2 || selected.length > MAX_COMPARE}
            title="Select 2 to 8 experiments"
            onClick={() => navigate(`/compare?ids=${selected.join(",")}`)}
          >
            Compare{selected.length ? ` (${selected.length})` : ""}
          </button>
          <Link to="/new" className="button primary">
            New experiment
          </Link>
        </div>
      </div>
      <div className="bulk-actions">
        <button type="button" disabled={selected.length === 0} onClick={() => bulk("cancel", { ids: selected })}>
          Cancel selected
        </button>
        <button type="button" className="danger" disabled={selected.length === 0} onClick={() => bulk("delete", { ids: selected })}>
          Delete selected
        </button>
        {filters.batch_id && (
          <>
            <Link to={`/compare?batch=${encodeURIComponent(filters.batch_id)}`} className="button">
              Compare the whole batch
            </Link>
            <button type="button" onClick={() => bulk("cancel", { batch_id: filters.batch_id })}>
              Cancel the batch
            </button>
          </>
        )}
        <button type="button" onClick={exportCsv}>
          Export CSV
        </button>
        {bulkMessage && <span className="muted small">{bulkMessage}</span>}
      </div>
      <div className="filters">
        <input type="search" placeholder="Search name, id, tags, notes, app, status" aria-label="Search" value={search} onChange={(e) => setParam("q", e.target.value)} />
        <select aria-label="Status" value={filters.status ?? ""} onChange={(e) => setParam("status", e.target.value)}>
          <option value="">all statuses</option>
          {EXPERIMENT_STATUSES.map((s) => (
            <option key={s}>{s}</option>
          ))}
        </select>
        <select aria-label="App" value={filters.app} onChange={(e) => setParam("app", e.target.value)}>
          <option value="">all apps</option>
          {apps.data?.map((app) => (
            <option key={app.name}>{app.name}</option>
          ))}
        </select>
        <select aria-label="Source" value={filters.source ?? ""} onChange={(e) => setParam("source", e.target.value)}>
          <option value="">all sources</option>
          <option value="worker">run by workers</option>
          <option value="external">tracked from outside</option>
        </select>
        <input type="text" placeholder="Tag" aria-label="Tag" value={filters.tag} onChange={(e) => setParam("tag", e.target.value)} />
        <ConditionsInput key={filters.filter.join(",")} conditions={filters.filter} onApply={(text) => setParam("filter", text)} />
        {metricNames.length > 0 && (
          <select aria-label="Add a metric column" value="" onChange={(e) => setColumns([...columns, e.target.value])}>
            <option value="">+ metric column</option>
            {metricNames.map((name) => (
              <option key={name}>{name}</option>
            ))}
          </select>
        )}
        {filters.batch_id && (
          <button type="button" className="chip" onClick={() => setParam("batch", "")} title="Show all batches">
            batch {filters.batch_id.slice(0, 8)} ✕
          </button>
        )}
      </div>
      {list.error && <p className="error">Could not load the experiments: {list.error.message}</p>}
      <table className="experiments">
        <thead>
          <tr>
            <th>
              <input
                type="checkbox"
                aria-label="Select all shown"
                checked={items.length > 0 && items.every((e) => selected.includes(e.id))}
                onChange={(event) => setSelected(event.target.checked ? items.map((e) => e.id) : [])}
              />
            </th>
            <SortHeader column="status" sort={filters.sort} onSort={(s) => setParam("sort", s)} />
            <SortHeader column="app" sort={filters.sort} onSort={(s) => setParam("sort", s)} />
            <SortHeader column="name" sort={filters.sort} onSort={(s) => setParam("sort", s)} />
            <th>Tags</th>
            <SortHeader column="created_at" sort={filters.sort} onSort={(s) => setParam("sort", s)} />
            <th>Duration</th>
            <th title="Mean wall time of an epoch">s/epoch</th>
            <th title="Peak resident memory of the training process">Peak RSS</th>
            {columns.map((name) => (
              <SortHeader
                key={name}
                column={`metric.${name}`}
                label={name}
                sort={filters.sort}
                onSort={(sort) => setParam("sort", sort)}
                onRemove={() => setColumns(columns.filter((c) => c !== name))}
              />
            ))}
            <th>Key metrics</th>
          </tr>
        </thead>
        <tbody>
          {items.map((e) => (
            <tr key={e.id} data-experiment={e.id} data-status={e.status}>
              <td>
                <input type="checkbox" aria-label={`Select ${experimentTitle(e)}`} checked={selected.includes(e.id)} onChange={() => toggle(e.id)} />
              </td>
              <td>
                <StatusBadge status={e.status} />
                {e.status === "running" && e.progress && (
                  <span className="muted small"> {e.progress.epoch}/{e.progress.total_epochs}</span>
                )}
              </td>
              <td>
                {e.app}
                <ExternalBadge source={e.source} />
              </td>
              <td>
                <Link to={`/experiments/${e.id}`}>{experimentTitle(e)}</Link>
              </td>
              <td>
                {e.tags.map((tag) => (
                  <button key={tag} type="button" className="chip" onClick={() => setParam("tag", tag)}>
                    {tag}
                  </button>
                ))}
              </td>
              <td className="nowrap">{formatDate(e.created_at)}</td>
              <td className="nowrap">{formatDuration(experimentDuration(e, now))}</td>
              <td className="nowrap">{e.system?.mean_epoch_s != null ? e.system.mean_epoch_s.toFixed(2) : "–"}</td>
              <td className="nowrap">{e.system?.peak_rss_bytes ? `${Math.round(e.system.peak_rss_bytes / 1048576)} MB` : "–"}</td>
              {columns.map((name) => (
                <td key={name} className="nowrap" data-column={name}>
                  {formatNumber(metricValue(e, name))}
                </td>
              ))}
              <td className="metrics-cell">
                {keyMetrics(e).map(([name, value]) => (
                  <span key={name} className="metric">
                    {name} <b>{formatNumber(value)}</b>
                  </span>
                ))}
                {e.result && <VerdictMarks result={e.result} />}
                {e.result && <OfflineBadge provenance={e.result.provenance} />}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {list.data && items.length === 0 && (
        <p className="empty">
          No experiments {search || filters.status || filters.app || filters.tag || filters.source ? "match these filters" : "yet"}.{" "}
          <Link to="/new">Start one</Link>.
        </p>
      )}
      {list.data?.next_cursor && (
        <button type="button" className="load-more" onClick={loadMore}>
          Load more ({list.data.items.length} of {list.data.total})
        </button>
      )}
    </section>
  );
}

interface SortHeaderProps {
  column: string;
  label?: string;
  sort: string;
  onSort: (sort: string) => void;
  onRemove?: () => void;
}

function SortHeader({ column, label = SORTABLE[column], sort, onSort, onRemove }: SortHeaderProps) {
  const active = sort.replace(/^-/, "") === column;
  const descending = sort.startsWith("-");
  const next = active && !descending ? `-${column}` : column;
  return (
    <th aria-sort={active ? (descending ? "descending" : "ascending") : "none"}>
      <button type="button" className="sort" onClick={() => onSort(next)}>
        {label} {active ? (descending ? "▼" : "▲") : ""}
      </button>
      {onRemove && (
        <button type="button" className="chip" aria-label={`Remove the ${label} column`} onClick={onRemove}>
          ✕
        </button>
      )}
    </th>
  );
}

/** Conditions on metrics and config fields, applied when the user presses Enter (a half-typed one is no query). */
function ConditionsInput({ conditions, onApply }: { conditions: string[]; onApply: (text: string) => void }) {
  const [text, setText] = useState(conditions.join(", "));
  return (
    <form
      className="conditions"
      onSubmit={(event) => {
        event.preventDefault();
        onApply(splitList(text).join(","));
      }}
    >
      <input
        type="text"
        aria-label="Conditions"
        title="metric.<name> (a test metric, or a per-epoch one at its last epoch) or config.<field>, an operator (< <= > >= = !=) and a value; several separated by commas; Enter applies"
        placeholder="metric.val_loss<0.1, config.learning_rate>=0.001"
        value={text}
        onChange={(event) => setText(event.target.value)}
      />
    </form>
  );
}

function splitList(text: string | null): string[] {
  return (text ?? "").split(",").map((part) => part.trim()).filter(Boolean);
}

/** The current time, ticking every second while something runs (for running durations). */
function useNow(ticking: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!ticking) return;
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [ticking]);
  return now;
}
