// Compare 2 to 8 experiments, or every run of a grid batch: any per-epoch metric overlaid, the config values
// that differ, a parallel-coordinates summary of those fields against a chosen metric, and the metrics side by
// side with the strongest naive baseline and the best per row marked by the direction the API declares.
import { useState } from "react";
import { Link, useSearchParams } from "react-router";
import { api } from "../api/client";
import type { Experiment } from "../api/types";
import { useResource } from "../api/useResource";
import { LineChart } from "../components/LineChart";
import { ParallelCoordinates } from "../components/ParallelCoordinates";
import { StatusBadge } from "../components/StatusBadge";
import { differingConfig, metricRows, type Baseline, type MetricRow } from "../compare";
import { experimentTitle, formatNumber, formatValue } from "../format";

const MIN = 2;
const MAX = 8;
/** A grid has at most 100 runs (the API's limit), so one page holds any batch. */
const BATCH_LIMIT = 100;

export function ComparePage() {
  const [params] = useSearchParams();
  const batch = params.get("batch");
  const ids = [...new Set((params.get("ids") ?? "").split(",").filter(Boolean))];
  const valid = batch !== null || (ids.length >= MIN && ids.length <= MAX);
  const experiments = useResource(`compare:${batch ?? ids.join(",")}`, () => {
    if (batch !== null) {
      return api.listExperiments({ batch_id: batch, sort: "created_at", limit: BATCH_LIMIT }).then((page) => page.items);
    }
    return valid ? Promise.all(ids.map((id) => api.getExperiment(id))) : Promise.resolve([]);
  });
  if (!valid) {
    return (
      <section>
        <h1>Compare</h1>
        <p className="error">
          Select {MIN} to {MAX} experiments to compare (now {ids.length}) in the <Link to="/">experiments list</Link>,
          or compare a whole grid batch from the list filtered by it.
        </p>
      </section>
    );
  }
  const count = experiments.data?.length ?? ids.length;
  return (
    <section>
      <h1>{batch !== null ? `Batch ${batch.slice(0, 8)}: ${count} experiments` : `Compare ${count} experiments`}</h1>
      {experiments.error && <p className="error">Could not load them: {experiments.error.message}</p>}
      {experiments.data?.length ? (
        <Comparison experiments={experiments.data} batch={batch !== null} />
      ) : (
        !experiments.error && <p className="muted">{experiments.data ? "This batch has no experiments." : "Loading…"}</p>
      )}
    </section>
  );
}

