import { afterEach, describe, expect, it, vi } from "vitest";
import { act, renderHook, waitFor } from "@testing-library/react";
import { saveToken, useAuth } from "../src/api/auth";
import { ApiError, api, websocketProtocols, websocketUrl } from "../src/api/client";

afterEach(() => {
  saveToken(null);
  vi.unstubAllGlobals();
});

describe("api client", () => {
  it("sends the stored token as a Bearer header and keeps it in localStorage", async () => {
    const fetch = vi.fn(async (_url: string, _init: RequestInit) => new Response("[]"));
    vi.stubGlobal("fetch", fetch);
    saveToken("s3cret");
    await api.listApps();
    expect(new Headers(fetch.mock.calls[0]![1].headers).get("Authorization")).toBe("Bearer s3cret");
    expect(localStorage.getItem("azuraforge.token")).toBe("s3cret");
  });

  it("asks for a token on 401 and raises the API's detail", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => new Response(JSON.stringify({ detail: "Missing or invalid token" }), { status: 401 })));
    const auth = renderHook(() => useAuth());
    expect(auth.result.current.tokenRequired).toBe(false);
    const error = await api.getExperiment("x").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).message).toBe("Missing or invalid token");
    await waitFor(() => expect(auth.result.current.tokenRequired).toBe(true));
    act(() => saveToken("new"));
    expect(auth.result.current).toEqual({ token: "new", tokenRequired: false });
  });

  it("sends the token to WebSockets as a subprotocol, never in the URL", () => {
    saveToken("s3cr/t+é");
    expect(websocketUrl("/ws/experiments/x", { after: 3 })).toMatch(/^ws:\/\/[^?]+\/ws\/experiments\/x\?after=3$/);
    const [protocol, bearer] = websocketProtocols();
    expect(protocol).toBe("azuraforge");
    expect(bearer).toMatch(/^bearer\.[A-Za-z0-9_-]+$/);
    const encoded = bearer!.slice("bearer.".length).replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(encoded + "=".repeat((4 - (encoded.length % 4)) % 4)), (c) => c.charCodeAt(0));
    expect(new TextDecoder().decode(bytes)).toBe("s3cr/t+é");
    saveToken(null);
    expect(websocketProtocols()).toEqual(["azuraforge"]);
  });

  it("builds the list query from the filters that are set", async () => {
    const fetch = vi.fn(async (_url: string, _init: RequestInit) => new Response(JSON.stringify({ items: [], total: 0, limit: 50, offset: 0 })));
    vi.stubGlobal("fetch", fetch);
    await api.listExperiments({ status: "running", app: "", tag: "a b", sort: "-created_at", limit: 50 });
    expect(fetch.mock.calls[0]![0]).toBe("/api/v1/experiments?status=running&tag=a+b&sort=-created_at&limit=50");
  });
});
