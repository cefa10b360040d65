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
  direction: Direction | null;
  unit: string;
  values: (number | null | undefined)[];
  best: number[];
}

export function metricRows(experiments: Experiment[]): MetricRow[] {
  const names = [...new Set(experiments.flatMap((experiment) => Object.keys(experiment.metrics)))].sort();
  const specs = metricSpecs(experiments);
  return names.map((name) => {
    const values = experiments.map((experiment) => experiment.metrics[name]);
    const direction = specs.get(name)?.direction ?? null;
    return { name, direction, unit: specs.get(name)?.unit ?? "", values, best: bestIndices(values, direction) };
  });
}
