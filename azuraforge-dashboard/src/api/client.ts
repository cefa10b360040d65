// The REST client: one function per endpoint the dashboard uses, the token sent as Bearer.
import { currentToken, requireToken } from "./auth";
import type {
  AppInfo,
  CreatedExperiments,
  Experiment,
  ExperimentList,
  ExperimentQuery,
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
  const token = currentToken();
  if (token) headers.set("Authorization", `Bearer ${token}`);
  const response = await fetch(`${API}${path}`, { ...init, headers });
  if (response.ok) return response;
  if (response.status === 401) requireToken();
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

function queryString(query: Record<string, string | number | null | undefined>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

export const api = {
  listApps: () => json<AppInfo[]>("/apps"),
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
  getReport: async (id: string) => (await request(`/experiments/${encodeURIComponent(id)}/report`)).text(),
  getArtifact: async (id: string, path: string) =>
    (await request(`/experiments/${encodeURIComponent(id)}/artifacts/${encodePath(path)}`)).blob(),
  listModels: () => json<ModelSummary[]>("/models"),
  getModel: (name: string) => json<RegisteredModel>(`/models/${encodeURIComponent(name)}`),
  registerVersion: (name: string, experimentId: string) =>
    json<ModelVersion>(`/models/${encodeURIComponent(name)}/versions`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ experiment_id: experimentId }),
    }),
  setAlias: (name: string, alias: string, version: number) =>
    json<ModelAlias>(`/models/${encodeURIComponent(name)}/aliases/${encodeURIComponent(alias)}`, {
      method: "PUT",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ version }),
    }),
  /** A forecast from a history, or class probabilities of an uploaded image (sent as a multipart form). */
  predict: (name: string, version: number, input: ForecastInput | File) => {
    const init: RequestInit = { method: "POST" };
    if (input instanceof File) {
      const form = new FormData();
      form.append("image", input);
      init.body = form;
    } else {
      init.headers = { "Content-Type": "application/json" };
      init.body = JSON.stringify(input);
    }
    return json<Prediction>(`/models/${encodeURIComponent(name)}/versions/${version}/predict`, init);
  },
};

function encodePath(path: string): string {
  return path.split("/").map(encodeURIComponent).join("/");
}

/** The WebSocket URL of a path such as /ws/experiments/ID, on the page's own host. Never with the token: URLs
 * end up in logs. */
export function websocketUrl(path: string, query: Record<string, string | number | undefined> = {}): string {
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${window.location.host}${path}${queryString(query)}`;
}

/** The subprotocols to offer: browsers cannot set an Authorization header on a WebSocket, so the token goes as
 * "bearer.<base64url>"; the API answers with "azuraforge". */
export function websocketProtocols(): string[] {
  const token = currentToken();
  return token ? ["azuraforge", `bearer.${base64url(token)}`] : ["azuraforge"];
}

function base64url(text: string): string {
  const binary = Array.from(new TextEncoder().encode(text), (byte) => String.fromCharCode(byte)).join("");
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** A random Idempotency-Key; getRandomValues works on plain http too, unlike randomUUID. */
export function newIdempotencyKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}
