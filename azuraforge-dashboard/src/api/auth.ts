// The API token: kept in localStorage, asked for when the API answers 401.
import { useSyncExternalStore } from "react";

const STORAGE_KEY = "azuraforge.token";

interface AuthState {
  token: string | null;
  /** True after a 401: the UI shows the token prompt. */
  tokenRequired: boolean;
}

let state: AuthState = { token: localStorage.getItem(STORAGE_KEY), tokenRequired: false };
const listeners = new Set<() => void>();

function update(next: AuthState): void {
  state = next;
  listeners.forEach((listener) => listener());
}

export function currentToken(): string | null {
  return state.token;
}

export function saveToken(token: string | null): void {
  if (token) localStorage.setItem(STORAGE_KEY, token);
  else localStorage.removeItem(STORAGE_KEY);
  update({ token, tokenRequired: false });
}

export function requireToken(): void {
  if (!state.tokenRequired) update({ ...state, tokenRequired: true });
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
