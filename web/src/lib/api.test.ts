import { describe, expect, it, vi } from "vitest";
import { ApiError, createApiClient, TokenStore, type KeyValueStorage, type TokenResponse } from "./api";

class MemStorage implements KeyValueStorage {
  m = new Map<string, string>();
  getItem(k: string) {
    return this.m.has(k) ? (this.m.get(k) as string) : null;
  }
  setItem(k: string, v: string) {
    this.m.set(k, v);
  }
  removeItem(k: string) {
    this.m.delete(k);
  }
}

const user = { id: "u1", email: "a@b.c", name: "A", role: "admin", tenant_id: "t1", tenant_name: "Acme" };
function tokenResponse(access: string, refresh: string): TokenResponse {
  return { access_token: access, refresh_token: refresh, token_type: "Bearer", expires_in: 900, user };
}
function json(status: number, body: unknown): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json" },
  });
}
function err(status: number, code: string, message: string): Response {
  return json(status, { error: { code, message, details: null } });
}
function authOf(init?: RequestInit): string | null {
  return new Headers(init?.headers).get("Authorization");
}

/** Fake backend: accepts exactly one valid access token; refresh rotates tokens. */
function fakeServer(opts: { refreshOk: boolean }) {
  let validAccess = "new-access";
  const calls: { path: string; auth: string | null; body?: unknown }[] = [];
  const fetch = vi.fn(async (path: string, init?: RequestInit) => {
    const body = init?.body ? JSON.parse(String(init.body)) : undefined;
    calls.push({ path, auth: authOf(init), body });
    if (path === "/auth/refresh") {
      // The refresh token is the cookie's: the client sends none itself.
      if (!opts.refreshOk || body.refresh_token !== undefined || init?.credentials !== "same-origin") {
        return err(401, "invalid_refresh_token", "Refresh token is invalid");
      }
      validAccess = "new-access";
      return json(200, tokenResponse("new-access", "new-refresh"));
    }
    if (path === "/auth/login") {
      if (body.password !== "secret") return err(401, "invalid_credentials", "Invalid email or password");
      return json(200, tokenResponse("new-access", "new-refresh"));
    }
    if (path === "/auth/logout") return new Response(null, { status: 204 });
    if (authOf(init) !== `Bearer ${validAccess}`) return err(401, "unauthorized", "token expired");
    if (path === "/api/companies/missing") return err(404, "not_found", "Company not found");
    return json(200, { ok: true, path });
  });
  return { fetch, calls };
}

function setup(refreshOk: boolean) {
  const storage = new MemStorage();
  const tokens = new TokenStore(storage);
  tokens.save(tokenResponse("old-access", "old-refresh"));
  const server = fakeServer({ refreshOk });
  const onAuthFailure = vi.fn();
  const api = createApiClient({ fetch: server.fetch, tokens, onAuthFailure });
  return { storage, tokens, server, onAuthFailure, api };
}

