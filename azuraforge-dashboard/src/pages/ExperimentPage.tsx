// One experiment: live charts and progress while it runs, its history, metrics, config and error after.
import { useState } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { api, newIdempotencyKey } from "../api/client";
import { isFinished, type Experiment } from "../api/types";
import { useResource } from "../api/useResource";
import { LineChart } from "../components/LineChart";
import { LoggedModels } from "../components/LoggedModels";
import { LogsPanel } from "../components/LogsPanel";
import { Notes } from "../components/Notes";
import { RegisterModel } from "../components/RegisterModel";
import { DataProvenancePanel, Verdict } from "../components/RunRecord";
import { SeriesCharts } from "../components/SeriesCharts";
import { ExternalBadge, StatusBadge } from "../components/StatusBadge";
import { SystemCharts } from "../components/SystemCharts";
import { experimentDuration, experimentTitle, formatDate, formatDuration, formatNumber, formatValue } from "../format";
import { progressOf, seriesFromHistory } from "../live/series";
import { useExperimentEvents } from "../live/useExperimentEvents";

export function ExperimentPage() {
  const { id = "" } = useParams();
  const experiment = useResource(`experiment:${id}`, () => api.getExperiment(id));
  if (experiment.error) return <p className="error">Could not load experiment {id}: {experiment.error.message}</p>;
  if (!experiment.data) return <p className="muted">Loading…</p>;
  return <ExperimentView key={id} experiment={experiment.data} />;
}

