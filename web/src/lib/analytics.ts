// The analytics routes' shapes, and the dashboard's state in the URL (period, custom
// dates, filters) turned into the API's query strings. Framework-free: unit-tested in
// analytics.test.ts.

/** How often an open dashboard reads its figures again. */
export const DASHBOARD_REFRESH_MS = 120_000;

export type Unit = "count" | "hours" | "percent" | "money" | "rate";
export type GoalStatus = "met" | "at_risk" | "missed";

export interface PeriodView {
  from: string;
  to: string;
  label: string;
  tz: string;
}

export interface Comparison {
  period: PeriodView;
  value: number | null;
  change: number | null;
  change_pct: number | null;
  trend: "up" | "down" | "flat" | null;
  assessment: "better" | "worse" | "same" | null;
}

export interface GoalView {
  target: number;
  direction: "at_least" | "at_most";
  warning_band: number;
  period: string | null;
  applies: boolean;
  pace_target: number | null;
  status: GoalStatus | null;
}

export interface GroupView {
  key: string | null;
  label: string;
  value: number | null;
  previous_value?: number | null;
  drill?: string;
}

export interface MetricView {
  metric: string;
  label: string;
  unit: Unit;
  better: "higher" | "lower";
  period: PeriodView;
  value: number | null;
  available: boolean;
  previous?: Comparison;
  groups?: GroupView[];
  ignored_filters: string[];
  as_of?: string;
  drill: string;
  goal?: GoalView;
  expression?: string;
}

export interface Point {
  start: string;
  from: string;
  to: string;
  value: number | null;
}

export interface SeriesView {
  metric: string;
  label: string;
  unit: Unit;
  interval: string;
  current: { period: PeriodView; points: Point[] };
  previous?: { period: PeriodView; points: Point[] };
  ignored_filters: string[];
}

/** `GET /api/analytics/{companies,members}/{id}/report`: a company's or technician's
 *  figures for a period, their trends and breakdowns. */
export interface ReportView {
  id: string;
  /** Its name (as of `as_of`). */
  name: string | null;
  period: PeriodView;
  metrics: MetricView[];
  series: SeriesView[];
  breakdowns: MetricView[];
}

/** The periods the picker offers (the API knows more; a URL may name any of them). */
export const PERIODS: { id: string; label: string }[] = [
  { id: "7d", label: "7 days" },
  { id: "30d", label: "30 days" },
  { id: "90d", label: "90 days" },
  { id: "this_month", label: "This month" },
  { id: "this_quarter", label: "This quarter" },
  { id: "custom", label: "Custom" },
];
export const DEFAULT_PERIOD = "30d";

/** The dashboard's filter bar, in order; each is a URL parameter of the same name. */
export const FILTERS: { key: string; label: string; group: string }[] = [
  { key: "board", label: "Board", group: "board" },
  { key: "status", label: "Status", group: "status" },
  { key: "priority", label: "Priority", group: "priority" },
  { key: "company", label: "Company", group: "company" },
  { key: "member", label: "Technician", group: "member" },
  { key: "service", label: "Service", group: "service" },
];

/** "Not filtered by board or status": the filters a figure's records do not carry (the
 *  API's `ignored_filters`), or null when every filter applies. */
export function ignoredNote(ignored: readonly string[] | undefined): string | null {
  if (!ignored?.length) return null;
  const names = ignored.map((k) => FILTERS.find((f) => f.key === k)?.label.toLowerCase() ?? k.replace(/_/g, " "));
  const list = names.length === 1 ? names[0] : `${names.slice(0, -1).join(", ")} or ${names[names.length - 1]}`;
  return `Not filtered by ${list}`;
}

/** The period, dates, filters and `as_of` of a page's URL, as the analytics routes'
 *  query string (without `?`). A custom period without a start falls back to the
 *  default period. */
export function analyticsQuery(url: URLSearchParams, extra: Record<string, string> = {}): string {
  const qs = new URLSearchParams();
  const period = url.get("period") ?? DEFAULT_PERIOD;
  const from = url.get("from");
  if (period === "custom" && from) {
    qs.set("from", from);
    const to = url.get("to");
    if (to) qs.set("to", to);
  } else {
    qs.set("period", period === "custom" ? DEFAULT_PERIOD : period);
  }
  for (const f of FILTERS) {
    const v = url.get(f.key);
    if (v) qs.set(f.key, v);
  }
  const asOf = url.get("as_of");
  if (asOf) qs.set("as_of", asOf);
  for (const [k, v] of Object.entries(extra)) qs.set(k, v);
  return qs.toString();
}

