// How numbers, times and durations read on screen.
import type { Experiment } from "./api/types";

export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
  const total = Math.max(0, Math.round(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s}s`;
  return `${s}s`;
}

/** Seconds from start to finish, or to `now` (milliseconds) while it runs. */
export function experimentDuration(experiment: Experiment, now?: number): number | null {
  const end = experiment.finished_at ? Date.parse(experiment.finished_at) : now;
  if (!experiment.started_at || end === undefined) return null;
  return (end - Date.parse(experiment.started_at)) / 1000;
}

export function formatDate(iso: string | null): string {
  if (!iso) return "—";
  return new Date(iso).toLocaleString(undefined, { dateStyle: "short", timeStyle: "short" });
}

export function formatNumber(value: number | null | undefined): string {
  if (value === null || value === undefined) return "—";
  if (!Number.isFinite(value)) return String(value);
  const magnitude = Math.abs(value);
  if (magnitude !== 0 && (magnitude < 1e-3 || magnitude >= 1e6)) return value.toExponential(3);
  return Number(value.toPrecision(4)).toString();
}

/** A config value exactly as stored (a longitude of -122.33 stays -122.33): configs are read, not skimmed. */
export function formatValue(value: unknown): string {
  if (value === undefined) return "—";
  return typeof value === "string" ? value : JSON.stringify(value);
}

export function experimentTitle(experiment: Experiment): string {
  return experiment.name || `${experiment.app} ${experiment.id.slice(0, 8)}`;
}
