// Goals: a tenant's targets on metrics (tenant settings, see the API's
// crates/avesa-api/src/tenant_settings.rs). Everyone reads them (`GET
// /api/analytics/goals`, and every metric answer's `goal`); tenant and platform admins
// set and remove them (`PUT` / `DELETE /api/admin/goals/{metric}`).
//
// The goal form's state, its checks, the body it sends, and the API's 400s mapped back
// onto its fields. Framework-free: unit-tested in goals.test.ts.
import { DEFAULT_PERIOD, formatMetric, type GoalView, type MetricView, type Unit } from "./analytics";
import { ApiError } from "./api";

export type Direction = "at_least" | "at_most";
/** The calendar span a goal is for (a month's tickets); null: any period. */
export type Span = "day" | "week" | "month" | "quarter" | "year";

/** A goal as stored (`GET /api/analytics/goals` items' `goal`). */
export interface Goal {
  target: number;
  direction: Direction;
  warning_band: number;
  period: Span | null;
}

export interface GoalEntry {
  metric: string;
  label: string;
  goal: Goal;
}

/** `GET /api/analytics/metrics`: what the goals page needs of each metric. */
export interface MetricInfo {
  id: string;
  label: string;
  description: string;
  unit: Unit;
  better: "higher" | "lower";
  goal: Goal | null;
}

/** The body of `PUT /api/admin/goals/{metric}` (the API's `GoalInput`). */
export interface GoalInput {
  target: number;
  direction: Direction;
  warning_band: number;
  period: Span | null;
}

export const SPANS: { id: Span; label: string; per: string }[] = [
  { id: "day", label: "Each day", per: "a day" },
  { id: "week", label: "Each week", per: "a week" },
  { id: "month", label: "Each month", per: "a month" },
  { id: "quarter", label: "Each quarter", per: "a quarter" },
  { id: "year", label: "Each year", per: "a year" },
];

/** Who may change goals (the API's own rule: tenant and platform admins). */
export function canEditGoals(role: string | null | undefined): boolean {
  return role === "tenant_admin" || role === "platform_admin";
}

/** Units whose value grows with the period's length: their goals are for a span. */
export function additive(unit: Unit): boolean {
  return unit === "count" || unit === "hours" || unit === "money";
}

/** The span of a named period of the period picker (30 days count as a month, as the
 *  API does); null for a custom period. */
export function spanOfPeriod(period: string | null | undefined): Span | null {
  switch (period ?? DEFAULT_PERIOD) {
    case "today":
    case "yesterday":
      return "day";
    case "7d":
    case "this_week":
    case "last_week":
      return "week";
    case "30d":
    case "this_month":
    case "last_month":
      return "month";
    case "90d":
    case "this_quarter":
    case "last_quarter":
      return "quarter";
    case "this_year":
    case "last_year":
      return "year";
    default:
      return null;
  }
}

/** The running period a goal's "current status" is read over: its span so far (this
 *  month for a monthly goal, held to the share of the target the time passed calls
 *  for), or the default period for a goal for any period. */
export function statusPeriod(span: Span | null): string {
  switch (span) {
    case "day":
      return "today";
    case "week":
      return "this_week";
    case "month":
      return "this_month";
    case "quarter":
      return "this_quarter";
    case "year":
      return "this_year";
    default:
      return DEFAULT_PERIOD;
  }
}

/** "this month so far" / "the last 30 days": the words for `statusPeriod`. */
export function statusPeriodLabel(span: Span | null): string {
  return span === "day" ? "today so far" : span ? `this ${span} so far` : "the last 30 days";
}

/** The KPI requests that give each goal's current status: one per period, at most 24
 *  metrics each (the API's limit), as `{period, metrics}`. */
export function statusRequests(goals: Pick<GoalEntry, "metric" | "goal">[], max = 24): { period: string; metrics: string[] }[] {
  const byPeriod = new Map<string, string[]>();
  for (const g of goals) {
    const p = statusPeriod(g.goal.period);
    const list = byPeriod.get(p) ?? [];
    list.push(g.metric);
    byPeriod.set(p, list);
  }
  const out: { period: string; metrics: string[] }[] = [];
  for (const [period, metrics] of byPeriod) {
    for (let i = 0; i < metrics.length; i += max) out.push({ period, metrics: metrics.slice(i, i + max) });
  }
  return out;
}

/** A goal in words: "≤ 300 a month", "≥ 95%". */
export function describeTarget(goal: { target: number; direction: Direction; period: string | null }, unit: Unit): string {
  const sign = goal.direction === "at_least" ? "≥" : "≤";
  const per = goal.period ? ` ${SPANS.find((s) => s.id === goal.period)?.per ?? `a ${goal.period}`}` : "";
  return `${sign} ${formatMetric(unit, goal.target)}${per}`;
}

/** The warning band in words ("none" for 0). */
export function describeBand(goal: Pick<Goal, "warning_band">, unit: Unit): string {
  if (!goal.warning_band) return "none";
  return unit === "percent" ? `${formatMetric("count", goal.warning_band)} pts` : formatMetric(unit, goal.warning_band);
}

