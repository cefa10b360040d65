// The API's shapes under the names the dashboard uses. Every one comes from schema.ts, which `npm run build`
// generates from openapi.json (the API's OpenAPI document, progress events included): none is written by hand.

import type { components, operations } from "./schema";

type Schemas = components["schemas"];

export type Experiment = Schemas["ExperimentOut"];
export type ExperimentStatus = Experiment["status"];
export type ExperimentList = Schemas["ExperimentPage"];
export type ExperimentQuery = NonNullable<operations["list_experiments_api_v1_experiments_get"]["parameters"]["query"]>;
export type NewExperiment = Schemas["ExperimentCreate"];
export type CreatedExperiments = Experiment | Schemas["BatchOut"];
export type ValidationIssue = Schemas["ValidationError"];
export type Config = Experiment["config"];

export type Me = Schemas["Me"];
export type ProjectRole = Schemas["ProjectRole"];
export type Role = ProjectRole["role"];
export type Token = Schemas["TokenOut"];
export type NewToken = Schemas["TokenCreate"];
export type CreatedToken = Schemas["CreatedToken"];
export type Member = Schemas["MemberOut"];
export type AuditPage = Schemas["AuditPage"];
export type AuditEntry = Schemas["AuditOut"];
export type NewSweep = Schemas["SweepCreate"];
export type Sweep = Schemas["SweepOut"];
export type SweepList = Schemas["SweepPage"];
export type Trial = Schemas["TrialOut"];
export type SearchParam = NewSweep["space"][string];

export type RunResult = Schemas["RunResult"];
export type MetricSpec = Schemas["MetricSpec"];
export type MetricVerdict = Schemas["MetricVerdict"];
export type Provenance = Schemas["Provenance"];
export type DataProvenance = Schemas["DataProvenance"];
export type Direction = MetricSpec["direction"];

export type ModelSummary = Schemas["ModelSummary"];
export type RegisteredModel = Schemas["ModelOut"];
export type ModelVersion = Schemas["ModelVersionOut"];
export type ModelAlias = Schemas["AliasOut"];
export type Prediction = Schemas["ForecastOutput"] | Schemas["ClassificationOutput"];
export type ForecastOutput = Schemas["ForecastOutput"];
export type ClassificationOutput = Schemas["ClassificationOutput"];
export type ForecastInput = Schemas["ForecastInput"];

export type StatusEvent = Schemas["StatusEvent"];
export type TrainBeginEvent = Schemas["TrainBeginEvent"];
export type EpochEndEvent = Schemas["EpochEndEvent"];
export type BatchEvent = Schemas["BatchEvent"];
export type PredictionsEvent = Schemas["PredictionsEvent"];
export type ProgressEvent = Schemas["ProgressEvent"];
export type LogEvent = Schemas["LogEvent"];
export type SystemEvent = Schemas["SystemEvent"];
export type SystemSample = Schemas["SystemSample"];
export type EpochTiming = Schemas["EpochTiming"];
export type SystemRecord = Schemas["SystemRecord"];
export type LogPage = Schemas["LogPage"];
export type ExperimentPatch = Schemas["ExperimentPatch"];
export type Dataset = Schemas["DatasetOut"];
export type DatasetKind = Dataset["kind"];
export type DatasetSpec = Schemas["DatasetSpec"];
export type BulkRequest = Schemas["BulkRequest"];
export type BulkResult = Schemas["BulkResult"];

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

/** A JSON schema as pydantic v2 writes it (an app's `config_schema`, which the API sends as an open object);
 * only the keywords the form understands are typed. */
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

export type AppInfo = Omit<Schemas["AppOut"], "config_schema"> & { config_schema: JsonSchema };
