// Pure formatting helpers (unit-tested in format.test.ts).

const intFmt = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const hoursFmt = new Intl.NumberFormat("en-US", {
  minimumFractionDigits: 1,
  maximumFractionDigits: 2,
});
const decimalFmt = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 });

function isNum(n: unknown): n is number {
  return typeof n === "number" && Number.isFinite(n);
}

/** 20000 -> "20,000". Non-numbers -> "—". */
export function formatInt(n: number | null | undefined): string {
  return isNum(n) ? intFmt.format(Math.round(n)) : "—";
}

/** Hours to the hundredth (time is logged in quarter hours): 2.25 -> "2.25", 7 -> "7.0",
 *  12345.5 -> "12,345.5". Non-numbers -> "—". */
export function formatHours(n: number | null | undefined): string {
  return isNum(n) ? hoursFmt.format(n) : "—";
}

/** Generic number with up to 2 decimals: 1234.5 -> "1,234.5". */
export function formatDecimal(n: number | null | undefined): string {
  return isNum(n) ? decimalFmt.format(n) : "—";
}

const ISO_RE = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;

/** True for strings that look like an ISO-8601 date or date-time. */
export function isIsoDate(v: unknown): v is string {
  return typeof v === "string" && ISO_RE.test(v) && !Number.isNaN(Date.parse(v));
}

/** Formats an RFC3339 / ISO string for display; date-only strings stay date-only. */
/** A time compact enough for a table cell: the year only when it is not this year's. */
export function formatShortDateTime(v: string | null | undefined, now: Date = new Date()): string {
  if (!v) return "—";
  if (!isIsoDate(v) || /^\d{4}-\d{2}-\d{2}$/.test(v)) return formatDateTime(v);
  const d = new Date(v);
  return d.toLocaleString("en-US", {
    year: d.getFullYear() === now.getFullYear() ? undefined : "numeric",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
  });
}

export function formatDateTime(v: string | null | undefined): string {
  if (!v) return "—";
  if (!isIsoDate(v)) return v;
  if (/^\d{4}-\d{2}-\d{2}$/.test(v)) return v;
  const d = new Date(v);
  return d.toLocaleString("en-US", {
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
  });
}

/** The date of an RFC3339 / ISO string for display ("May 1, 2024", in this browser's
 *  zone); date-only strings stay as they are. */
export function formatDate(v: string | null | undefined): string {
  if (!v) return "—";
  if (!isIsoDate(v)) return v;
  if (/^\d{4}-\d{2}-\d{2}$/.test(v)) return v;
  return new Date(v).toLocaleDateString("en-US", { year: "numeric", month: "short", day: "numeric" });
}

/** "3 minutes ago" style relative time; `now` injectable for tests. */
export function formatRelative(v: string | null | undefined, now: number = Date.now()): string {
  if (!v) return "never";
  const t = Date.parse(v);
  if (Number.isNaN(t)) return v;
  const s = Math.round((now - t) / 1000);
  const abs = Math.abs(s);
  const suffix = s >= 0 ? "ago" : "from now";
  const unit = (n: number, w: string) => `${n} ${w}${n === 1 ? "" : "s"} ${suffix}`;
  if (abs < 45) return "just now";
  if (abs < 3600) return unit(Math.max(1, Math.round(abs / 60)), "minute");
  if (abs < 86400) return unit(Math.round(abs / 3600), "hour");
  return unit(Math.round(abs / 86400), "day");
}

/** Human label for a snake_case field name: "annual_revenue" -> "Annual revenue". */
export function fieldLabel(key: string): string {
  if (key === "id") return "ID";
  const s = key.replace(/_/g, " ").replace(/\bid\b/g, "ID").replace(/\bsla\b/gi, "SLA");
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** Display any scalar record value as text. */
export function formatValue(v: unknown): string {
  if (v === null || v === undefined || v === "") return "—";
  if (typeof v === "boolean") return v ? "Yes" : "No";
  if (typeof v === "number") return formatDecimal(v);
  if (typeof v === "string") return isIsoDate(v) ? formatDateTime(v) : v;
  return JSON.stringify(v);
}

/** ConnectWise's billable options as people say them. */
export const BILLABLE_LABELS: Record<string, string> = {
  Billable: "Billable",
  DoNotBill: "Do not bill",
  NoCharge: "No charge",
  NoDefault: "No default",
};

/** A billable option's label (unknown codes as they are). */
export function billableLabel(v: string | null | undefined): string {
  if (!v) return "—";
  return BILLABLE_LABELS[v] ?? v;
}

/** How deep the API lists: `page × page_size` at most this (past it, narrow the list or
 *  sort it the other way; crates/avesa-api/src/entities.rs, MAX_RESULT_WINDOW). */
export const MAX_LISTED = 10_000;

/** The pages a list can be paged to: all of them, or those within [`MAX_LISTED`]. */
export function pageLimit(total: number, pageSize: number): number {
  const all = pageCount(total, pageSize);
  if (!isNum(pageSize) || pageSize <= 0) return all;
  return Math.min(all, Math.max(1, Math.floor(MAX_LISTED / pageSize)));
}

/** Total number of pages (at least 1). */
export function pageCount(total: number, pageSize: number): number {
  if (!isNum(total) || !isNum(pageSize) || pageSize <= 0) return 1;
  return Math.max(1, Math.ceil(total / pageSize));
}
