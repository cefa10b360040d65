import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { ProgressEvent } from "../src/api/types";
import { applyEvent, initialLiveState, progressOf, seriesFromHistory, type LiveState } from "../src/live/series";
import { followExperiment } from "../src/live/socket";
import { runResult } from "./records";

const ID = "exp1";

function epochEnd(seq: number, epoch: number, metrics: Record<string, number>): ProgressEvent {
  return { experiment_id: ID, seq, ts: seq, type: "epoch_end", epoch, total_epochs: 3, metrics, elapsed_s: epoch * 2, eta_s: (3 - epoch) * 2 };
}

function status(seq: number, value: "running" | "succeeded", final = false): ProgressEvent {
  return { experiment_id: ID, seq, ts: seq, type: "status", status: value, error: null, final, result: null };
}

const run: ProgressEvent[] = [
  status(1, "running"),
  { experiment_id: ID, seq: 2, ts: 2, type: "train_begin", app: "demo", total_epochs: 3, config: {} },
  { experiment_id: ID, seq: 3, ts: 3, type: "batch", epoch: 1, batch: 2, total_batches: 4, loss: 1.5 },
  epochEnd(4, 1, { loss: 1.2, val_loss: 1.4 }),
  epochEnd(5, 2, { loss: 0.9, val_loss: 1.1, mae: 0.5 }),
  { experiment_id: ID, seq: 6, ts: 6, type: "predictions", epoch: 2, actual: [1, 2], predicted: [1.1, 1.9] },
  epochEnd(7, 3, { loss: 0.7, val_loss: 0.8, mae: 0.4 }),
  status(8, "succeeded", true),
];

const reduce = (events: ProgressEvent[], state: LiveState = initialLiveState) => events.reduce(applyEvent, state);

describe("applyEvent", () => {
  it("turns epoch events into aligned series, padding metrics that start late", () => {
    const state = reduce(run);
    expect(state.series.epochs).toEqual([1, 2, 3]);
    expect(state.series.values).toEqual({
      loss: [1.2, 0.9, 0.7],
      val_loss: [1.4, 1.1, 0.8],
      mae: [null, 0.5, 0.4],
    });
    expect(state).toMatchObject({ status: "succeeded", final: true, totalEpochs: 3, lastSeq: 8, etaS: 0, elapsedS: 6 });
    expect(state.predictions).toEqual({ epoch: 2, actual: [1, 2], predicted: [1.1, 1.9] });
  });

  it("ignores a replayed event it already has, so a replay after a reconnect adds no duplicate point", () => {
    const beforeDrop = reduce(run.slice(0, 5));
    // The server replays from an older seq than the last seen one (or the same events twice).
    const state = reduce(run.slice(3), beforeDrop);
    expect(state).toEqual(reduce(run));
    expect(applyEvent(state, run[4]!)).toBe(state);
  });

  it("reports the progress within the current epoch from batch events", () => {
    expect(progressOf(initialLiveState)).toBeNull();
    const midFirst = reduce(run.slice(0, 3));
    expect(progressOf(midFirst)).toEqual({ epoch: 1, totalEpochs: 3, fraction: 0.5 / 3 });
    const afterFirst = reduce(run.slice(0, 4));
    expect(progressOf(afterFirst)).toEqual({ epoch: 1, totalEpochs: 3, fraction: 1 / 3 });
    expect(progressOf(reduce(run))?.fraction).toBe(1);
  });
});

describe("the final event", () => {
  it("carries the run's record, so nothing has to be fetched after it", () => {
    const result = runResult();
    const final: ProgressEvent = { ...status(8, "succeeded", true), result } as ProgressEvent;
    const state = reduce([...run.slice(0, -1), final]);
    expect(state.result).toEqual(result);
    expect(reduce(run.slice(0, -1)).result).toBeNull();
  });
});

describe("seriesFromHistory", () => {
  it("numbers the epochs from 1 and pads shorter histories", () => {
    expect(seriesFromHistory({ loss: [3, 2, 1], val_loss: [4, 3] })).toEqual({
      epochs: [1, 2, 3],
      values: { loss: [3, 2, 1], val_loss: [4, 3, null] },
    });
    expect(seriesFromHistory({})).toEqual({ epochs: [], values: {} });
  });
});

