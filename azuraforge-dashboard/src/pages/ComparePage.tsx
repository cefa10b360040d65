// Compare 2 to 8 experiments: any per-epoch metric overlaid, the config values that differ, metrics side by
// side with the best per row marked by the direction the API declares.
import { useState } from "react";
import { Link, useSearchParams } from "react-router";
import { api } from "../api/client";
import type { Experiment } from "../api/types";
import { useResource } from "../api/useResource";
import { LineChart } from "../components/LineChart";
import { StatusBadge } from "../components/StatusBadge";
import { differingConfig, metricRows } from "../compare";
import { experimentTitle, formatNumber, formatValue } from "../format";

const MIN = 2;
const MAX = 8;

export function ComparePage() {
  const [params] = useSearchParams();
  const ids = [...new Set((params.get("ids") ?? "").split(",").filter(Boolean))];
  const valid = ids.length >= MIN && ids.length <= MAX;
  const experiments = useResource(`compare:${ids.join(",")}`, () =>
    valid ? Promise.all(ids.map((id) => api.getExperiment(id))) : Promise.resolve([]),
  );
  if (!valid) {
    return (
      <section>
        <h1>Compare</h1>
        <p className="error">
          Select {MIN} to {MAX} experiments to compare (now {ids.length}) in the <Link to="/">experiments list</Link>.
        </p>
      </section>
    );
  }
  return (
    <section>
      <h1>Compare {ids.length} experiments</h1>
      {experiments.error && <p className="error">Could not load them: {experiments.error.message}</p>}
      {experiments.data?.length ? <Comparison experiments={experiments.data} /> : !experiments.error && <p className="muted">Loading…</p>}
    </section>
  );
}

function Comparison({ experiments }: { experiments: Experiment[] }) {
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
      <h2>Config values that differ</h2>
      {apps.length > 1 ? (
        <p className="warning" role="alert">
          These runs are of different apps ({apps.join(", ")}): their configs are not comparable field by field,
          and their metrics measure different tasks.
        </p>
      ) : differences.length ? (
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
      ) : (
        <p className="muted">All configs are the same.</p>
      )}
      <h2>Metrics</h2>
      {metrics.length ? (
        <table className="compare">
          {header}
          <tbody>
            {metrics.map((row) => (
              <tr key={row.name}>
                <th scope="row" title={row.direction ? `${row.direction} is better` : "no known direction"}>
                  {row.name}
                  {row.unit && ` (${row.unit})`} {row.direction === "lower" ? "↓" : row.direction === "higher" ? "↑" : ""}
                </th>
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
      ) : (
        <p className="muted">No metrics yet.</p>
      )}
    </>
  );
}
