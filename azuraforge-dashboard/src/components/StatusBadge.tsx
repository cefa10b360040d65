import type { Experiment, ExperimentStatus } from "../api/types";

export function StatusBadge({ status }: { status: ExperimentStatus }) {
  return <span className={`status status-${status}`}>{status}</span>;
}

/** Marks a run tracked from outside (an MLflow client, the tracking client): no worker ran it. */
export function ExternalBadge({ source }: { source: Experiment["source"] }) {
  if (source !== "external") return null;
  return (
    <span className="badge-external" data-source="external" title="Tracked from outside: an MLflow client or azuraforge_learner.tracking, not a worker">
      external
    </span>
  );
}
