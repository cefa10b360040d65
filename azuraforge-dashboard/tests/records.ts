// Records as the API sends them, for the tests: built from the generated types, so they break when it changes.
import type { Experiment, MetricSpec, RunResult } from "../src/api/types";

export const SPECS: MetricSpec[] = [
  { name: "mae", direction: "lower", unit: "°C", description: "", headline: false },
  { name: "rmse", direction: "lower", unit: "°C", description: "", headline: true },
  { name: "r2", direction: "higher", unit: "", description: "", headline: false },
  { name: "accuracy", direction: "higher", unit: "", description: "", headline: false },
];

export function runResult(overrides: Partial<RunResult> = {}, fallbackReason: string | null = null): RunResult {
  return {
    plan: { app: "demo", config: {}, total_epochs: 2, metrics: SPECS },
    status: "succeeded",
    stop_reason: { kind: "completed", message: "trained all 2 epochs." },
    epochs_completed: 2,
    metrics: { rmse: 0.29, mae: 0.23 },
    baselines: [
      { name: "persistence", description: "", metrics: { rmse: 0.4, mae: 0.3 } },
      { name: "same hour yesterday", description: "", metrics: { rmse: 0.11, mae: 0.25 } },
    ],
    verdict: [
      { metric: "mae", model: 0.23, strongest_baseline: "same hour yesterday", baseline: 0.25, beaten: true },
      { metric: "rmse", model: 0.29, strongest_baseline: "same hour yesterday", baseline: 0.11, beaten: false },
    ],
    history: { loss: [1, 0.5] },
    provenance: {
      data: {
        source: {
          requested: "open-meteo",
          used: fallbackReason ? "offline sample" : "open-meteo",
          description: "hourly weather",
          fallback_reason: fallbackReason,
        },
        first: "2010-01-01",
        last: "2010-12-31",
        rows: 8760,
        sha256: "ab".repeat(32),
      },
      seed: 42,
      python: "3.11.9",
      numpy: "2.1.0",
      packages: { "azuraforge-learner": "0.1.0" },
      app_distribution: "azuraforge-app-demo",
      app_version: "0.1.0",
    },
    timings: {
      started_at: "2026-01-01T00:00:00Z",
      finished_at: "2026-01-01T00:01:00Z",
      load_seconds: 0,
      train_seconds: 1,
      evaluate_seconds: 0,
    },
    artifacts: ["report.md"],
    details: {},
    ...overrides,
  };
}

export function experiment(
  id: string,
  config: Record<string, unknown>,
  metrics: Record<string, number>,
  result: RunResult | null = null,
): Experiment {
  return {
    id,
    project_id: "default",
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
    source: "worker",
    notes: "",
    system: null,
    queue: "cpu",
    peak_rss_mb: null,
    result,
    trial_number: null,
    trial_params: null,
  };
}
