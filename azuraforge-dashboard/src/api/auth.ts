// Who is signed in: the session lives in an HttpOnly cookie the page cannot read; this keeps what the API says
// about it (GET /auth/me), whether a login is needed, and the project the pages show.
import { useSyncExternalStore } from "react";
import type { Me } from "./types";

const PROJECT_KEY = "azuraforge.project";
export const CSRF_COOKIE = "azuraforge_csrf";

interface AuthState {
  me: Me | null;
  /** True after a 401: the UI shows the login page. */
  loginRequired: boolean;
  /** The project the lists show and new experiments go to. */
  project: string;
}

let state: AuthState = { me: null, loginRequired: false, project: localStorage.getItem(PROJECT_KEY) ?? "default" };
const listeners = new Set<() => void>();

function update(next: Partial<AuthState>): void {
  state = { ...state, ...next };
  listeners.forEach((listener) => listener());
}

/** The CSRF token of the session (a readable cookie), sent as X-CSRF-Token with requests that change something. */
export function csrfToken(): string | null {
  for (const pair of document.cookie.split(";")) {
    const [key, value] = pair.trim().split("=");
    if (key === CSRF_COOKIE && value) return decodeURIComponent(value);
  }
  return null;
}

export function signedIn(me: Me): void {
  const visible = me.projects.map((project) => project.id);
  const project = visible.includes(state.project) ? state.project : (visible[0] ?? "default");
  update({ me, loginRequired: false, project });
}

export function signedOut(): void {
  update({ me: null, loginRequired: true });
}

export function requireLogin(): void {
  if (!state.loginRequired) update({ loginRequired: true });
}

export function chooseProject(project: string): void {
  localStorage.setItem(PROJECT_KEY, project);
  update({ project });
}

export function useAuth(): AuthState {
  return useSyncExternalStore(
    (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    () => state,
  );
}
