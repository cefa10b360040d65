// The REST client: one function per endpoint the dashboard uses. The browser sends the session cookie; requests
// that change something also send the session's CSRF token.
import { csrfToken, requireLogin } from "./auth";
import type {
  AuditPage,
  AppInfo,
  CreatedToken,
  BulkRequest,
  BulkResult,
  CreatedExperiments,
  Dataset,
  DatasetKind,
  Experiment,
  ExperimentList,
  ExperimentPatch,
  ExperimentQuery,
  Me,
  Member,
  LogPage,
  NewToken,
  ProjectRole,
  Role,
  Token,
  NewSweep,
  Sweep,
  SweepList,
  ForecastInput,
  ModelAlias,
  ModelSummary,
  ModelVersion,
  NewExperiment,
  Prediction,
  RegisteredModel,
  ValidationIssue,
} from "./types";

const API = "/api/v1";

export class ApiError extends Error {
  readonly status: number;
  readonly detail: unknown;

  constructor(status: number, detail: unknown) {
    super(typeof detail === "string" ? detail : `The API answered ${status}`);
    this.status = status;
    this.detail = detail;
  }

  /** The pydantic issues of a 422, or an empty list. */
  get issues(): ValidationIssue[] {
    return this.status === 422 && Array.isArray(this.detail) ? (this.detail as ValidationIssue[]) : [];
  }
}

async function request(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const csrf = csrfToken();
  if (csrf && init.method && init.method !== "GET") headers.set("X-CSRF-Token", csrf);
  const response = await fetch(`${API}${path}`, { ...init, headers, credentials: "same-origin" });
  if (response.ok) return response;
  if (response.status === 401 && path !== "/auth/login") requireLogin();
  let detail: unknown = `The API answered ${response.status} ${response.statusText}`;
  try {
    detail = ((await response.json()) as { detail?: unknown }).detail ?? detail;
  } catch {
    // Not JSON (a proxy error page, say): keep the status line.
  }
  throw new ApiError(response.status, detail);
}

async function json<T>(path: string, init?: RequestInit): Promise<T> {
  return (await (await request(path, init)).json()) as T;
}

type QueryValue = string | number | null | undefined;