describe("api client auth refresh", () => {
  it("sends the bearer token", async () => {
    const { api, tokens, server } = setup(true);
    tokens.save(tokenResponse("new-access", "r"));
    await expect(api.request("/api/x")).resolves.toEqual({ ok: true, path: "/api/x" });
    expect(server.calls).toHaveLength(1);
    expect(server.calls[0].auth).toBe("Bearer new-access");
  });

  it("refreshes once on 401 and retries with the new token", async () => {
    const { api, tokens, server, onAuthFailure } = setup(true);
    const out = await api.request<{ ok: boolean }>("/api/analytics/dashboard");
    expect(out.ok).toBe(true);
    expect(server.calls.map((c) => c.path)).toEqual([
      "/api/analytics/dashboard",
      "/auth/refresh",
      "/api/analytics/dashboard",
    ]);
    expect(server.calls[1].body).toEqual({});
    expect(server.calls[2].auth).toBe("Bearer new-access");
    expect(tokens.get()).toEqual({ access: "new-access" });
    expect(onAuthFailure).not.toHaveBeenCalled();
  });

  it("shares a single refresh between concurrent 401s", async () => {
    const { api, server } = setup(true);
    const results = await Promise.all([api.request("/api/a"), api.request("/api/b"), api.request("/api/c")]);
    expect(results).toHaveLength(3);
    expect(server.calls.filter((c) => c.path === "/auth/refresh")).toHaveLength(1);
  });

  it("clears tokens and signals auth failure when refresh fails", async () => {
    const { api, tokens, server, onAuthFailure } = setup(false);
    await expect(api.request("/api/x")).rejects.toMatchObject({ status: 401 });
    expect(server.calls.map((c) => c.path)).toEqual(["/api/x", "/auth/refresh"]);
    expect(tokens.get()).toBeNull();
    expect(onAuthFailure).toHaveBeenCalledTimes(1);
  });

  it("surfaces the server error payload for non-401 errors", async () => {
    const { api, tokens } = setup(true);
    tokens.save(tokenResponse("new-access", "r"));
    const e = (await api.request("/api/companies/missing").catch((x: unknown) => x)) as ApiError;
    expect(e).toBeInstanceOf(ApiError);
    expect(e.status).toBe(404);
    expect(e.code).toBe("not_found");
    expect(e.message).toBe("Company not found");
  });

  it("login stores tokens; bad password yields the server message", async () => {
    const storage = new MemStorage();
    const tokens = new TokenStore(storage);
    const server = fakeServer({ refreshOk: true });
    const api = createApiClient({ fetch: server.fetch, tokens });
    const e = (await api.login("t1", "a@b.c", "wrong").catch((x: unknown) => x)) as ApiError;
    expect(e).toBeInstanceOf(ApiError);
    expect(e.message).toBe("Invalid email or password");
    expect(tokens.get()).toBeNull();
    const ok = await api.login("t1", "a@b.c", "secret");
    expect(ok.user.tenant_name).toBe("Acme");
    expect(server.calls.at(-1)?.body).toEqual({ tenant_id: "t1", email: "a@b.c", password: "secret" });
    expect(tokens.get()).toEqual({ access: "new-access" });
    expect(tokens.user()?.tenant_name).toBe("Acme");
    // The refresh token is never kept where script can read it.
    expect([...storage.m.values()].some((v) => v.includes("new-refresh"))).toBe(false);
  });

  it("a signed-in user without an access token still counts as signed in", () => {
    const storage = new MemStorage();
    const tokens = new TokenStore(storage);
    expect(tokens.signedIn()).toBe(false);
    tokens.save(tokenResponse("a", "r"));
    storage.removeItem("avesa.access_token");
    expect(tokens.signedIn()).toBe(true);
    tokens.clear();
    expect(tokens.signedIn()).toBe(false);
  });

  it("drops a refresh token an earlier version left in storage", () => {
    const storage = new MemStorage();
    storage.setItem("avesa.refresh_token", "legacy");
    new TokenStore(storage).save(tokenResponse("a", "r"));
    expect(storage.getItem("avesa.refresh_token")).toBeNull();
  });

  it("without an access token asks the cookie for one before giving up", async () => {
    const storage = new MemStorage();
    const tokens = new TokenStore(storage);
    const server = fakeServer({ refreshOk: true });
    const api = createApiClient({ fetch: server.fetch, tokens });
    await expect(api.request("/api/x")).resolves.toEqual({ ok: true, path: "/api/x" });
    expect(server.calls.map((c) => c.path)).toEqual(["/auth/refresh", "/api/x"]);
  });

  it("logout posts the refresh token and clears storage", async () => {
    const { api, tokens, server } = setup(true);
    await api.logout();
    expect(server.calls).toEqual([{ path: "/auth/logout", auth: "Bearer old-access", body: {} }]);
    expect(tokens.get()).toBeNull();
  });
});

describe("retrying a busy server", () => {
  it("waits out 429 and 503 a few times, gives up on other client errors, retries the rest once", async () => {
    const { shouldRetry, retryDelay, toApiError } = await import("./api");
    const busy = await toApiError(
      new Response(JSON.stringify({ error: { code: "rate_limited", message: "busy" } }), { status: 429, headers: { "Retry-After": "2" } }),
    );
    expect(busy.retryAfter).toBe(2);
    expect(shouldRetry(0, busy)).toBe(true);
    expect(shouldRetry(3, busy)).toBe(true);
    expect(shouldRetry(4, busy)).toBe(false);
    const d = retryDelay(0, busy);
    expect(d).toBeGreaterThanOrEqual(1500);
    expect(d).toBeLessThanOrEqual(2500);
    const gone = await toApiError(new Response("{}", { status: 404 }));
    expect(gone.retryAfter).toBeNull();
    expect(shouldRetry(0, gone)).toBe(false);
    expect(shouldRetry(0, new Error("network"))).toBe(true);
    expect(shouldRetry(1, new Error("network"))).toBe(false);
    expect(retryDelay(10, new Error("x"))).toBeLessThanOrEqual(10_000);
  });
});
