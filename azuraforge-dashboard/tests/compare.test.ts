import { describe, expect, it } from "vitest";
import type { Experiment } from "../src/api/types";
import { differingConfig, metricRows } from "../src/compare";
import { bestIndices, keyMetrics, metricDirection } from "../src/metrics";

function experiment(id: string, config: Record<string, unknown>, metrics: Record<string, number>): Experiment {
  return {
    id,
    app: "demo",
    name: id,
    tags: [],
    status: "succeeded",
    config,
    batch_id: null,
    created_at: "2025-01-01T00:00:00Z",
    started_at: null,
    finished_at: null,
    metrics,
    baseline_metrics: {},
    history: {},
    error: null,
    traceback: null,
    artifacts: [],
    progress: null,
  };
}

describe("differingConfig", () => {
  it("lists only the keys whose values differ, comparing nested values by content", () => {
    const a = experiment("a", { epochs: 10, lr: 0.01, layers: { width: 64, depth: 2 }, seed: null }, {});
    const b = experiment("b", { epochs: 10, lr: 0.001, layers: { depth: 2, width: 64 }, seed: null, extra: true }, {});
    const c = experiment("c", { epochs: 10, lr: 0.01, layers: { width: 32, depth: 2 }, seed: null }, {});
    expect(differingConfig([a, b, c])).toEqual([
      { key: "extra", values: [undefined, true, undefined] },
      { key: "layers", values: [{ width: 64, depth: 2 }, { depth: 2, width: 64 }, { width: 32, depth: 2 }] },
      { key: "lr", values: [0.01, 0.001, 0.01] },
    ]);
    expect(differingConfig([a, a])).toEqual([]);
  });
});

describe("best metric", () => {
  it("knows which way is better, with or without a val_/test_ prefix", () => {
    expect(["loss", "val_loss", "mae", "rmse", "test_mape", "mse"].map(metricDirection)).toEqual(Array(6).fill("lower"));
    expect(["accuracy", "val_accuracy", "r2", "f1", "macro_f1"].map(metricDirection)).toEqual(Array(5).fill("higher"));
    expect(metricDirection("epochs_run")).toBeNull();
  });

  it("marks the lowest loss-like and the highest score-like value, every one on a tie", () => {
    const rows = metricRows([
      experiment("a", {}, { rmse: 2.5, accuracy: 0.9, r2: 0.5, throughput: 10 }),
      experiment("b", {}, { rmse: 1.5, accuracy: 0.95, throughput: 20 }),
      experiment("c", {}, { rmse: 1.5, accuracy: 0.8, r2: 0.7, throughput: 30 }),
    ]);
    expect(Object.fromEntries(rows.map((row) => [row.name, row.best]))).toEqual({
      accuracy: [1],
      r2: [2],
      rmse: [1, 2],
      throughput: [],
    });
    expect(rows.find((row) => row.name === "r2")?.values).toEqual([0.5, undefined, 0.7]);
  });

  it("marks nothing when fewer than two runs have a value", () => {
    expect(bestIndices([undefined, 0.3], "lower")).toEqual([]);
    expect(bestIndices([Number.NaN, 0.3, 0.2], "lower")).toEqual([2]);
  });

  it("puts the most telling metrics first in the list", () => {
    expect(keyMetrics({ mae: 1, zeta: 2, loss: 3, r2: 0.5 }).map(([name]) => name)).toEqual(["r2", "mae", "loss"]);
  });
});