class FakeSocket {
  static all: FakeSocket[] = [];
  static readonly CONNECTING = 0;
  readyState = FakeSocket.CONNECTING;
  onopen: (() => void) | null = null;
  onmessage: ((message: { data: string }) => void) | null = null;
  onclose: (() => void) | null = null;
  readonly url: string;
  readonly protocols: string[];

  constructor(url: string, protocols: string[] = []) {
    this.url = url;
    this.protocols = protocols;
    FakeSocket.all.push(this);
  }

  open() {
    this.readyState = 1;
    this.onopen?.();
  }

  send(event: ProgressEvent) {
    this.onmessage?.({ data: JSON.stringify(event) });
  }

  drop() {
    this.readyState = 3;
    this.onclose?.();
  }

  close() {
    this.drop();
  }
}

describe("followExperiment", () => {
  beforeEach(() => {
    FakeSocket.all = [];
    vi.useFakeTimers();
    vi.stubGlobal("WebSocket", FakeSocket);
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  it("reconnects with ?after= the last seq, backing off, and stops after the final event", () => {
    let state = initialLiveState;
    const states: string[] = [];
    followExperiment(ID, (event) => (state = applyEvent(state, event)), (s) => states.push(s));
    const first = FakeSocket.all[0]!;
    expect(first.url).toBe(`ws://${window.location.host}/ws/experiments/${ID}?after=0`);
    first.open();
    run.slice(0, 5).forEach((event) => first.send(event));
    first.drop();

    expect(FakeSocket.all).toHaveLength(1);
    vi.advanceTimersByTime(500);
    const second = FakeSocket.all[1]!;
    expect(second.url).toContain("after=5");
    second.drop(); // refused before opening: the next try waits longer
    vi.advanceTimersByTime(999);
    expect(FakeSocket.all).toHaveLength(2);
    vi.advanceTimersByTime(1);
    const third = FakeSocket.all[2]!;
    expect(third.url).toContain("after=5");
    third.open();
    // A server that replays one event too many must not produce a duplicate point.
    run.slice(4).forEach((event) => third.send(event));
    third.drop();
    vi.advanceTimersByTime(60_000);

    expect(FakeSocket.all).toHaveLength(3);
    expect(state).toEqual(reduce(run));
    expect(states).toEqual(["connecting", "open", "reconnecting", "reconnecting", "reconnecting", "reconnecting", "open", "closed"]);
  });

  it("offers only the API's subprotocol: the session cookie authenticates, nothing goes in the URL", () => {
    const close = followExperiment(ID, () => undefined);
    expect(FakeSocket.all[0]!.url).toMatch(/\/ws\/experiments\/[^?]+\?after=0$|\/ws\/experiments\/[^?]+$/);
    expect(FakeSocket.all[0]!.protocols).toEqual(["azuraforge"]);
    close();
  });
});

describe("log and system events", () => {
  it("keeps live log lines by number, the held-back ranges, and system samples with epoch timings", () => {
    const base = { experiment_id: "x", ts: 1 };
    const sample = { elapsed_s: 1, cpu_percent: 90, rss_bytes: 1000, load1: 0.5 };
    let state = applyEvent(initialLiveState, { ...base, seq: 1, type: "log", first_line: 1, lines: ["a", "b"], held_back: 0 });
    state = applyEvent(state, { ...base, seq: 2, type: "log", first_line: 3, lines: [], held_back: 40 });
    state = applyEvent(state, { ...base, seq: 3, type: "log", first_line: 43, lines: ["c"], held_back: 0 });
    state = applyEvent(state, { ...base, seq: 4, type: "system", sample, epoch: null });
    const epoch = { epoch: 1, wall_s: 2, samples_per_s: 100, system: sample };
    state = applyEvent(state, { ...base, seq: 5, type: "system", sample, epoch });
    state = applyEvent(state, { ...base, seq: 3, type: "log", first_line: 43, lines: ["dup"], held_back: 0 });
    expect([...state.log.lines]).toEqual([[1, "a"], [2, "b"], [43, "c"]]);
    expect(state.log.heldBack).toEqual([{ first: 3, count: 40 }]);
    expect(state.system.samples).toHaveLength(2);
    expect(state.system.epochs).toEqual([epoch]);
  });
});
