// A sweep as it runs: its state and controls, a leaderboard that fills as trials report, the best objective so
// far against the trial number, the sampled values against the objective, and the best trial's run and model
// one click away.
import { useEffect } from "react";
import { Link, useParams } from "react-router";
import { api } from "../api/client";
import type { Sweep, Trial } from "../api/types";
import { useResource } from "../api/useResource";
import { LineChart } from "../components/LineChart";
import { ParallelCoordinates } from "../components/ParallelCoordinates";
import { RegisterModel } from "../components/RegisterModel";
import { formatNumber } from "../format";

const POLL_MS = 1000;
// The experiment status colours, reused: a pruned trial stopped early like a cancelled run.
const TRIAL_STYLE: Record<Trial["state"], string> = {
  queued: "queued",
  running: "running",
  complete: "succeeded",
  pruned: "cancelled",
  failed: "failed",
};
const SWEEP_STYLE: Record<Sweep["state"], string> = {
  running: "running",
  paused: "queued",
  stopped: "cancelled",
  finished: "succeeded",
};

export function SweepPage() {
  const { id = "" } = useParams();
  const sweep = useResource(`sweep-${id}`, () => api.getSweep(id));
  const live = sweep.data !== undefined && sweep.data.finished_at === null;
  const { reload, setData } = sweep;
  useEffect(() => {
    if (!live) return;
    const timer = window.setInterval(reload, POLL_MS);
    return () => window.clearInterval(timer);
  }, [live, reload]);

  if (sweep.error) return <p className="error">Could not load sweep {id}: {sweep.error.message}</p>;
  if (!sweep.data) return <p className="muted">Loading…</p>;
  const data = sweep.data;
  const control = async (action: "pause" | "resume" | "stop") => {
    const updated = await api.controlSweep(id, action);
    setData(() => updated);
  };
  const done = data.trials.filter((t) => t.state === "complete" || t.state === "pruned" || t.state === "failed");
  return (
    <section>
      <div className="page-head">
        <h1>{data.name || `Sweep ${data.id.slice(0, 8)}`}</h1>
        <div className="actions">
          {data.state === "running" && (
            <button type="button" onClick={() => void control("pause")}>
              Pause
            </button>
          )}
          {data.state === "paused" && (
            <button type="button" onClick={() => void control("resume")}>
              Resume
            </button>
          )}
          {(data.state === "running" || data.state === "paused") && (
            <button type="button" onClick={() => void control("stop")}>
              Stop
            </button>
          )}
          {data.best && (
            <Link className="button primary" to={`/experiments/${data.best.experiment_id}`}>
              Open best trial (#{data.best.number})
            </Link>
          )}
        </div>
      </div>
      <p>
        <span className={`status status-${SWEEP_STYLE[data.state]}`} data-testid="sweep-state">
          {data.state}
        </span>{" "}
        {data.app} · {data.sampler} sampler · {data.pruner} pruner · {data.objective.direction}{" "}
        {data.objective.metric} · <span data-testid="sweep-progress">{done.length}</span> of {data.n_trials} trials
        done, {data.parallelism} at once
      </p>
      {data.best && (
        <>
          <p>
            Best so far: trial #{data.best.number}, {data.objective.metric} = {formatNumber(data.best.value ?? null)}
          </p>
          {data.best.experiment_status === "succeeded" && (
            <RegisterModel
              key={data.best.experiment_id}
              experimentId={data.best.experiment_id}
              app={data.app}
              projectId={data.project_id}
              label={`Register the model of trial #${data.best.number}`}
            />
          )}
        </>
      )}
      <BestSoFar sweep={data} />
      <Importances importances={data.importances} />
      <SampledValues sweep={data} />
      <Leaderboard sweep={data} />
    </section>
  );
}

function BestSoFar({ sweep }: { sweep: Sweep }) {
  const better = (a: number, b: number) => (sweep.objective.direction === "minimize" ? a < b : a > b);
  let best: number | null = null;
  const labels: number[] = [];
  const bests: (number | null)[] = [];
  const values: (number | null)[] = [];
  for (const trial of sweep.trials) {
    const value = trial.state === "complete" ? (trial.value ?? null) : null;
    if (value !== null && (best === null || better(value, best))) best = value;
    labels.push(trial.number);
    bests.push(best);
    values.push(value);
  }
  if (best === null) return null;
  return (
    <div className="chart-grid">
      <LineChart
        title={`Best ${sweep.objective.metric} so far`}
        labels={labels}
        xTitle="trial"
        lines={[
          { label: "best so far", values: bests },
          { label: "trial", values: values, dashed: true },
        ]}
      />
    </div>
  );
}

/** Parallel coordinates of the searched fields against the objective: complete trials by their value, the
 * others (running, pruned) by their latest reported one. */
function SampledValues({ sweep }: { sweep: Sweep }) {
  const rows = sweep.trials
    .filter((trial) => trial.state !== "queued")
    .map((trial) => ({
      id: String(trial.number),
      label: `trial #${trial.number} (${trial.state})`,
      values: trial.params,
      score: trial.value ?? trial.latest ?? null,
    }));
  if (!rows.length) return null;
  return (
    <ParallelCoordinates
      title="Sampled values against the objective"
      fields={Object.keys(sweep.space)}
      rows={rows}
      metric={sweep.objective.metric}
      direction={sweep.objective.direction === "minimize" ? "lower" : "higher"}
      scales={Object.fromEntries(
        Object.entries(sweep.space).map(([name, param]) => [name, "log" in param && param.log ? "log" : "linear"]),
      )}
    />
  );
}

function Importances({ importances }: { importances: Record<string, number> }) {
  const entries = Object.entries(importances);
  if (!entries.length) return null;
  return (
    <figure className="importances" aria-label="Parameter importances">
      <figcaption>Which fields matter (PED-ANOVA over the complete trials)</figcaption>
      {entries.map(([name, share]) => (
        <div key={name} className="importance" data-param={name}>
          <span>{name}</span>
          <meter min={0} max={1} value={share} />
          <span>{Math.round(share * 100)} %</span>
        </div>
      ))}
    </figure>
  );
}

function Leaderboard({ sweep }: { sweep: Sweep }) {
  const names = Object.keys(sweep.space);
  const sign = sweep.objective.direction === "minimize" ? 1 : -1;
  const score = (t: Trial) => t.value ?? t.latest;
  const ranked = [...sweep.trials].sort((a, b) => {
    const [x, y] = [score(a), score(b)];
    if (x === null || x === undefined) return y === null || y === undefined ? a.number - b.number : 1;
    if (y === null || y === undefined) return -1;
    return sign * (x - y) || a.number - b.number;
  });
  return (
    <table className="leaderboard" aria-label="Leaderboard">
      <thead>
        <tr>
          <th>Trial</th>
          <th>State</th>
          <th>{sweep.objective.metric}</th>
          <th>Epochs</th>
          {names.map((name) => (
            <th key={name}>{name}</th>
          ))}
          <th>Run</th>
        </tr>
      </thead>
      <tbody>
        {ranked.map((trial) => (
          <tr key={trial.number} data-trial={trial.number} data-state={trial.state}>
            <td>#{trial.number}</td>
            <td>
              <span className={`status status-${TRIAL_STYLE[trial.state]}`}>{trial.state}</span>
            </td>
            <td>{formatNumber(score(trial) ?? null)}</td>
            <td>{trial.epochs_reported}</td>
            {names.map((name) => (
              <td key={name}>{formatParam(trial.params[name])}</td>
            ))}
            <td>
              <Link to={`/experiments/${trial.experiment_id}`}>open</Link>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function formatParam(value: unknown): string {
  return typeof value === "number" ? formatNumber(value) : String(value);
}
