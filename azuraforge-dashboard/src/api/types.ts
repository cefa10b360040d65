// Shapes of the AzuraForge REST API and progress events (see the team's contracts): one place, typed once.

export type ExperimentStatus = "queued" | "running" | "succeeded" | "failed" | "cancelled";

export const EXPERIMENT_STATUSES: readonly ExperimentStatus[] = [
  "queued",
  "running",
  "succeeded",
  "failed",
  "cancelled",
];

export function isFinished(status: ExperimentStatus): boolean {
  return status === "succeeded" || status === "failed" || status === "cancelled";
}

export type Config = Record<string, unknown>;

export interface Experiment {
  id: string;
  app: string;
  name: string | null;
  tags: string[];
  status: ExperimentStatus;
  config: Config;
  batch_id: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  metrics: Record<string, number>;
  baseline_metrics: Record<string, number>;
  history: Record<string, number[]>;
  error: string | null;
  traceback: string | null;
  artifacts: string[];
  progress: { epoch: number; total_epochs: number } | null;
}

export interface ExperimentList {
  items: Experiment[];
  total: number;
  limit: number;
  offset: number;
}

export interface ExperimentQuery {
  app?: string;
  status?: string;
  tag?: string;
  batch_id?: string;
  sort?: string;
  limit?: number;
  offset?: number;
}

/** A JSON schema as pydantic v2 writes it; only the keywords the form understands are typed. */
export interface JsonSchema {
  type?: string | string[];
  title?: string;
  description?: string;
  default?: unknown;
  enum?: unknown[];
  const?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  $ref?: string;
  $defs?: Record<string, JsonSchema>;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
}

export interface AppInfo {
  name: string;
  description: string;
  config_schema: JsonSchema;
  defaults: Config;
}

export interface NewExperiment {
  app: string;
  config: Config;
  name?: string;
  tags?: string[];
  grid?: Record<string, unknown[]>;
}

export type CreatedExperiments = Experiment | { batch_id: string; experiments: Experiment[] };

export interface ValidationIssue {
  loc: (string | number)[];
  msg: string;
  type: string;
}

interface EventBase {
  experiment_id: string;
  seq: number;
  ts: number;
}

export interface StatusEvent extends EventBase {
  type: "status";
  status: ExperimentStatus;
  error: string | null;
  final: boolean;
}

export interface TrainBeginEvent extends EventBase {
  type: "train_begin";
  app: string;
  total_epochs: number;
  config: Config;
}

export interface EpochEndEvent extends EventBase {
  type: "epoch_end";
  epoch: number;
  total_epochs: number;
  metrics: Record<string, number>;
  elapsed_s: number;
  eta_s: number | null;
}

export interface BatchEvent extends EventBase {
  type: "batch";
  epoch: number;
  batch: number;
  total_batches: number;
  loss: number;
}

export interface PredictionsEvent extends EventBase {
  type: "predictions";
  epoch: number;
  actual: number[];
  predicted: number[];
}

export type ProgressEvent = StatusEvent | TrainBeginEvent | EpochEndEvent | BatchEvent | PredictionsEvent;