/** The UI list behind an API drill URL (`/api/tickets?status=New` -> `/tickets?status=New`). */
export function drillPath(apiUrl: string | undefined): string | undefined {
  if (!apiUrl || !apiUrl.startsWith("/api/")) return undefined;
  return apiUrl.slice(4);
}

const moneyFmt = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", maximumFractionDigits: 0 });
const rateFmt = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", maximumFractionDigits: 2 });
const intFmt = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const oneFmt = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 });
const hoursFmt = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 });

/** A metric's value as the user reads it; null (not available) is "n/a", never 0. */
export function formatMetric(unit: Unit, v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return "n/a";
  switch (unit) {
    case "count":
      return intFmt.format(v);
    case "hours":
      return `${hoursFmt.format(v)} h`;
    case "percent":
      return `${oneFmt.format(v)}%`;
    case "money":
      return moneyFmt.format(v);
    case "rate":
      return `${rateFmt.format(v)}/h`;
  }
}

/** "+12.5%" / "−3" / "no change": the change against the previous period. */
export function formatChange(unit: Unit, c: Comparison | undefined): string | undefined {
  if (!c || c.change === null) return undefined;
  if (c.change === 0) return "no change";
  const sign = c.change > 0 ? "+" : "−";
  if (c.change_pct !== null && unit !== "percent") return `${sign}${oneFmt.format(Math.abs(c.change_pct))}%`;
  const abs = Math.abs(c.change);
  const body = unit === "percent" ? `${oneFmt.format(abs)} pts` : formatMetric(unit, abs);
  return `${sign}${body}`;
}

/** The colour family of a goal status (null: no goal or it does not apply). */
export function goalTone(s: GoalStatus | null | undefined): "green" | "amber" | "red" | "slate" {
  return s === "met" ? "green" : s === "at_risk" ? "amber" : s === "missed" ? "red" : "slate";
}

export const GOAL_LABEL: Record<GoalStatus, string> = { met: "Goal met", at_risk: "At risk", missed: "Goal missed" };

/** One colour per kind of ticket status, the same on every chart and badge: a CSS colour
 *  from index.css's chart palette, whose shades follow the light or dark theme. */
export function statusColor(status: string | null | undefined): string {
  const s = (status ?? "").toLowerCase();
  if (/closed|resolved|complete|cancel/.test(s)) return "var(--chart-emerald)";
  if (/wait|hold|pending|scheduled/.test(s)) return "var(--chart-amber)";
  if (/escalat|critical|urgent/.test(s)) return "var(--chart-red)";
  if (/progress|assigned|working|active/.test(s)) return "var(--chart-indigo)";
  if (/new|open|received|triage/.test(s)) return "var(--chart-sky)";
  return "var(--chart-grey)";
}

/** Priority colours: the most urgent red, down to grey (as statusColor, CSS colours). */
export function priorityColor(priority: string | null | undefined): string {
  const s = (priority ?? "").toLowerCase();
  if (/1|critical|emergency|urgent/.test(s)) return "var(--chart-red)";
  if (/2|high/.test(s)) return "var(--chart-orange)";
  if (/3|medium|moderate|normal/.test(s)) return "var(--chart-amber)";
  if (/4|low/.test(s)) return "var(--chart-sky)";
  return "var(--chart-grey)";
}

/** Backlog ageing buckets from fresh (green) to old (deep red), by the bucket's label
 *  ("0–1 days" … "30+ days"; the API's keys are the buckets' positions, oldest first). */
export function ageColor(bucket: string | null | undefined): string {
  const from = parseInt(bucket ?? "", 10);
  if (!Number.isFinite(from)) return "var(--chart-grey)";
  if (bucket?.includes("+") || from > 30) return "var(--chart-deep-red)";
  return from <= 1
    ? "var(--chart-emerald)"
    : from <= 3
      ? "var(--chart-lime)"
      : from <= 7
        ? "var(--chart-amber)"
        : from <= 14
          ? "var(--chart-orange)"
          : "var(--chart-red)";
}
