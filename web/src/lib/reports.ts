// Client reports: a company's report as a PDF (`GET
// /api/analytics/companies/{id}/report.pdf`), e-mailed now (`POST …/report/email`) or on a
// schedule (`/api/report-schedules`). See the API's crates/avesa-api/src/reports.rs.
//
// The period options, the recipients textarea read into a list, the schedule form's
// checks and body, a schedule told in words, and the API's errors read for the dialogs.
// Framework-free: unit-tested in reports.test.ts.
import { ApiError } from "./api";

export interface PeriodOption {
  id: string;
  label: string;
}

/** The periods a report can be downloaded or e-mailed for (the API knows more). */
export const REPORT_PERIODS: PeriodOption[] = [
  { id: "last_month", label: "Last month" },
  { id: "this_month", label: "This month" },
  { id: "last_quarter", label: "Last quarter" },
  { id: "30d", label: "Last 30 days" },
  { id: "90d", label: "Last 90 days" },
  { id: "last_week", label: "Last week" },
];
export const DEFAULT_REPORT_PERIOD = "last_month";

/** The periods a schedule may send: each a whole period that has ended, or a rolling one. */
export const SCHEDULE_PERIODS: PeriodOption[] = [
  { id: "last_week", label: "Last week" },
  { id: "last_month", label: "Last month" },
  { id: "last_quarter", label: "Last quarter" },
  { id: "7d", label: "Last 7 days" },
  { id: "30d", label: "Last 30 days" },
  { id: "90d", label: "Last 90 days" },
];

export function periodOptionLabel(id: string): string {
  return [...REPORT_PERIODS, ...SCHEDULE_PERIODS].find((p) => p.id === id)?.label ?? id.replace(/_/g, " ");
}

/** Who may e-mail reports and keep schedules (the API's rule: tenant admins and analysts). */
export function canSendReports(role: string | null | undefined): boolean {
  return role === "tenant_admin" || role === "analyst";
}

// ---- paths ----

export function reportPdfPath(company: string, period: string, asOf?: string | null): string {
  const qs = new URLSearchParams({ period });
  if (asOf) qs.set("as_of", asOf);
  return `/api/analytics/companies/${encodeURIComponent(company)}/report.pdf?${qs.toString()}`;
}

/** The report's figures (JSON): the app reads the period it covers from it. */
export function reportViewPath(company: string, period: string, asOf?: string | null): string {
  const qs = new URLSearchParams({ period });
  if (asOf) qs.set("as_of", asOf);
  return `/api/analytics/companies/${encodeURIComponent(company)}/report?${qs.toString()}`;
}

export function reportEmailPath(company: string): string {
  return `/api/analytics/companies/${encodeURIComponent(company)}/report/email`;
}

export function schedulesPath(company: string): string {
  return `/api/report-schedules?${new URLSearchParams({ company }).toString()}`;
}

export function schedulePath(id: string): string {
  return `/api/report-schedules/${encodeURIComponent(id)}`;
}

// ---- recipients ----

/** The address of `Bo Li <bo@client.example>` or of `bo@client.example`. */
export function addressOf(entry: string): string {
  const m = /<([^<>]*)>\s*$/.exec(entry);
  return (m ? m[1] : entry).trim();
}

