import { afterEach, describe, expect, it, vi } from "vitest";
import { act, renderHook, waitFor } from "@testing-library/react";
import { chooseProject, signedIn, useAuth } from "../src/api/auth";
import { ApiError, api, websocketProtocols, websocketUrl } from "../src/api/client";
import type { Me } from "../src/api/types";

const ME: Me = {
  username: "vera",
  admin: false,
  via: "session",
  scopes: ["read", "write", "admin"],
  projects: [
    { id: "p1", name: "one", role: "viewer" },
    { id: "p2", name: "two", role: "owner" },
  ],
  csrf_token: "csrf-value",
};

afterEach(() => {
  document.cookie = "azuraforge_csrf=; expires=Thu, 01 Jan 1970 00:00:00 GMT";
  vi.unstubAllGlobals();
});

describe("api client", () => {
  it("sends the session's CSRF token with requests that change something, and no token at all", async () => {
    const fetch = vi.fn(async (_url: string, _init: RequestInit) => new Response("{}"));
    vi.stubGlobal("fetch", fetch);
    document.cookie = "azuraforge_csrf=csrf-value";
    await api.listApps();
    await api.cancelExperiment("x");
    const [read, change] = fetch.mock.calls.map((call) => new Headers(call[1].headers));
    expect(read!.get("X-CSRF-Token")).toBeNull();
    expect(change!.get("X-CSRF-Token")).toBe("csrf-value");
    expect(change!.get("Authorization")).toBeNull();
    expect(fetch.mock.calls[1]![1].credentials).toBe("same-origin");
    expect(localStorage.getItem("azuraforge.token")).toBeNull();
  });

  it("asks for a login on 401 and raises the API's detail", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => new Response(JSON.stringify({ detail: "not signed in" }), { status: 401 })));
    const auth = renderHook(() => useAuth());
    expect(auth.result.current.loginRequired).toBe(false);
    const error = await api.getExperiment("x").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).message).toBe("not signed in");
    await waitFor(() => expect(auth.result.current.loginRequired).toBe(true));
    act(() => signedIn(ME));
    expect(auth.result.current.loginRequired).toBe(false);
    expect(auth.result.current.project).toBe("p1"); // "default" is not among its projects
    act(() => chooseProject("p2"));
    expect(auth.result.current.project).toBe("p2");
    expect(localStorage.getItem("azuraforge.project")).toBe("p2");
  });

  it("opens WebSockets with the API's subprotocol only, never a token in the URL", () => {
    expect(websocketUrl("/ws/experiments/x", { after: 3 })).toMatch(/^ws:\/\/[^?]+\/ws\/experiments\/x\?after=3$/);
    expect(websocketProtocols()).toEqual(["azuraforge"]);
  });

  it("builds the list query from the filters that are set", async () => {
    const fetch = vi.fn(async (_url: string, _init: RequestInit) => new Response(JSON.stringify({ items: [], total: 0, limit: 50, offset: 0 })));
    vi.stubGlobal("fetch", fetch);
    await api.listExperiments({ project: "p1", status: "running", app: "", tag: "a b", sort: "-created_at", limit: 50 });
    expect(fetch.mock.calls[0]![0]).toBe("/api/v1/experiments?project=p1&status=running&tag=a+b&sort=-created_at&limit=50");
  });
});