function Comparison({ experiments, batch }: { experiments: Experiment[]; batch: boolean }) {
  const differences = differingConfig(experiments);
  const metrics = metricRows(experiments);
  const epochs = Math.max(0, ...experiments.flatMap((e) => Object.values(e.history).map((values) => values.length)));
  const names = [...new Set(experiments.flatMap((e) => Object.keys(e.history)))]
    .map((name) => name.replace(/^val_/, ""))
    .filter((name, index, all) => all.indexOf(name) === index)
    .sort((a, b) => Number(b === "loss") - Number(a === "loss") || a.localeCompare(b));
  const [overlaid, setOverlaid] = useState(names[0] ?? "loss");
  const curves = [overlaid, `val_${overlaid}`].filter((name) => experiments.some((e) => e.history[name]?.length));
  const apps = [...new Set(experiments.map((e) => e.app))];
  const header = (
    <thead>
      <tr>
        <th />
        {experiments.map((e) => (
          <th key={e.id}>
            <Link to={`/experiments/${e.id}`}>{experimentTitle(e)}</Link>{" "}
            <StatusBadge status={e.status} />
          </th>
        ))}
      </tr>
    </thead>
  );
  return (
    <>
      {names.length > 1 && (
        <label className="inline-field">
          Overlay{" "}
          <select aria-label="Metric to overlay" value={overlaid} onChange={(e) => setOverlaid(e.target.value)}>
            {names.map((name) => (
              <option key={name}>{name}</option>
            ))}
          </select>
        </label>
      )}
      <div className="chart-grid">
        {curves.map((name) => (
          <LineChart
            key={name}
            title={name}
            labels={Array.from({ length: epochs }, (_, i) => i + 1)}
            lines={experiments.map((e) => ({ label: experimentTitle(e), values: e.history[name] ?? [] }))}
            xTitle="epoch"
            points={epochs <= 60}
          />
        ))}
      </div>
      {apps.length === 1 && <Summary experiments={experiments} fields={differences.map((d) => d.key)} metrics={metrics} batch={batch} />}
      <h2>Config values that differ</h2>
      {apps.length > 1 ? (
        <p className="warning" role="alert">
          These runs are of different apps ({apps.join(", ")}): their configs are not comparable field by field,
          and their metrics measure different tasks.
        </p>
      ) : differences.length ? (
        <div className="table-scroll">
        <table className="compare">
          {header}
          <tbody>
            {differences.map(({ key, values }) => (
              <tr key={key}>
                <th scope="row">{key}</th>
                {values.map((value, index) => (
                  <td key={index}>{formatValue(value)}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
        </div>
      ) : (
        <p className="muted">All configs are the same.</p>
      )}
      <h2>Metrics</h2>
      {metrics.length ? (
        <div className="table-scroll">
        <table className="compare metrics-compare">
          <thead>
            <tr>
              <th />
              <th title="The strongest naive baseline (a forecast or guess without a model) on the same test data">
                Baseline
              </th>
              {experiments.map((e) => (
                <th key={e.id}>
                  <Link to={`/experiments/${e.id}`}>{experimentTitle(e)}</Link> <StatusBadge status={e.status} />
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {metrics.map((row) => (
              <tr key={row.name} data-metric={row.name}>
                <th scope="row" title={row.direction ? `${row.direction} is better` : "no known direction"}>
                  {row.name}
                  {row.kind === "epoch" && <span className="muted small"> (last epoch)</span>}
                  {row.unit && ` (${row.unit})`} {row.direction === "lower" ? "↓" : row.direction === "higher" ? "↑" : ""}
                </th>
                <BaselineCell baseline={row.baseline} />
                {row.values.map((value, index) => {
                  const best = row.best.includes(index);
                  return (
                    <td key={index} className={best ? "best" : undefined}>
                      {formatNumber(value)}
                      {best && <span title="best"> ★</span>}
                    </td>
                  );
                })}
              </tr>
            ))}
          </tbody>
        </table>
        </div>
      ) : (
        <p className="muted">No metrics yet.</p>
      )}
    </>
  );
}

function BaselineCell({ baseline }: { baseline: Baseline | null }) {
  if (baseline === null) return <td className="baseline muted">—</td>;
  const same = baseline.low === baseline.high;
  const title = `${baseline.names.join(", ") || "strongest baseline"}${same ? "" : " (the runs' data differ, so do their baselines)"}`;
  return (
    <td className="baseline" title={title}>
      {same ? formatNumber(baseline.low) : `${formatNumber(baseline.low)} – ${formatNumber(baseline.high)}`}
      {baseline.names.length > 0 && <span className="muted small"> {baseline.names.join(", ")}</span>}
    </td>
  );
}

/** Parallel coordinates of the config fields that differ against one metric the runs declare a direction for. */
function Summary({ experiments, fields, metrics, batch }: { experiments: Experiment[]; fields: string[]; metrics: MetricRow[]; batch: boolean }) {
  const ranked = metrics.filter((row) => row.direction !== null);
  const [chosen, setChosen] = useState(ranked.find((row) => row.name === "val_loss")?.name ?? ranked[0]?.name);
  const row = ranked.find((candidate) => candidate.name === chosen);
  if (!fields.length || !row?.direction) return null;
  const title = batch ? "Grid summary" : "Config against metric";
  return (
    <>
      <h2>{title}</h2>
      <label className="inline-field">
        Metric{" "}
        <select aria-label="Metric of the summary" value={row.name} onChange={(e) => setChosen(e.target.value)}>
          {ranked.map((option) => (
            <option key={option.name} value={option.name}>
              {option.name}
              {option.kind === "epoch" ? " (last epoch)" : ""}
            </option>
          ))}
        </select>
      </label>
      <ParallelCoordinates
        title={title}
        fields={fields}
        metric={row.name}
        direction={row.direction}
        rows={experiments.map((e, index) => ({
          id: e.id,
          label: experimentTitle(e),
          values: e.config,
          score: row.values[index] ?? null,
        }))}
      />
    </>
  );
}