/** Whether an entry reads as an address, bare or with a name (the API checks it again). */
export function looksLikeAddress(entry: string): boolean {
  const e = entry.trim();
  const named = /^(.*)<([^<>]*)>$/.exec(e);
  if (named && /[<>]/.test(named[1])) return false;
  if (!named && /[<>]/.test(e)) return false;
  return /^[^\s@<>",;]+@[^\s@<>",;.]+(\.[^\s@<>",;.]+)*$/.test(addressOf(e));
}

export interface Recipients {
  /** The entries as written (`Bo Li <bo@client.example>`), without repeats by address. */
  addresses: string[];
  /** Entries that are not e-mail addresses. */
  invalid: string[];
}

/** The recipients textarea: addresses separated by commas, semicolons or new lines. A
 *  comma inside quotes or <…> belongs to its entry (`"Li, Bo" <bo@client.example>`). */
export function parseRecipients(text: string): Recipients {
  const entries: string[] = [];
  let cur = "";
  let quoted = false;
  let angled = false;
  for (const c of text) {
    if (c === '"' && !angled) quoted = !quoted;
    else if (c === "<" && !quoted) angled = true;
    else if (c === ">" && !quoted) angled = false;
    if ((c === "," || c === ";" || c === "\n" || c === "\r") && !quoted && !angled) {
      entries.push(cur);
      cur = "";
    } else {
      cur += c;
    }
  }
  entries.push(cur);
  const addresses: string[] = [];
  const invalid: string[] = [];
  const seen = new Set<string>();
  for (const raw of entries) {
    const e = raw.replace(/\s+/g, " ").trim();
    if (!e) continue;
    if (!looksLikeAddress(e)) {
      if (!invalid.includes(e)) invalid.push(e);
      continue;
    }
    const key = addressOf(e).toLowerCase();
    if (seen.has(key)) continue;
    seen.add(key);
    addresses.push(e);
  }
  return { addresses, invalid };
}

/** Why the recipients can't be sent to, or null. */
export function recipientsProblem(r: Recipients, contacts: boolean): string | null {
  if (r.invalid.length === 1) return `“${r.invalid[0]}” is not an e-mail address.`;
  if (r.invalid.length > 1) return `These are not e-mail addresses: ${r.invalid.map((e) => `“${e}”`).join(", ")}.`;
  if (r.addresses.length === 0 && !contacts) return "Name at least one recipient, or send it to the company's contacts.";
  return null;
}

/** `a`, `a and b`, `a, b and c`. */
export function joinWords(items: string[]): string {
  if (items.length <= 1) return items.join("");
  return `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}

// ---- e-mail now ----

/** The body of `POST /api/analytics/companies/{id}/report/email`. */
export interface EmailReportBody {
  to: string[];
  contacts: boolean;
  period: string;
  message?: string;
}

/** Its answer. */
export interface EmailSent {
  sent_to: string[];
  subject: string;
  file: string;
}

export function emailBody(to: string[], contacts: boolean, period: string, message: string): EmailReportBody {
  const body: EmailReportBody = { to, contacts, period };
  if (message.trim()) body.message = message.trim();
  return body;
}

/** `Sent to 1 recipient`, `Sent to 3 recipients`. */
export function sentSummary(sent: EmailSent): string {
  const n = sent.sent_to.length;
  return `Sent to ${n} recipient${n === 1 ? "" : "s"}`;
}

/** What a dialog says when the API refuses: its own message, capitalised; for a 503 (the
 *  SMTP server did not take the message) with what happened said first. */
export function reportErrorMessage(e: unknown): string {
  const raw = e instanceof ApiError || e instanceof Error ? e.message : "";
  const m = raw ? raw.charAt(0).toUpperCase() + raw.slice(1) : "Something went wrong.";
  if (e instanceof ApiError && e.status === 503) {
    const why = raw.replace(/[.\s]+$/, "");
    return `The mail server did not take the message${why ? `: ${why}` : ""}.`;
  }
  if (e instanceof ApiError && e.status === 403) return `${m}${/[.!?]$/.test(m) ? "" : "."} Tenant admins and analysts send reports.`;
  return m;
}

/** The field the API's 400 names (`details.field`), if any. */
export function errorField(e: unknown): string | null {
  if (!(e instanceof ApiError)) return null;
  const d = e.details as { field?: unknown } | null | undefined;
  return d && typeof d.field === "string" ? d.field : null;
}

// ---- schedules ----

export type Cadence = "weekly" | "monthly";
export type ScheduleStatus = "sent" | "failed" | "sending";

export interface ReportSchedule {
  id: string;
  company: string;
  cadence: Cadence;
  day: number;
  hour: number;
  tz: string;
  period: string;
  to: string[];
  contacts: boolean;
  message: string | null;
  created_by: string;
  created_at: string;
  next_run_at: string;
  last_run_at: string | null;
  last_status: ScheduleStatus | null;
  last_error: string | null;
}

/** The body of `POST /api/report-schedules`. */
export interface NewReportSchedule {
  company: string;
  cadence: Cadence;
  day: number;
  hour: number;
  period: string;
  to: string[];
  contacts: boolean;
  message: string | null;
}

export const WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

/** The days a cadence offers: weekdays (1 Monday … 7 Sunday) or days of the month (1 … 28). */
export function dayOptions(cadence: Cadence): { value: number; label: string }[] {
  return cadence === "weekly"
    ? WEEKDAYS.map((label, i) => ({ value: i + 1, label }))
    : Array.from({ length: 28 }, (_, i) => ({ value: i + 1, label: String(i + 1) }));
}

export const HOURS = Array.from({ length: 24 }, (_, h) => h);

/** `08:00`. */
export function hourText(hour: number): string {
  return `${String(hour).padStart(2, "0")}:00`;
}

/** The period a cadence sends by default: the week or month just ended. */
export function defaultSchedulePeriod(cadence: Cadence): string {
  return cadence === "weekly" ? "last_week" : "last_month";
}

export interface ScheduleForm {
  cadence: Cadence;
  day: number;
  hour: number;
  period: string;
  recipients: string;
  contacts: boolean;
  message: string;
}

export function newScheduleForm(): ScheduleForm {
  return { cadence: "monthly", day: 1, hour: 8, period: "last_month", recipients: "", contacts: false, message: "" };
}

/** The form with another cadence: the day kept when it still fits, the period following
 *  the cadence while it is the other cadence's default. */
export function withCadence(f: ScheduleForm, cadence: Cadence): ScheduleForm {
  const day = cadence === "weekly" && f.day > 7 ? 1 : f.day;
  const period = f.period === defaultSchedulePeriod(f.cadence) ? defaultSchedulePeriod(cadence) : f.period;
  return { ...f, cadence, day, period };
}

export type ScheduleField = "day" | "hour" | "period" | "to" | "message";

/** The form's checks; the body to send, or what is wrong by field. */
export function validateScheduleForm(
  company: string,
  f: ScheduleForm,
): { body: NewReportSchedule; errors?: undefined } | { body?: undefined; errors: Partial<Record<ScheduleField, string>> } {
  const errors: Partial<Record<ScheduleField, string>> = {};
  const maxDay = f.cadence === "weekly" ? 7 : 28;
  if (!Number.isInteger(f.day) || f.day < 1 || f.day > maxDay) errors.day = `Pick a day from 1 to ${maxDay}.`;
  if (!Number.isInteger(f.hour) || f.hour < 0 || f.hour > 23) errors.hour = "Pick an hour from 00:00 to 23:00.";
  if (!SCHEDULE_PERIODS.some((p) => p.id === f.period)) errors.period = "Pick a period.";
  const r = parseRecipients(f.recipients);
  const problem = recipientsProblem(r, f.contacts);
  if (problem) errors.to = problem;
  if (f.message.length > 2000) errors.message = "At most 2,000 characters.";
  if (Object.keys(errors).length) return { errors };
  return {
    body: {
      company,
      cadence: f.cadence,
      day: f.day,
      hour: f.hour,
      period: f.period,
      to: r.addresses,
      contacts: f.contacts,
      message: f.message.trim() ? f.message.trim() : null,
    },
  };
}

/** `last month's report`, `the last 30 days' report`. */
export function periodPhrase(period: string): string {
  switch (period) {
    case "last_week":
      return "last week's report";
    case "last_month":
      return "last month's report";
    case "last_quarter":
      return "last quarter's report";
    case "this_month":
      return "this month's report so far";
    default: {
      const d = /^(\d+)d$/.exec(period);
      if (d) return `the last ${d[1]} days' report`;
      return `the ${period.replace(/_/g, " ")} report`;
    }
  }
}