function ExperimentView({ experiment }: { experiment: Experiment }) {
  const finished = isFinished(experiment.status);
  // A finished run's record has its history; one that ended without it (failed, say) replays its events.
  const stored = Object.keys(experiment.history).length > 0;
  const { live, connection } = useExperimentEvents(experiment.id, !finished || !stored);
  const [cancelError, setCancelError] = useState<string>();
  const [cancelling, setCancelling] = useState(false);
  const [notes, setNotes] = useState(experiment.notes);
  // A failed run opens on its log, which ends with the error and its traceback.
  const [tab, setTab] = useState<"charts" | "logs" | "system">(experiment.status === "failed" ? "logs" : "charts");
  const navigate = useNavigate();

  // A run that ends while watched is shown from its final event, which carries the record: no polling.
  const result = experiment.result ?? live.result;
  const status = finished ? experiment.status : (live.status ?? experiment.status);
  const history = finished && stored ? experiment.history : live.final ? result?.history : undefined;
  const series = history ? seriesFromHistory(history) : live.series;
  const artifacts = finished ? experiment.artifacts : (result?.artifacts ?? experiment.artifacts);
  const ranFor = experiment.finished_at
    ? experimentDuration(experiment)
    : result && (Date.parse(result.timings.finished_at) - Date.parse(result.timings.started_at)) / 1000;
  const progress = finished ? null : progressOf(live);
  const system = experiment.system ?? live.system;
  const remove = () => {
    const running = isFinished(status) ? "" : " It is still running: it will be cancelled first.";
    if (!window.confirm(`Delete ${experimentTitle(experiment)}, its artifacts and its log?${running}`)) return;
    api.deleteExperiment(experiment.id).then(
      () => navigate("/"),
      (error: Error) => setCancelError(error.message),
    );
  };
  const runAgain = () => {
    api
      .cloneExperiment(experiment.id)
      .then((request) => api.createExperiment(request, newIdempotencyKey()))
      .then(
        (created) => navigate(`/experiments/${"id" in created ? created.id : created.experiments[0]?.id}`),
        (error: Error) => setCancelError(error.message),
      );
  };
  const cancel = () => {
    if (!window.confirm(`Cancel ${experimentTitle(experiment)}? It stops after its current batch.`)) return;
    setCancelling(true);
    api.cancelExperiment(experiment.id).then(
      () => undefined,
      (error: Error) => {
        setCancelling(false);
        setCancelError(error.message);
      },
    );
  };

  return (
    <section>
      <div className="page-head">
        <div>
          <h1>{experimentTitle(experiment)}</h1>
          <p className="muted">
            <StatusBadge status={status} /> {experiment.app}
            <ExternalBadge source={experiment.source} /> · {experiment.id} · created {formatDate(experiment.created_at)}
            {experiment.tags.map((tag) => (
              <span key={tag} className="chip">
                {tag}
              </span>
            ))}
          </p>
        </div>
        <div className="actions">
          {!isFinished(status) && (
            <button type="button" className="danger" onClick={cancel} disabled={cancelling}>
              {cancelling ? "Cancelling…" : "Cancel"}
            </button>
          )}
          {artifacts.includes("report.md") && (
            <Link to={`/experiments/${experiment.id}/report`} className="button primary">
              Report
            </Link>
          )}
          <button type="button" onClick={runAgain} title="Same config, same seed">
            Run again
          </button>
          <Link
            to={`/new?app=${encodeURIComponent(experiment.app)}&from=${encodeURIComponent(experiment.id)}`}
            className="button"
            title="The form, filled in with this run's config, to change before starting"
          >
            New from this
          </Link>
          <button type="button" className="danger" onClick={remove}>
            Delete
          </button>
        </div>
      </div>
      {status === "succeeded" && artifacts.includes("model.npz") && (
        <RegisterModel experimentId={experiment.id} app={experiment.app} projectId={experiment.project_id} />
      )}
      {cancelError && <p className="error">Could not cancel: {cancelError}</p>}

      {!isFinished(status) && (
        <div className="progress-panel" data-connection={connection}>
          {progress ? (
            <>
              <div className="progress-text">
                <span>
                  Epoch {progress.epoch} of {progress.totalEpochs}
                </span>
                <span className="muted">
                  {live.etaS !== null && `ETA ${formatDuration(live.etaS)} · `}
                  elapsed {formatDuration(live.elapsedS)}
                </span>
              </div>
              <progress max={1} value={progress.fraction} aria-label="Training progress" />
            </>
          ) : (
            <p className="muted">{status === "queued" ? "Waiting for a worker…" : "Starting…"}</p>
          )}
          {connection === "reconnecting" && <p className="muted small">Connection lost, reconnecting…</p>}
        </div>
      )}

      {status === "failed" && (
        <div className="failure">
          <h2>Failed</h2>
          <p className="error">{experiment.error ?? live.error ?? "The experiment failed."}</p>
          {experiment.traceback && (
            <details open>
              <summary>Traceback</summary>
              <pre>{experiment.traceback}</pre>
            </details>
          )}
        </div>
      )}

      <div className="tabs" role="tablist">
        {(["charts", "logs", "system"] as const).map((name) => (
          <button key={name} type="button" role="tab" aria-selected={tab === name} onClick={() => setTab(name)}>
            {{ charts: "Charts", logs: "Logs", system: "System" }[name]}
          </button>
        ))}
      </div>

      {tab === "logs" && <LogsPanel experimentId={experiment.id} finished={finished} live={live.log} />}
      {tab === "system" && <SystemCharts epochs={system.epochs} samples={system.samples} />}
      {tab === "charts" &&
        (series.epochs.length > 0 ? (
          <SeriesCharts series={series} />
        ) : (
          <p className="muted">{finished ? "No epoch was recorded." : "No epoch has finished yet."}</p>
        ))}

      {tab === "charts" && live.predictions && !isFinished(status) && (
        <LineChart
          title={`Validation predictions (epoch ${live.predictions.epoch})`}
          labels={live.predictions.actual.map((_, i) => i + 1)}
          lines={[
            { label: "actual", values: live.predictions.actual },
            { label: "predicted", values: live.predictions.predicted, dashed: true },
          ]}
          xTitle="sample"
          points={false}
        />
      )}

      <div className="columns">
        {result && (
          <div>
            <h2>Verdict</h2>
            <Verdict result={result} />
          </div>
        )}
        {!result && Object.keys(experiment.metrics).length > 0 && (
          <div>
            <h2>Metrics</h2>
            <table className="kv">
              <thead>
                <tr>
                  <th>metric</th>
                  <th>model</th>
                  <th>baseline</th>
                </tr>
              </thead>
              <tbody>
                {Object.entries(experiment.metrics).map(([name, value]) => (
                  <tr key={name}>
                    <td>{name}</td>
                    <td>{formatNumber(value)}</td>
                    <td>{formatNumber(experiment.baseline_metrics[name])}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        <div>
          <h2>Config</h2>
          <table className="kv">
            <tbody>
              {Object.entries(experiment.config).map(([key, value]) => (
                <tr key={key}>
                  <td>{key}</td>
                  <td>{formatValue(value)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {result && <DataProvenancePanel provenance={result.provenance} />}
          {ranFor !== null && <p className="muted small">Ran for {formatDuration(ranFor)}.</p>}
        </div>
      </div>
      <LoggedModels artifacts={artifacts} />
      <Notes experimentId={experiment.id} notes={notes} onSaved={setNotes} />
    </section>
  );
}
