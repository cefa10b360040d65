// Which way is better for a metric, and picking the best among experiments.

const LOWER_IS_BETTER = ["loss", "mae", "mse", "rmse", "mape", "smape", "error"];
const HIGHER_IS_BETTER = ["accuracy", "acc", "r2", "f1", "precision", "recall", "auc"];

export type Direction = "lower" | "higher";

/** "val_rmse" and "test_accuracy" go the way of "rmse" and "accuracy"; null when unknown. */
export function metricDirection(name: string): Direction | null {
  const base = name.toLowerCase().replace(/^(val|test|train|baseline)_/, "");
  if (LOWER_IS_BETTER.some((word) => base === word || base.endsWith(`_${word}`))) return "lower";
  if (HIGHER_IS_BETTER.some((word) => base === word || base.endsWith(`_${word}`))) return "higher";
  return null;
}

/** Indices of the best values (all of them on a tie); none when the direction is unknown. */
export function bestIndices(values: (number | undefined)[], direction: Direction | null): number[] {
  const finite = values.filter((value): value is number => value !== undefined && Number.isFinite(value));
  if (!direction || finite.length < 2) return [];
  const best = direction === "lower" ? Math.min(...finite) : Math.max(...finite);
  return values.flatMap((value, index) => (value === best ? [index] : []));
}

const KEY_METRIC_ORDER = ["accuracy", "f1", "r2", "rmse", "mae", "mape", "loss"];

/** The few metrics worth a column in the experiments list, most telling first. */
export function keyMetrics(metrics: Record<string, number>, count = 3): [string, number][] {
  const rank = (name: string) => {
    const index = KEY_METRIC_ORDER.indexOf(name);
    return index < 0 ? KEY_METRIC_ORDER.length : index;
  };
  return Object.entries(metrics)
    .sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b))
    .slice(0, count);
}
