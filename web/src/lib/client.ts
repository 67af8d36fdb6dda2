// The app-wide API client singleton (browser: localStorage + window.fetch).
import { createApiClient, TokenStore, type KeyValueStorage } from "./api";

export const AUTH_FAILURE_EVENT = "avesa:auth-failure";

function browserStorage(): KeyValueStorage {
  try {
    const k = "__avesa_probe__";
    window.localStorage.setItem(k, "1");
    window.localStorage.removeItem(k);
    return window.localStorage;
  } catch {
    const m = new Map<string, string>();
    return {
      getItem: (key) => m.get(key) ?? null,
      setItem: (key, v) => void m.set(key, v),
      removeItem: (key) => void m.delete(key),
    };
  }
}

export const tokens = new TokenStore(browserStorage());

export const api = createApiClient({
  fetch: (input, init) => window.fetch(input, init),
  tokens,
  onAuthFailure: () => window.dispatchEvent(new Event(AUTH_FAILURE_EVENT)),
});
