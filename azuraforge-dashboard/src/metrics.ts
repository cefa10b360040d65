// A metric's direction and unit come from the run's record (result.plan.metrics), as the app declared them;
// the dashboard has no naming rules of its own. Runs recorded without one have no directions.
import type { Direction, Experiment, MetricSpec, MetricVerdict, RunResult } from "./api/types";

/** The declared metrics of the experiments, by name (the first declaration wins): their test metrics, or what
 * they report per epoch (loss, val_loss, val_<name>). */
export function metricSpecs(experiments: Experiment[], kind: "test" | "epoch" = "test"): Map<string, MetricSpec> {
  const specs = new Map<string, MetricSpec>();
  const declared = (plan: RunResult["plan"]) => (kind === "test" ? plan.metrics : (plan.epoch_metrics ?? []));
  for (const spec of experiments.flatMap((experiment) => (experiment.result ? declared(experiment.result.plan) : []))) {
    if (!specs.has(spec.name)) specs.set(spec.name, spec);
  }
  return specs;
}

/** Indices of the best values (all of them on a tie); none when the direction is unknown. */
export function bestIndices(values: (number | null | undefined)[], direction: Direction | null): number[] {
  const finite = values.filter((value): value is number => typeof value === "number" && Number.isFinite(value));
  if (!direction || finite.length < 2) return [];
  const best = direction === "lower" ? Math.min(...finite) : Math.max(...finite);
  return values.flatMap((value, index) => (value === best ? [index] : []));
}

/** The verdict on the run's headline metrics (on every judged metric if the app named no headline). */
export function headlineVerdict(result: RunResult): MetricVerdict[] {
  const headline = new Set(result.plan.metrics.filter((spec) => spec.headline).map((spec) => spec.name));
  const chosen = result.verdict.filter((entry) => headline.has(entry.metric));
  return chosen.length > 0 ? chosen : result.verdict;
}

/** The few metrics worth a column in the experiments list: the headline ones first, in declaration order. */
export function keyMetrics(experiment: Experiment, count = 3): [string, number | null][] {
  const declared = experiment.result?.plan.metrics ?? [];
  const rank = (name: string) => {
    const index = declared.findIndex((spec) => spec.name === name);
    if (index < 0) return Number.MAX_SAFE_INTEGER;
    return declared[index]?.headline ? index - declared.length : index;
  };
  return Object.entries(experiment.metrics)
    .sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b))
    .slice(0, count);
}

/** What the server filters and sorts `metric.<name>` by: the run's test metric, else its value at the last epoch. */
export function metricValue(experiment: Experiment, name: string): number | null {
  const values = experiment.history[name];
  for (const value of [experiment.metrics[name], values?.[values.length - 1]]) {
    if (typeof value === "number") return value;
  }
  return null;
}
