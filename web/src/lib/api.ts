// API client with bearer auth and a single transparent refresh on 401.
// Everything here is framework-free so it can be unit-tested with a fake fetch.
//
// The refresh token never reaches script: the server sets it as an HttpOnly, Secure,
// SameSite=Strict cookie scoped to /auth, and /auth/refresh and /auth/logout read it
// from there. Only the short-lived access token is kept in storage.

export interface User {
  id: string;
  email: string;
  name: string;
  role: string;
  tenant_id: string;
  tenant_name: string;
}

export interface TokenResponse {
  access_token: string;
  refresh_token: string;
  token_type: string;
  expires_in: number;
  user: User;
}

export interface Tokens {
  access: string;
}

/** Error carrying the server's {"error":{code,message,details}} payload. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: unknown;
  /** Seconds the server asked to wait before trying again (`Retry-After`), if it did. */
  readonly retryAfter: number | null;
  constructor(status: number, code: string, message: string, details?: unknown, retryAfter: number | null = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
    this.retryAfter = retryAfter;
  }
}

/** Whether a failed read is worth trying again: the server was busy (429, 503) or did
 *  not answer; other client errors (401/403/404/422 …) are final. At most `busyTries`
 *  for a busy server, one for anything else. */
export function shouldRetry(count: number, error: unknown, busyTries = 4): boolean {
  if (error instanceof ApiError) {
    if (error.status === 429 || error.status === 503) return count < busyTries;
    if (error.status >= 400 && error.status < 500) return false;
  }
  return count < 1;
}

/** How long before try `count + 1`: what the server asked (`Retry-After`, at most 30 s),
 *  else a doubling delay from half a second, with some jitter so a page's many requests
 *  do not all come back at once. */
export function retryDelay(count: number, error: unknown): number {
  const jitter = 0.75 + Math.random() * 0.5;
  if (error instanceof ApiError && error.retryAfter !== null) return Math.min(30, error.retryAfter) * 1000 * jitter;
  return Math.min(8000, 500 * 2 ** count) * jitter;
}

export interface KeyValueStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export const ACCESS_KEY = "avesa.access_token";
/** Where earlier versions kept the refresh token; removed wherever it is found. */
export const LEGACY_REFRESH_KEY = "avesa.refresh_token";
export const USER_KEY = "avesa.user";

export class TokenStore {
  constructor(private readonly storage: KeyValueStorage) {}
  get(): Tokens | null {
    const access = this.storage.getItem(ACCESS_KEY);
    return access ? { access } : null;
  }
  access(): string | null {
    return this.storage.getItem(ACCESS_KEY);
  }
  /** Whether a session may stand: an access token, or a signed-in user whose refresh
   *  cookie (invisible to script) can mint one. */
  signedIn(): boolean {
    return this.access() !== null || this.user() !== null;
  }
  user(): User | null {
    const raw = this.storage.getItem(USER_KEY);
    if (!raw) return null;
    try {
      return JSON.parse(raw) as User;
    } catch {
      return null;
    }
  }
  save(t: TokenResponse): void {
    this.storage.setItem(ACCESS_KEY, t.access_token);
    this.storage.removeItem(LEGACY_REFRESH_KEY);
    if (t.user) this.storage.setItem(USER_KEY, JSON.stringify(t.user));
  }
  clear(): void {
    this.storage.removeItem(ACCESS_KEY);
    this.storage.removeItem(LEGACY_REFRESH_KEY);
    this.storage.removeItem(USER_KEY);
  }
}

type FetchFn = (input: string, init?: RequestInit) => Promise<Response>;

/** Reads an error response into an ApiError, tolerating non-JSON bodies. */
export async function toApiError(res: Response): Promise<ApiError> {
  let code = `http_${res.status}`;
  let message = res.statusText || `Request failed with status ${res.status}`;
  let details: unknown;
  try {
    const text = await res.text();
    if (text) {
      const body = JSON.parse(text) as { error?: { code?: string; message?: string; details?: unknown } };
      if (body && body.error) {
        if (body.error.code) code = body.error.code;
        if (body.error.message) message = body.error.message;
        details = body.error.details;
      }
    }
  } catch {
    // keep defaults
  }
  const raw = res.headers?.get?.("retry-after");
  const after = raw ? Number(raw) : NaN;
  return new ApiError(res.status, code, message, details, Number.isFinite(after) && after >= 0 ? after : null);
}