export function periodLabel(span: string | null): string {
  return span ? (SPANS.find((s) => s.id === span)?.label ?? span) : "Any period";
}

/** What the unit's input is written in, shown beside the fields. */
export function unitSuffix(unit: Unit): string {
  switch (unit) {
    case "count":
      return "";
    case "hours":
      return "hours";
    case "percent":
      return "%";
    case "money":
      return "$";
    case "rate":
      return "$/h";
  }
}

// ---- the form ----

/** The goal dialog's fields, as typed. */
export interface GoalForm {
  target: string;
  direction: Direction;
  /** "" is any period. */
  period: Span | "";
  warning_band: string;
}

export type GoalField = keyof GoalForm;
export const GOAL_FIELDS: GoalField[] = ["target", "direction", "period", "warning_band"];
/** Messages by field; `form` for what names no field. */
export type GoalErrors = Partial<Record<GoalField | "form", string>>;

export function directionOf(better: "higher" | "lower"): Direction {
  return better === "higher" ? "at_least" : "at_most";
}

/** The form for a metric: its goal's values, or for a new goal the metric's own direction,
 *  no band, and for a count, hours or money the span of the period being looked at (a
 *  month if that is none), so the new goal applies to the figure on screen. */
export function goalForm(
  m: Pick<MetricView, "unit" | "better">,
  goal: Pick<Goal, "target" | "direction" | "warning_band" | "period"> | GoalView | null | undefined,
  viewing?: Span | null,
): GoalForm {
  if (goal) {
    return {
      target: String(goal.target),
      direction: goal.direction,
      period: (goal.period as Span | null) ?? "",
      warning_band: goal.warning_band ? String(goal.warning_band) : "",
    };
  }
  return {
    target: "",
    direction: directionOf(m.better),
    period: additive(m.unit) ? (viewing ?? "month") : "",
    warning_band: "",
  };
}

function parseNumber(raw: string): number | null | "invalid" {
  const s = raw.trim();
  if (s === "") return null;
  // Plain decimal numbers only (what <input type="number"> gives): no 1e3, no hex.
  if (!/^[-+]?(\d+\.?\d*|\.\d+)$/.test(s)) return "invalid";
  const n = Number(s);
  return Number.isFinite(n) ? n : "invalid";
}

/** The form checked: the body to send, or a message by field. Checks what the API
 *  would refuse (a target, a band of 0 or more); the API has the last word. */
export function validateGoalForm(form: GoalForm): { body: GoalInput; errors?: undefined } | { body?: undefined; errors: GoalErrors } {
  const errors: GoalErrors = {};
  const target = parseNumber(form.target);
  if (target === null) errors.target = "Enter the target.";
  else if (target === "invalid") errors.target = "Enter a number, such as 95 or 12.5.";
  const band = parseNumber(form.warning_band);
  if (band === "invalid") errors.warning_band = "Enter a number, such as 5, or leave it empty.";
  else if (band !== null && band < 0) errors.warning_band = "The band is 0 or more.";
  if (form.direction !== "at_least" && form.direction !== "at_most") errors.direction = "Choose a direction.";
  if (form.period !== "" && !SPANS.some((s) => s.id === form.period)) errors.period = "Choose a period.";
  if (Object.keys(errors).length > 0) return { errors };
  return {
    body: {
      target: target as number,
      direction: form.direction,
      warning_band: (band as number | null) ?? 0,
      period: form.period === "" ? null : form.period,
    },
  };
}

/** An API error shown on the form: a 400 naming one of the goal's fields (`details.field`,
 *  or a deserializer's message naming it) beside that field, without the field's name in
 *  front; anything else above the buttons. */
export function apiGoalErrors(e: unknown): GoalErrors {
  if (!(e instanceof ApiError)) return { form: e instanceof Error ? e.message : "Something went wrong." };
  const details = e.details as { field?: unknown } | undefined;
  let field = typeof details?.field === "string" ? details.field : undefined;
  let message = e.message;
  // "Failed to deserialize the JSON body into the target type: period: unknown variant …"
  const typed = message.split("target type: ");
  if (typed.length > 1) message = typed.slice(1).join("target type: ");
  if (!field) {
    const named = /^([a-z_]+): /.exec(message);
    if (named) field = named[1];
  }
  if (e.status === 400 && field && (GOAL_FIELDS as string[]).includes(field)) {
    const own = message.startsWith(`${field}: `) ? message.slice(field.length + 2) : message;
    const text = own.replace(/ at line \d+ column \d+$/, "");
    return { [field]: text.charAt(0).toUpperCase() + text.slice(1) } as GoalErrors;
  }
  if (e.status === 403) return { form: "Only tenant admins may change goals." };
  return { form: e.message };
}

/** `PUT` / `DELETE` path of a metric's goal. The tenant is named, so a platform admin
 *  (who must name it) changes their own tenant's goals too. */
export function goalPath(metric: string, tenant: string | null | undefined): string {
  const qs = tenant ? `?tenant=${encodeURIComponent(tenant)}` : "";
  return `/api/admin/goals/${encodeURIComponent(metric)}${qs}`;
}
