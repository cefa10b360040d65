import { describe, expect, it } from "vitest";
import { differingConfig, metricRows } from "../src/compare";
import { formatValue } from "../src/format";
import { bestIndices, headlineVerdict, keyMetrics, metricValue } from "../src/metrics";
import { experiment, runResult } from "./records";

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
  it("takes each metric's direction and unit from the runs' declarations, none for undeclared ones", () => {
    const rows = metricRows([experiment("a", {}, { rmse: 1, r2: 0.5, throughput: 10 }, runResult()), experiment("b", {}, { rmse: 2 })]);
    expect(rows.map((row) => [row.name, row.direction, row.unit])).toEqual([
      ["r2", "higher", ""],
      ["rmse", "lower", "°C"],
      ["throughput", null, ""],
    ]);
  });

  it("marks the best value in the declared direction, every one on a tie", () => {
    const rows = metricRows([
      experiment("a", {}, { rmse: 2.5, accuracy: 0.9, r2: 0.5, throughput: 10 }, runResult()),
      experiment("b", {}, { rmse: 1.5, accuracy: 0.95, throughput: 20 }, runResult()),
      experiment("c", {}, { rmse: 1.5, accuracy: 0.8, r2: 0.7, throughput: 30 }, runResult()),
    ]);
    expect(Object.fromEntries(rows.map((row) => [row.name, row.best]))).toEqual({
      accuracy: [1],
      r2: [2],
      rmse: [1, 2],
      throughput: [],
    });
    expect(rows.find((row) => row.name === "r2")?.values).toEqual([0.5, undefined, 0.7]);
  });

  it("gives each test metric the strongest baseline's score, a range where the runs' data differ", () => {
    const a = { ...experiment("a", {}, { rmse: 0.29, mae: 0.23 }, runResult()), baseline_metrics: { rmse: 0.11, mae: 0.25 } };
    const b = { ...experiment("b", {}, { rmse: 0.2, mae: 0.3 }, runResult()), baseline_metrics: { rmse: 0.11, mae: 0.2 } };
    const rows = Object.fromEntries(metricRows([a, b]).map((row) => [row.name, row.baseline]));
    expect(rows.rmse).toEqual({ low: 0.11, high: 0.11, names: ["same hour yesterday"] });
    expect(rows.mae).toEqual({ low: 0.2, high: 0.25, names: ["same hour yesterday"] });
  });

  it("adds the per-epoch metrics at their last epoch, marked by their declared direction", () => {
    const plan = { ...runResult().plan, epoch_metrics: [{ name: "val_loss", direction: "lower" as const, unit: "", description: "", headline: false }] };
    const a = { ...experiment("a", {}, { rmse: 1 }, runResult({ plan })), history: { loss: [0.9, 0.5], val_loss: [0.8, 0.3] } };
    const b = { ...experiment("b", {}, { rmse: 2 }, runResult({ plan })), history: { loss: [0.7], val_loss: [0.1, 0.4] } };
    const rows = metricRows([a, b]);
    expect(rows.map((row) => [row.name, row.kind, row.direction])).toEqual([
      ["rmse", "test", "lower"],
      ["loss", "epoch", null],
      ["val_loss", "epoch", "lower"],
    ]);
    const valLoss = rows.find((row) => row.name === "val_loss");
    expect([valLoss?.values, valLoss?.best, valLoss?.baseline]).toEqual([[0.3, 0.4], [0], null]);
  });

  it("reads a metric as the server filters by it: the test metric, else the last epoch's value", () => {
    const run = { ...experiment("a", {}, { loss: 7 }), history: { loss: [0.5, 0.2], val_loss: [0.4, 0.3], val_mae: [] } };
    expect(["loss", "val_loss", "val_mae", "nothing"].map((name) => metricValue(run, name))).toEqual([7, 0.3, null, null]);
  });

  it("marks nothing when fewer than two runs have a value", () => {
    expect(bestIndices([undefined, 0.3], "lower")).toEqual([]);
    expect(bestIndices([Number.NaN, 0.3, 0.2], "lower")).toEqual([2]);
  });

  it("puts the headline metrics first in the list, then the declared ones in order", () => {
    const declared = experiment("a", {}, { zeta: 2, r2: 0.5, mae: 1, rmse: 3 }, runResult());
    expect(keyMetrics(declared).map(([name]) => name)).toEqual(["rmse", "mae", "r2"]);
    expect(keyMetrics(experiment("b", {}, { zeta: 2, mae: 1 })).map(([name]) => name)).toEqual(["mae", "zeta"]);
  });

  it("judges the headline metrics, or every judged one when the app named none", () => {
    expect(headlineVerdict(runResult()).map((entry) => [entry.metric, entry.beaten])).toEqual([["rmse", false]]);
    const plan = { ...runResult().plan, metrics: runResult().plan.metrics.map((spec) => ({ ...spec, headline: false })) };
    expect(headlineVerdict(runResult({ plan })).map((entry) => entry.metric)).toEqual(["mae", "rmse"]);
  });
});

describe("config values", () => {
  it("are shown exactly as stored", () => {
    expect([-122.33, 0.0001234, 1e-7, "open-meteo", [8, 4], null, true].map(formatValue)).toEqual([
      "-122.33",
      "0.0001234",
      "1e-7",
      "open-meteo",
      "[8,4]",
      "null",
      "true",
    ]);
  });
});
