// Turns progress events (live, replayed, or both after a reconnect) into chart series and progress.
import type { EpochTiming, ExperimentStatus, ProgressEvent, RunResult, SystemSample } from "../api/types";

/** Per-epoch values: values[name][i] belongs to epochs[i]; null where a metric was not reported. */
export interface Series {
  epochs: number[];
  values: Record<string, (number | null)[]>;
}

export interface LiveState {
  /** Highest sequence number applied; events at or below it are duplicates from a replay. */
  lastSeq: number;
  status: ExperimentStatus | null;
  error: string | null;
  final: boolean;
  /** The run's record, from the final status event. */
  result: RunResult | null;
  totalEpochs: number | null;
  series: Series;
  elapsedS: number | null;
  etaS: number | null;
  batch: { epoch: number; batch: number; totalBatches: number } | null;
  predictions: { epoch: number; actual: (number | null)[]; predicted: (number | null)[] } | null;
  /** run.log lines sent live, by line number, and the ranges held back by the rate limit. */
  log: { lines: Map<number, string>; heldBack: { first: number; count: number }[] };
  system: { samples: SystemSample[]; epochs: EpochTiming[] };
}

export const initialLiveState: LiveState = {
  lastSeq: 0,
  status: null,
  error: null,
  final: false,
  result: null,
  totalEpochs: null,
  series: { epochs: [], values: {} },
  elapsedS: null,
  etaS: null,
  batch: null,
  predictions: null,
  log: { lines: new Map(), heldBack: [] },
  system: { samples: [], epochs: [] },
};

export function applyEvent(state: LiveState, event: ProgressEvent): LiveState {
  if (event.seq <= state.lastSeq) return state;
  const next = { ...state, lastSeq: event.seq };
  switch (event.type) {
    case "status":
      return { ...next, status: event.status, error: event.error, final: event.final, result: event.result };
    case "train_begin":
      return { ...next, totalEpochs: event.total_epochs };
    case "batch":
      return {
        ...next,
        batch: { epoch: event.epoch, batch: event.batch, totalBatches: event.total_batches },
      };
    case "epoch_end":
      return {
        ...next,
        totalEpochs: event.total_epochs,
        series: addEpoch(state.series, event.epoch, event.metrics),
        elapsedS: event.elapsed_s,
        etaS: event.eta_s,
      };
    case "predictions":
      return {
        ...next,
        predictions: { epoch: event.epoch, actual: event.actual, predicted: event.predicted },
      };
    case "log": {
      const lines = new Map(state.log.lines);
      event.lines.forEach((line, i) => lines.set(event.first_line + i, line));
      const heldBack = event.held_back
        ? [...state.log.heldBack, { first: event.first_line, count: event.held_back }]
        : state.log.heldBack;
      return { ...next, log: { lines, heldBack } };
    }
    case "system":
      return {
        ...next,
        system: {
          samples: [...state.system.samples, event.sample],
          epochs: event.epoch ? [...state.system.epochs, event.epoch] : state.system.epochs,
        },
      };
    default:
      // An event type newer than this dashboard: its sequence number still counts.
      return next;
  }
}

function addEpoch(series: Series, epoch: number, metrics: Record<string, number | null>): Series {
  const index = series.epochs.length;
  const values: Series["values"] = {};
  for (const name of new Set([...Object.keys(series.values), ...Object.keys(metrics)])) {
    const previous = series.values[name] ?? new Array<number | null>(index).fill(null);
    values[name] = [...previous, metrics[name] ?? null];
  }
  return { epochs: [...series.epochs, epoch], values };
}

/** The series of a finished experiment, from its stored history ({"loss": [...], ...}, one value per epoch). */
export function seriesFromHistory(history: Record<string, (number | null)[]>): Series {
  const length = Math.max(0, ...Object.values(history).map((values) => values.length));
  const values: Series["values"] = {};
  for (const [name, list] of Object.entries(history)) {
    values[name] = Array.from({ length }, (_, i) => list[i] ?? null);
  }
  return { epochs: Array.from({ length }, (_, i) => i + 1), values };
}

export interface Progress {
  /** The epoch being trained or last finished, 1-based. */
  epoch: number;
  totalEpochs: number;
  /** Share of the whole run done, 0..1, counting the batches of the current epoch. */
  fraction: number;
}

export function progressOf(state: LiveState): Progress | null {
  if (!state.totalEpochs) return null;
  const completed = state.series.epochs.at(-1) ?? 0;
  const batch = state.batch;
  const inEpoch = batch && batch.epoch > completed ? batch : null;
  const done = inEpoch ? inEpoch.epoch - 1 + inEpoch.batch / inEpoch.totalBatches : completed;
  return {
    epoch: inEpoch ? inEpoch.epoch : completed,
    totalEpochs: state.totalEpochs,
    fraction: Math.min(1, done / state.totalEpochs),
  };
}
