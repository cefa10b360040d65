// What the compare page shows: the config values that differ, and the metrics side by side.
import type { Direction, Experiment } from "./api/types";
import { bestIndices, metricSpecs } from "./metrics";

export interface ConfigDifference {
  key: string;
  /** One per experiment; undefined where that experiment's config lacks the key. */
  values: unknown[];
}

export function differingConfig(experiments: Experiment[]): ConfigDifference[] {
  const keys = [...new Set(experiments.flatMap((experiment) => Object.keys(experiment.config)))].sort();
  return keys
    .map((key) => ({ key, values: experiments.map((experiment) => experiment.config[key]) }))
    .filter(({ values }) => new Set(values.map(canonicalJson)).size > 1);
}

/** JSON with object keys sorted, so {a, b} and {b, a} compare equal. */
function canonicalJson(value: unknown): string {
  if (value === undefined) return "undefined";
  return JSON.stringify(value, (_key, inner: unknown) =>
    inner && typeof inner === "object" && !Array.isArray(inner)
      ? Object.fromEntries(Object.entries(inner).sort(([a], [b]) => a.localeCompare(b)))
      : inner,
  );
}

export interface MetricRow {
  name: string;
  /** "test": measured on the test split when the run ended; "epoch": reported per epoch, at the run's last epoch
   * (what `metric.<name>` filters and sorts by on the server when the run has no test metric of that name). */
  kind: "test" | "epoch";
  direction: Direction | null;
  unit: string;
  values: (number | null | undefined)[];
  best: number[];
  /** The strongest naive baseline's score on this metric, as each run's record has it; null without one. */
  baseline: Baseline | null;
}

export interface Baseline {
  /** The lowest and highest baseline score among the runs: equal when they were scored on the same data. */
  low: number;
  high: number;
  /** The baselines that were strongest (from each run's verdict). */
  names: string[];
}

export function metricRows(experiments: Experiment[]): MetricRow[] {
  const names = [...new Set(experiments.flatMap((experiment) => Object.keys(experiment.metrics)))].sort();
  const specs = metricSpecs(experiments);
  const test: MetricRow[] = names.map((name) => {
    const values = experiments.map((experiment) => experiment.metrics[name]);
    const direction = specs.get(name)?.direction ?? null;
    const baseline = baselineOf(experiments, name);
    return { name, kind: "test", direction, unit: specs.get(name)?.unit ?? "", values, best: bestIndices(values, direction), baseline };
  });
  const epochSpecs = metricSpecs(experiments, "epoch");
  const perEpoch = [...new Set(experiments.flatMap((experiment) => Object.keys(experiment.history)))]
    .filter((name) => !names.includes(name))
    .sort();
  const epoch: MetricRow[] = perEpoch.map((name) => {
    const values = experiments.map((experiment) => lastEpoch(experiment.history[name]));
    const direction = epochSpecs.get(name)?.direction ?? null;
    return { name, kind: "epoch", direction, unit: epochSpecs.get(name)?.unit ?? "", values, best: bestIndices(values, direction), baseline: null };
  });
  return [...test, ...epoch];
}

function lastEpoch(values: (number | null)[] | undefined): number | null | undefined {
  return values?.length ? values[values.length - 1] : undefined;
}

function baselineOf(experiments: Experiment[], name: string): Baseline | null {
  const scores = experiments
    .map((experiment) => experiment.baseline_metrics[name])
    .filter((value): value is number => typeof value === "number" && Number.isFinite(value));
  if (!scores.length) return null;
  const names = experiments.flatMap(
    (experiment) => experiment.result?.verdict.filter((entry) => entry.metric === name).map((entry) => entry.strongest_baseline) ?? [],
  );
  return { low: Math.min(...scores), high: Math.max(...scores), names: [...new Set(names)] };
}
