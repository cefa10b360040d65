// The geometry of a parallel-coordinates chart: one vertical axis per config field and one for the metric,
// each run a line across them. Numbers get a linear axis (logarithmic when they span two decades or more, as
// learning rates do), anything else one evenly spaced stop per distinct value.
import { formatNumber, formatValue } from "./format";

export interface ParallelRow {
  id: string;
  label: string;
  /** The run's value of each field (undefined where it has none). */
  values: Record<string, unknown>;
  /** The chosen metric; null for a run without it (drawn grey, dashed). */
  score: number | null;
}

export interface Tick {
  label: string;
  /** 0 at the bottom of the axis, 1 at the top. */
  at: number;
}

export interface Axis {
  name: string;
  kind: "linear" | "log" | "category";
  ticks: Tick[];
  /** Where a value sits on the axis (0 bottom, 1 top); null for a value the axis does not hold. */
  at: (value: unknown) => number | null;
}

const LOG_SPAN = 100;

function isNumber(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value);
}

/** An axis through the values; `known` says how numbers are spread when the caller knows (a sweep's log range),
 * else it is chosen from the values. A log scale needs every number above 0. */
export function makeAxis(name: string, values: unknown[], known?: "linear" | "log"): Axis {
  const present = values.filter((value) => value !== null && value !== undefined);
  const numbers = present.filter(isNumber);
  if (numbers.length > 0 && numbers.length === present.length) {
    const [low, high] = [Math.min(...numbers), Math.max(...numbers)];
    const log = low > 0 && (known ? known === "log" : high / low >= LOG_SPAN);
    const scale = log ? Math.log10 : (value: number) => value;
    const at = (value: unknown) => {
      if (!isNumber(value) || (log && value <= 0)) return null;
      return high === low ? 0.5 : (scale(value) - scale(low)) / (scale(high) - scale(low));
    };
    const ticks = high === low ? [{ label: formatNumber(low), at: 0.5 }] : [low, high].map((v) => ({ label: formatNumber(v), at: at(v) ?? 0 }));
    return { name, kind: log ? "log" : "linear", ticks, at };
  }
  const stops = [...new Map(present.map((value) => [formatValue(value), value])).entries()].sort(([a, x], [b, y]) =>
    isNumber(x) && isNumber(y) ? x - y : a.localeCompare(b),
  );
  const position = new Map(stops.map(([label], index) => [label, stops.length === 1 ? 0.5 : index / (stops.length - 1)]));
  return {
    name,
    kind: "category",
    ticks: stops.map(([label]) => ({ label, at: position.get(label) ?? 0 })),
    at: (value) => (value === null || value === undefined ? null : (position.get(formatValue(value)) ?? null)),
  };
}

/** Each scored run's standing, 1 for the best and 0 for the worst by `direction`; absent without a score. */
export function standings(rows: ParallelRow[], direction: "lower" | "higher"): Map<string, number> {
  const scored = rows.filter((row): row is ParallelRow & { score: number } => isNumber(row.score));
  const ordered = [...scored].sort((a, b) => (direction === "lower" ? b.score - a.score : a.score - b.score));
  const last = ordered.length - 1;
  const standing = new Map<string, number>();
  ordered.forEach((row) => {
    // Equal scores share the standing of the first of them, so a tie is drawn alike.
    const first = ordered.findIndex((other) => other.score === row.score);
    standing.set(row.id, last > 0 ? first / last : 1);
  });
  return standing;
}

/** Red (worst) through yellow to green (best). */
export function standingColour(standing: number): string {
  return `hsl(${Math.round(standing * 130)}, 70%, 45%)`;
}
