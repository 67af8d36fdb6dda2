// Saved views: a user's named views of a page (a list's filters, search, sort and page
// size; the dashboard's period and filters), kept by the API (`/api/views`) as the page's
// query string. What a view holds, how it is compared with the page on screen, where it
// opens, and the name checks the API makes (so the dialog can say so before sending).

/** A view as `/api/views` answers it. */
export interface SavedView {
  id: string;
  /** `dashboard`, or a list's resource (`tickets`, `time-entries` …). */
  page: string;
  name: string;
  /** The page's query string, without `?`. */
  query: string;
  created_at: string;
  updated_at: string;
}

/** The page a view of the dashboard is for. */
export const DASHBOARD_PAGE = "dashboard";

/** URL parameters that are not part of a view: where a list is paged to. */
export const NOT_IN_VIEW: ReadonlySet<string> = new Set(["page"]);

/** The API's limits (crates/avesa-api/src/views.rs). */
export const MAX_VIEW_NAME_CHARS = 80;
export const MAX_VIEW_QUERY_BYTES = 2000;

/**
 * The view of a page's URL parameters: everything but paging (`page`), without empty
 * values, in a canonical order (by name; repeated names keep their order), encoded as
 * `URLSearchParams` encodes (which is what the API accepts). Two URLs showing the same
 * view give the same string.
 */
export function viewQuery(params: URLSearchParams | string): string {
  const source = typeof params === "string" ? new URLSearchParams(params) : params;
  const kept = [...source.entries()].filter(([k, v]) => k !== "" && v !== "" && !NOT_IN_VIEW.has(k));
  // Array.prototype.sort is stable: a repeated parameter keeps its values' order.
  kept.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return new URLSearchParams(kept).toString();
}

/** Whether the page's parameters show `view` (its query). */
export function showsView(params: URLSearchParams | string, view: Pick<SavedView, "query">): boolean {
  return viewQuery(params) === viewQuery(view.query);
}

/** The app's path of a page (`dashboard` is the root). */
export function pagePath(page: string): string {
  return page === DASHBOARD_PAGE ? "/" : `/${page}`;
}

/** Where a view opens: its page with its query. */
export function viewHref(view: Pick<SavedView, "page" | "query">): string {
  const q = viewQuery(view.query);
  return q ? `${pagePath(view.page)}?${q}` : pagePath(view.page);
}

/** The API's path of a page's views. */
export function viewsPath(page: string): string {
  return `/api/views?page=${encodeURIComponent(page)}`;
}

/** The API's path of one view. */
export function viewPath(id: string): string {
  return `/api/views/${encodeURIComponent(id)}`;
}

// C0 and C1 control characters, as the API's check (Rust's char::is_control).
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** A name as the API will store it (trimmed), or why the API would refuse it. */
export function checkViewName(raw: string): { name: string } | { error: string } {
  const name = raw.trim();
  if (!name) return { error: "Give the view a name." };
  const chars = [...name].length;
  if (chars > MAX_VIEW_NAME_CHARS) return { error: `At most ${MAX_VIEW_NAME_CHARS} characters (this is ${chars}).` };
  if (CONTROL.test(name)) return { error: "A name cannot hold line breaks, tabs or other control characters." };
  return { name };
}

/** A view's query for a person: `status: New, sort: opened_at` ("" for none). */
export function describeQuery(query: string): string {
  return [...new URLSearchParams(query).entries()]
    .filter(([k, v]) => k !== "" && v !== "")
    .map(([k, v]) => `${k.replace(/_/g, " ")}: ${v}`)
    .join(", ");
}

/** Whether a query is too long for the API to keep. */
export function queryTooLong(query: string): boolean {
  return new TextEncoder().encode(query).length > MAX_VIEW_QUERY_BYTES;
}

/** Views in the order a menu shows them: by name, as people sort (case and accents aside). */
export function sortViews<T extends Pick<SavedView, "name">>(views: readonly T[]): T[] {
  const exact = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return [...views].sort(
    (a, b) => a.name.localeCompare(b.name, undefined, { sensitivity: "base", numeric: true }) || exact(a.name, b.name),
  );
}
