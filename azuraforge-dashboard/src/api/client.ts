// The REST client: one function per endpoint the dashboard uses, the token sent as Bearer.
import { currentToken, requireToken } from "./auth";
import type {
  AppInfo,
  BulkRequest,
  BulkResult,
  CreatedExperiments,
  Experiment,
  ExperimentList,
  ExperimentPatch,
  ExperimentQuery,
  LogPage,
  NewExperiment,
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