function queryString(query: Record<string, QueryValue | QueryValue[]>): string {
  const params = new URLSearchParams();
  for (const [key, given] of Object.entries(query)) {
    for (const value of Array.isArray(given) ? given : [given]) {
      if (value !== undefined && value !== null && value !== "") params.append(key, String(value));
    }
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

function send(method: string, body?: unknown): RequestInit {
  return body === undefined
    ? { method }
    : { method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
}

export const api = {
  me: () => json<Me>("/auth/me"),
  login: (username: string, password: string) => json<Me>("/auth/login", send("POST", { username, password })),
  logout: () => request("/auth/logout", send("POST")),
  listTokens: () => json<Token[]>("/tokens"),
  createToken: (body: NewToken) => json<CreatedToken>("/tokens", send("POST", body)),
  revokeToken: (id: string) => request(`/tokens/${encodeURIComponent(id)}`, send("DELETE")),
  listProjects: () => json<ProjectRole[]>("/projects"),
  createProject: (name: string) => json<ProjectRole>("/projects", send("POST", { name })),
  listMembers: (project: string) => json<Member[]>(`/projects/${encodeURIComponent(project)}/members`),
  setMember: (project: string, username: string, role: Role) =>
    json<Member>(
      `/projects/${encodeURIComponent(project)}/members/${encodeURIComponent(username)}`,
      send("PUT", { role }),
    ),
  removeMember: (project: string, username: string) =>
    request(`/projects/${encodeURIComponent(project)}/members/${encodeURIComponent(username)}`, send("DELETE")),
  listAudit: (offset: number) => json<AuditPage>(`/audit${queryString({ limit: 100, offset })}`),
  listApps: () => json<AppInfo[]>("/apps"),
  listDatasets: (project: string, kind?: DatasetKind) => json<Dataset[]>(`/datasets${queryString({ project, kind })}`),
  /** The same bytes uploaded again answer the version already kept (200 instead of 201). */
  uploadDataset: (project: string, kind: DatasetKind, file: File, name?: string) => {
    const form = new FormData();
    form.append("file", file);
    return json<Dataset>(`/datasets${queryString({ project, kind, name })}`, { method: "POST", body: form });
  },
  deleteDataset: (id: string) => request(`/datasets/${encodeURIComponent(id)}`, send("DELETE")),
  listExperiments: (query: ExperimentQuery) =>
    json<ExperimentList>(`/experiments${queryString({ ...query })}`),
  getExperiment: (id: string) => json<Experiment>(`/experiments/${encodeURIComponent(id)}`),
  createExperiment: (body: NewExperiment, idempotencyKey: string) =>
    json<CreatedExperiments>("/experiments", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Idempotency-Key": idempotencyKey },
      body: JSON.stringify(body),
    }),
  cancelExperiment: (id: string) =>
    json<Experiment>(`/experiments/${encodeURIComponent(id)}/cancel`, { method: "POST" }),
  updateExperiment: (id: string, change: ExperimentPatch) =>
    json<Experiment>(`/experiments/${encodeURIComponent(id)}`, {
      method: "PATCH",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(change),
    }),
  deleteExperiment: async (id: string) => {
    await request(`/experiments/${encodeURIComponent(id)}`, { method: "DELETE" });
  },
  bulk: (body: BulkRequest) =>
    json<BulkResult>("/experiments/bulk", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    }),
  cloneExperiment: (id: string) => json<NewExperiment>(`/experiments/${encodeURIComponent(id)}/clone`),
  getLogs: (id: string, after: number, limit: number) =>
    json<LogPage>(`/experiments/${encodeURIComponent(id)}/logs${queryString({ after, limit })}`),
  exportCsv: async (query: ExperimentQuery) =>
    (await request(`/experiments/export.csv${queryString({ ...query })}`)).blob(),
  getReport: async (id: string) => (await request(`/experiments/${encodeURIComponent(id)}/report`)).text(),
  getArtifactsZip: async (id: string) => (await request(`/experiments/${encodeURIComponent(id)}/artifacts.zip`)).blob(),
  getArtifact: async (id: string, path: string) =>
    (await request(`/experiments/${encodeURIComponent(id)}/artifacts/${encodePath(path)}`)).blob(),
  listSweeps: () => json<SweepList>("/sweeps?limit=100"),
  getSweep: (id: string) => json<Sweep>(`/sweeps/${encodeURIComponent(id)}`),
  createSweep: (body: NewSweep) =>
    json<Sweep>("/sweeps", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    }),
  controlSweep: (id: string, action: "pause" | "resume" | "stop") =>
    json<Sweep>(`/sweeps/${encodeURIComponent(id)}/${action}`, { method: "POST" }),
  listModels: () => json<ModelSummary[]>("/models"),
  /** A model by name; `project` tells apart models of one name in several projects the caller sees. */
  getModel: (name: string, project?: string) =>
    json<RegisteredModel>(`/models/${encodeURIComponent(name)}${queryString({ project })}`),
  registerVersion: (name: string, experimentId: string) =>
    json<ModelVersion>(`/models/${encodeURIComponent(name)}/versions`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ experiment_id: experimentId }),
    }),
  setAlias: (model: ModelSummary, alias: string, version: number) =>
    json<ModelAlias>(modelPath(model, `/aliases/${encodeURIComponent(alias)}`), {
      method: "PUT",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ version }),
    }),
  /** A forecast from a history, or class probabilities of an uploaded image (sent as a multipart form). */
  predict: (model: ModelSummary, version: number, input: ForecastInput | File) => {
    const init: RequestInit = { method: "POST" };
    if (input instanceof File) {
      const form = new FormData();
      form.append("image", input);
      init.body = form;
    } else {
      init.headers = { "Content-Type": "application/json" };
      init.body = JSON.stringify(input);
    }
    return json<Prediction>(modelPath(model, `/versions/${version}/predict`), init);
  },
};

/** A route of the model, in its own project. */
function modelPath(model: ModelSummary, rest: string): string {
  return `/models/${encodeURIComponent(model.name)}${rest}${queryString({ project: model.project_id })}`;
}

function encodePath(path: string): string {
  return path.split("/").map(encodeURIComponent).join("/");
}

/** The WebSocket URL of a path such as /ws/experiments/ID, on the page's own host; the browser sends the session
 * cookie with it (never a token in the URL: URLs end up in logs). */
export function websocketUrl(path: string, query: Record<string, string | number | undefined> = {}): string {
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${window.location.host}${path}${queryString(query)}`;
}

/** The subprotocol the API answers with. */
export function websocketProtocols(): string[] {
  return ["azuraforge"];
}

/** A random Idempotency-Key; getRandomValues works on plain http too, unlike randomUUID. */
export function newIdempotencyKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}