async function parseBody<T>(res: Response): Promise<T> {
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

export interface ApiClientOptions {
  fetch: FetchFn;
  tokens: TokenStore;
  /** Called once when the session can't be recovered (refresh failed / no tokens). */
  onAuthFailure?: () => void;
  /** Base URL prefix; "" for same-origin relative URLs. */
  baseUrl?: string;
}

export interface ApiClient {
  /** Authenticated JSON request; refreshes once on 401 then retries. */
  request<T>(path: string, init?: RequestInit): Promise<T>;
  /** Authenticated download (a CSV export; a PDF with `accept`): the body and the file
   *  name the server gave. */
  download(path: string, accept?: string): Promise<{ blob: Blob; filename: string | null }>;
  login(tenantId: string, email: string, password: string): Promise<TokenResponse>;
  logout(): Promise<void>;
  /** Exchanges the refresh cookie for new tokens; concurrent callers share one request. */
  refresh(): Promise<boolean>;
}

export function createApiClient(opts: ApiClientOptions): ApiClient {
  const { tokens } = opts;
  const base = opts.baseUrl ?? "";
  const doFetch: FetchFn = (input, init) => opts.fetch(input, init);
  let inflightRefresh: Promise<boolean> | null = null;

  function jsonInit(method: string, body: unknown): RequestInit {
    return {
      method,
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
      // The refresh cookie travels on same-origin requests only.
      credentials: "same-origin",
    };
  }

  function refresh(): Promise<boolean> {
    if (inflightRefresh) return inflightRefresh;
    inflightRefresh = (async () => {
      try {
        const res = await doFetch(`${base}/auth/refresh`, jsonInit("POST", {}));
        if (!res.ok) return false;
        const body = await parseBody<TokenResponse>(res);
        if (!body || !body.access_token) return false;
        tokens.save(body);
        return true;
      } catch {
        return false;
      } finally {
        inflightRefresh = null;
      }
    })();
    return inflightRefresh;
  }

  function authFailed(): never {
    tokens.clear();
    opts.onAuthFailure?.();
    throw new ApiError(401, "unauthorized", "Your session has expired. Please sign in again.");
  }

  function withAuth(init: RequestInit | undefined, access: string | null): RequestInit {
    const headers = new Headers(init?.headers);
    if (!headers.has("Accept")) headers.set("Accept", "application/json");
    if (access) headers.set("Authorization", `Bearer ${access}`);
    return { ...init, headers };
  }

  async function request<T>(path: string, init?: RequestInit): Promise<T> {
    return parseBody<T>(await send(path, init));
  }

  async function download(path: string, accept = "text/csv"): Promise<{ blob: Blob; filename: string | null }> {
    const res = await send(path, { headers: { Accept: accept } });
    const disposition = res.headers.get("content-disposition") ?? "";
    const m = /filename="([^"]+)"/.exec(disposition);
    return { blob: await res.blob(), filename: m ? m[1] : null };
  }

  /** Sends with the access token; refreshes once on 401 then retries; throws on errors. */
  async function send(path: string, init?: RequestInit): Promise<Response> {
    let used = tokens.access();
    if (!used) {
      // A new tab or an expired session: the refresh cookie may still stand.
      if (!(await refresh())) authFailed();
      used = tokens.access();
    }
    let res = await doFetch(`${base}${path}`, withAuth(init, used));
    if (res.status === 401) {
      // Another request may already have refreshed the token meanwhile.
      const current = tokens.access();
      let ok = current !== null && current !== used;
      if (!ok) ok = await refresh();
      if (!ok) authFailed();
      res = await doFetch(`${base}${path}`, withAuth(init, tokens.access()));
      if (res.status === 401) authFailed();
    }
    if (!res.ok) throw await toApiError(res);
    return res;
  }

  async function login(tenantId: string, email: string, password: string): Promise<TokenResponse> {
    let res: Response;
    try {
      res = await doFetch(
        `${base}/auth/login`,
        jsonInit("POST", { tenant_id: tenantId, email, password }),
      );
    } catch {
      throw new ApiError(0, "network_error", "Could not reach the server. Please try again.");
    }
    if (!res.ok) throw await toApiError(res);
    const body = await parseBody<TokenResponse>(res);
    tokens.save(body);
    return body;
  }

  async function logout(): Promise<void> {
    try {
      const init = withAuth(jsonInit("POST", {}), tokens.access());
      await doFetch(`${base}/auth/logout`, init);
    } catch {
      // Logging out locally must succeed even if the server is unreachable.
    } finally {
      tokens.clear();
    }
  }

  return { request, download, login, logout, refresh };
}