/** `the company's contacts and ana@client.example`. */
export function recipientsPhrase(to: string[], contacts: boolean): string {
  const who = [...(contacts ? ["the company's contacts"] : []), ...to];
  return who.length ? joinWords(who) : "no one";
}

/** `Monthly on day 1 at 08:00 (Europe/Amsterdam)`, `Weekly on Monday at 17:00 (UTC)`. */
export function ruleText(s: { cadence: Cadence; day: number; hour: number; tz?: string | null }): string {
  const on = s.cadence === "weekly" ? `Weekly on ${WEEKDAYS[s.day - 1] ?? `day ${s.day}`}` : `Monthly on day ${s.day}`;
  return `${on} at ${hourText(s.hour)}${s.tz ? ` (${s.tz})` : ""}`;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

function zoned(ms: number, tz: string): Record<string, number> {
  let fmt: Intl.DateTimeFormat;
  const opts: Intl.DateTimeFormatOptions = {
    year: "numeric",
    month: "numeric",
    day: "numeric",
    hour: "numeric",
    minute: "numeric",
    hourCycle: "h23",
  };
  try {
    fmt = new Intl.DateTimeFormat("en-GB", { ...opts, timeZone: tz || "UTC" });
  } catch {
    fmt = new Intl.DateTimeFormat("en-GB", { ...opts, timeZone: "UTC" });
  }
  const out: Record<string, number> = {};
  for (const p of fmt.formatToParts(new Date(ms))) if (p.type !== "literal") out[p.type] = Number(p.value);
  if (out.hour === 24) out.hour = 0;
  return out;
}

/** `1 Jan 2027 08:00` (with `time`) or `1 Jan 2027`, read in `tz`; "" when not a time. */
export function formatInZone(iso: string | null | undefined, tz: string, time = true): string {
  if (!iso) return "";
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms)) return "";
  const p = zoned(ms, tz);
  const date = `${p.day} ${MONTHS[p.month - 1]} ${p.year}`;
  return time ? `${date} ${String(p.hour).padStart(2, "0")}:${String(p.minute).padStart(2, "0")}` : date;
}

