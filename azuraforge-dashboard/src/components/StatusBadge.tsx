import type { ExperimentStatus } from "../api/types";

export function StatusBadge({ status }: { status: ExperimentStatus }) {
  return <span className={`status status-${status}`}>{status}</span>;
}