/** `1 Nov 2026 – 30 Nov 2026`: a period's [from, to) read in `tz`, its last day the one
 *  before `to` (as the PDF writes it). */
export function periodRange(from: string, to: string, tz: string): string {
  const f = Date.parse(from);
  const t = Date.parse(to);
  if (!Number.isFinite(f) || !Number.isFinite(t)) return `${from} – ${to}`;
  const last = Math.max(f, t - 1000);
  return `${formatInZone(from, tz, false)} – ${formatInZone(new Date(last).toISOString(), tz, false)}`;
}

export interface ScheduleWords {
  /** `Monthly on day 1 at 08:00 (Europe/Amsterdam): last month's report to …`. */
  summary: string;
  /** `next 1 Jan 2027 08:00`. */
  next: string;
  /** `last sent 1 Dec 2026`, `last attempt failed: …`, `sending now`; null before the first. */
  last: { text: string; failed: boolean } | null;
}

/** A schedule told in words, its times in its own time zone. */
export function describeSchedule(s: ReportSchedule): ScheduleWords {
  const summary = `${ruleText(s)}: ${periodPhrase(s.period)} to ${recipientsPhrase(s.to, s.contacts)}`;
  const nextAt = formatInZone(s.next_run_at, s.tz);
  const next = nextAt ? `next ${nextAt}` : "";
  let last: ScheduleWords["last"] = null;
  if (s.last_status === "failed") {
    last = { text: `last attempt failed${s.last_error ? `: ${s.last_error}` : ""}`, failed: true };
  } else if (s.last_status === "sending") {
    last = { text: "sending now", failed: false };
  } else if (s.last_status === "sent" && s.last_run_at) {
    last = { text: `last sent ${formatInZone(s.last_run_at, s.tz, false)}`, failed: false };
  }
  return { summary, next, last };
}

/** The whole description on one line, its parts joined by ` · `. */
export function scheduleText(s: ReportSchedule): string {
  const w = describeSchedule(s);
  return [w.summary, w.next, w.last?.text ?? ""].filter(Boolean).join(" · ");
}
