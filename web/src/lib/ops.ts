// Operations pages' pure logic: who sees them, the API's shapes (GET /api/openapi.json),
// status badges, durations, progress, run summaries, freshness and form checks.
import type { Tone } from "../components/ui";

export type Role = "platform_admin" | "tenant_admin" | "analyst" | "viewer";
export const ROLES: { id: Role; label: string }[] = [
  { id: "viewer", label: "Viewer" },
  { id: "analyst", label: "Analyst" },
  { id: "tenant_admin", label: "Tenant admin" },
  { id: "platform_admin", label: "Platform admin" },
];

export type RunStatus = "queued" | "running" | "succeeded" | "failed" | "partially_failed" | "cancelled" | "interrupted";
export type RunKind = "incremental" | "full" | "backfill";
export type ChunkStatus = "running" | "committed" | "failed" | "abandoned";

export interface ServiceView {
  service: string;
  enabled: boolean;
  schedule?: string | null;
}
export interface CredentialField {
  name: string;
  optional: boolean;
}
export interface AvailableService {
  service: string;
  fields: CredentialField[];
}
export interface ServiceList {
  items: ServiceView[];
  available?: AvailableService[] | null;
}
export interface ServiceTest {
  service: string;
  ok: boolean;
  error?: string | null;
}
export interface Freshness {
  service: string;
  table: string;
  last_commit_at?: string | null;
  watermark?: string | null;
  records: number;
  age_secs?: number | null;
  /** The service's own schedule; null when the table is read on its refresh interval. */
  schedule?: string | null;
  /** How often the table is read when its service has no schedule of its own. */
  refresh_secs?: number | null;
  /** Older than two refresh intervals (the server's judgement). */
  overdue?: boolean;
}
export interface RunRecord {
  id: string;
  tenant_id?: string | null;
  kind: RunKind;
  status: RunStatus;
  started_at: string;
  finished_at?: string | null;
  error?: string | null;
  cancel_requested: boolean;
  tables_planned?: number | null;
}
export interface ChunkCounts {
  records: number;
  pages: number;
  requests: number;
  bytes: number;
  versions_inserted: number;
  retries: number;
  throttles: number;
  millis: number;
  /** The most requests to the service in flight at once while the chunk ran (0: unknown). */
  concurrency?: number;
}
export interface ChunkRecord {
  id: string;
  run_id: string;
  key: { tenant_id: string; service: string; table: string };
  status: ChunkStatus;
  counts: ChunkCounts;
  error?: string | null;
  started_at: string;
  finished_at?: string | null;
}
export interface RunDetail {
  run: RunRecord;
  chunks: ChunkRecord[];
}
export interface AdminUser {
  id: string;
  email: string;
  name: string;
  role: Role;
  tenant_id: string;
  disabled: boolean;
}

/** Operations (services, runs, users) are for tenant and platform admins only. */
export function canSeeOperations(role: string | null | undefined): boolean {
  return role === "tenant_admin" || role === "platform_admin";
}

/** The roles the caller may give: `platform_admin` only from a platform admin. */
export function assignableRoles(callerRole: string | null | undefined): { id: Role; label: string }[] {
  return ROLES.filter((r) => r.id !== "platform_admin" || callerRole === "platform_admin");
}

export function roleLabel(role: string): string {
  return ROLES.find((r) => r.id === role)?.label ?? role;
}

/** An admin path for the caller's tenant (a platform admin names it; harmless for others). */
export function adminPath(path: string, tenant: string | null | undefined): string {
  if (!tenant) return path;
  return `${path}${path.includes("?") ? "&" : "?"}tenant=${encodeURIComponent(tenant)}`;
}

const RUN_BADGE: Record<RunStatus, { label: string; tone: Tone }> = {
  queued: { label: "Queued", tone: "slate" },
  running: { label: "Running", tone: "indigo" },
  succeeded: { label: "Succeeded", tone: "green" },
  failed: { label: "Failed", tone: "red" },
  partially_failed: { label: "Partly failed", tone: "amber" },
  cancelled: { label: "Cancelled", tone: "slate" },
  interrupted: { label: "Interrupted", tone: "amber" },
};

export function runBadge(status: string): { label: string; tone: Tone } {
  return RUN_BADGE[status as RunStatus] ?? { label: status, tone: "slate" };
}

const CHUNK_BADGE: Record<ChunkStatus, { label: string; tone: Tone }> = {
  running: { label: "Running", tone: "indigo" },
  committed: { label: "Committed", tone: "green" },
  failed: { label: "Failed", tone: "red" },
  abandoned: { label: "Abandoned", tone: "amber" },
};

export function chunkBadge(status: string): { label: string; tone: Tone } {
  return CHUNK_BADGE[status as ChunkStatus] ?? { label: status, tone: "slate" };
}

/** A run still in progress: its page keeps reading it. */
export function isActive(status: string): boolean {
  return status === "running" || status === "queued";
}

/** A run's table as people read it: a partition of a table read side by side
 *  (`service/tickets@part-20261206T014400-2of4`) as "service/tickets · part 2 of 4", a
 *  backfill's key as "service/tickets · backfill". */
export function tableLabel(table: string): string {
  const part = /^(.*)@part-\d{8}T\d{6}-(\d+)of(\d+)$/.exec(table);
  if (part) return `${part[1]} · part ${part[2]} of ${part[3]}`;
  const at = table.indexOf("@backfill-");
  return at > 0 ? `${table.slice(0, at)} · backfill` : table;
}

export const KIND_LABEL: Record<RunKind, string> = { incremental: "Incremental", full: "Full", backfill: "Backfill" };

/** "850 ms", "12 s", "3 min 05 s", "2 h 04 min". */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, "0")} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${String(m % 60).padStart(2, "0")} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** How long a run took, or has taken so far. */
export function runDuration(run: Pick<RunRecord, "started_at" | "finished_at">, now: number = Date.now()): number | null {
  const start = Date.parse(run.started_at);
  if (!Number.isFinite(start)) return null;
  const end = run.finished_at ? Date.parse(run.finished_at) : now;
  return Number.isFinite(end) ? Math.max(0, end - start) : null;
}

/** "2 min ago", from seconds. */
export function formatAge(secs: number | null | undefined): string {
  if (secs === null || secs === undefined || !Number.isFinite(secs)) return "never";
  if (secs < 60) return "just now";
  const m = Math.floor(secs / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ago`;
  return `${Math.floor(h / 24)} days ago`;
}

/** How often a 5-field cron schedule runs, in seconds, for the common shapes; null when
 *  not recognised. `null` schedule: the default, each table on its own refresh interval
 *  (reference tables hourly, the longest of them). */
export function scheduleIntervalSecs(schedule: string | null | undefined): number | null {
  if (!schedule) return 3600;
  const f = schedule.trim().split(/\s+/);
  if (f.length !== 5) return null;
  const [min, hour, dom, mon, dow] = f;
  const rest = dom === "*" && mon === "*" && dow === "*";
  if (!rest) return dow !== "*" && dom === "*" && mon === "*" ? 7 * 86400 : null;
  const step = /^\*\/(\d+)$/.exec(min);
  if (min === "*" && hour === "*") return 60;
  if (step && hour === "*") return Number(step[1]) * 60;
  if (/^\d+$/.test(min) && hour === "*") return 3600;
  const hstep = /^\*\/(\d+)$/.exec(hour);
  if (/^\d+$/.test(min) && hstep) return Number(hstep[1]) * 3600;
  if (/^\d+$/.test(min) && /^\d+$/.test(hour)) return 86400;
  return null;
}

export function describeSchedule(schedule: string | null | undefined): string {
  if (!schedule) return "Per table (default)";
  const secs = scheduleIntervalSecs(schedule);
  if (secs === 60) return "Every minute";
  if (secs !== null && secs < 3600) return `Every ${secs / 60} min`;
  if (secs === 3600) return "Hourly";
  if (secs !== null && secs < 86400) return `Every ${secs / 3600} h`;
  if (secs === 86400) return "Daily";
  if (secs === 7 * 86400) return "Weekly";
  return schedule;
}

/** How often a table is read: its own refresh interval, or its service's schedule. */
export function describeRefresh(f: Pick<Freshness, "refresh_secs">, schedule?: string | null): string {
  if (!schedule && f.refresh_secs) {
    const secs = f.refresh_secs;
    if (secs < 3600) return `Every ${Math.round(secs / 60)} min`;
    if (secs === 3600) return "Hourly";
    return `Every ${Math.round(secs / 360) / 10} h`;
  }
  return describeSchedule(schedule);
}

/** A table is stale when it never landed, or is older than two of its refresh intervals
 *  (the server's `overdue`), or, on a service's own schedule, two of its intervals with
 *  at least 15 minutes of slack. */
export function isStale(
  f: Pick<Freshness, "age_secs" | "last_commit_at" | "refresh_secs" | "overdue">,
  schedule?: string | null,
): boolean {
  if (f.age_secs === null || f.age_secs === undefined) return true;
  if (!schedule && f.refresh_secs) return f.overdue ?? f.age_secs > 2 * f.refresh_secs;
  const every = scheduleIntervalSecs(schedule) ?? 3600;
  return f.age_secs > 2 * every + 900;
}

export interface TableProgress {
  service: string;
  table: string;
  chunks: number;
  committed: number;
  failed: number;
  running: number;
  records: number;
  versions: number;
  millis: number;
  status: ChunkStatus;
  error: string | null;
}

/** A run's chunks grouped per service and table, in the order they started. */
export function tableProgress(chunks: ChunkRecord[]): TableProgress[] {
  const by = new Map<string, TableProgress>();
  const sorted = [...chunks].sort((a, b) => a.started_at.localeCompare(b.started_at));
  for (const c of sorted) {
    const k = `${c.key.service}\u0000${c.key.table}`;
    let t = by.get(k);
    if (!t) {
      t = { service: c.key.service, table: c.key.table, chunks: 0, committed: 0, failed: 0, running: 0, records: 0, versions: 0, millis: 0, status: "committed", error: null };
      by.set(k, t);
    }
    t.chunks += 1;
    t.records += c.counts.records;
    t.versions += c.counts.versions_inserted;
    t.millis += c.counts.millis;
    if (c.status === "committed") t.committed += 1;
    else if (c.status === "running") t.running += 1;
    else t.failed += 1;
    if (c.error && !t.error) t.error = c.error;
  }
  for (const t of by.values()) t.status = t.running > 0 ? "running" : t.failed > 0 ? (t.committed > 0 ? "abandoned" : "failed") : "committed";
  return [...by.values()];
}

/** Share of finished chunks, 0–100; null when nothing is known yet. */
export function progressPct(done: number, total: number): number | null {
  if (!(total > 0)) return null;
  return Math.max(0, Math.min(100, Math.round((done / total) * 100)));
}

/** A run's progress: tables done of planned (when the run knows), else chunks done. */
export function runProgress(detail: RunDetail): { done: number; total: number; pct: number | null } {
  const tables = tableProgress(detail.chunks);
  const finished = !isActive(detail.run.status);
  const planned = detail.run.tables_planned ?? null;
  if (planned && planned > 0) {
    const done = tables.filter((t) => t.running === 0).length;
    return { done, total: planned, pct: finished ? 100 : progressPct(Math.min(done, planned), planned) };
  }
  const done = detail.chunks.filter((c) => c.status !== "running").length;
  const total = detail.chunks.length;
  return { done, total, pct: finished ? 100 : progressPct(done, total) };
}

export function totalRecords(chunks: Pick<ChunkRecord, "counts">[]): number {
  return chunks.reduce((n, c) => n + c.counts.records, 0);
}

const plural = (n: number, one: string, many = `${one}s`) => `${n.toLocaleString("en-US")} ${n === 1 ? one : many}`;

/** "Succeeded in 12 s: 2 tables, 1,240 records (40 new versions)". */
export function runSummary(detail: RunDetail, now: number = Date.now()): string {
  const tables = tableProgress(detail.chunks);
  const records = totalRecords(detail.chunks);
  const versions = detail.chunks.reduce((n, c) => n + c.counts.versions_inserted, 0);
  const d = formatDuration(runDuration(detail.run, now));
  const what = `${plural(tables.length, "table")}, ${plural(records, "record")} (${plural(versions, "new version")})`;
  const s = detail.run.status;
  if (s === "running") return `Running for ${d}: ${what} so far${detail.run.cancel_requested ? "; stopping" : ""}`;
  if (s === "queued") return "Queued: waiting to start";
  return `${runBadge(s).label} in ${d}: ${what}`;
}

/** A server's error string in plain words: the first line, without a URL's query string
 *  and trailing punctuation noise. */
export function plainError(e: string | null | undefined): string {
  if (!e) return "";
  const line = e.split("\n")[0].replace(/(https?:\/\/[^\s?]+)\?\S*/g, "$1").trim();
  return line.length > 300 ? `${line.slice(0, 297)}…` : line;
}

/** Secrets are password inputs; addresses, ids and names are plain text. */
export function isSecretField(name: string): boolean {
  return /secret|password|private|token|key/i.test(name);
}

export function fieldLabelOf(name: string): string {
  const s = name.replace(/_/g, " ").replace(/\burl\b/gi, "URL").replace(/\bid\b/gi, "ID").replace(/\bapi\b/gi, "API");
  return s.charAt(0).toUpperCase() + s.slice(1);
}

export type Errors = Record<string, string | undefined>;

/** The credentials form: every required field filled; what is sent holds only filled ones. */
export function validateCredentials(
  fields: CredentialField[],
  values: Record<string, string>,
): { errors: Errors | null; credentials: Record<string, string> } {
  const errors: Errors = {};
  const credentials: Record<string, string> = {};
  for (const f of fields) {
    const v = (values[f.name] ?? "").trim();
    if (v) credentials[f.name] = v;
    else if (!f.optional) errors[f.name] = `${fieldLabelOf(f.name)} is required.`;
    if (v && /url$/i.test(f.name) && !/^https?:\/\/\S+$/i.test(v)) errors[f.name] = "Enter a full URL starting with https://.";
    if (v && f.name === "requests_per_second" && !(Number(v) > 0)) errors[f.name] = "Enter a number above 0.";
  }
  return { errors: Object.keys(errors).length ? errors : null, credentials };
}

export interface SyncForm {
  service: string;
  table: string;
  full: boolean;
}

/** The body of a sync: all services, one, or one table. */
export function syncBody(f: SyncForm): { service?: string; table?: string; full?: boolean } {
  const body: { service?: string; table?: string; full?: boolean } = {};
  if (f.service) body.service = f.service;
  if (f.service && f.table) body.table = f.table;
  if (f.full) body.full = true;
  return body;
}

export interface BackfillForm {
  service: string;
  table: string;
  from: string;
  to: string;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** A backfill needs a service and a from < to range of at most 366 days (the API's rule). */
export function validateBackfill(f: BackfillForm): { errors: Errors | null; body: { service: string; table?: string; from: string; to: string } | null } {
  const errors: Errors = {};
  if (!f.service) errors.service = "Choose a service.";
  const from = DAY.test(f.from) ? Date.parse(`${f.from}T00:00:00Z`) : NaN;
  const to = DAY.test(f.to) ? Date.parse(`${f.to}T00:00:00Z`) : NaN;
  if (!Number.isFinite(from)) errors.from = "Enter a start date.";
  if (!Number.isFinite(to)) errors.to = "Enter an end date.";
  if (Number.isFinite(from) && Number.isFinite(to)) {
    if (to <= from) errors.to = "The end must be after the start.";
    else if ((to - from) / 86_400_000 > 366) errors.to = "A backfill covers at most 366 days.";
  }
  if (Object.keys(errors).length) return { errors, body: null };
  const body: { service: string; table?: string; from: string; to: string } = { service: f.service, from: f.from, to: f.to };
  if (f.table) body.table = f.table;
  return { errors: null, body };
}

export interface UserForm {
  email: string;
  name: string;
  role: string;
  password: string;
}

/** A new user: an address, a role and a password of 12 characters or more. */
export function validateUser(f: UserForm): { errors: Errors | null; body: { email: string; name?: string; role: string; password: string } | null } {
  const errors: Errors = {};
  const email = f.email.trim();
  if (!email) errors.email = "Enter an e-mail address.";
  else if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) errors.email = "Enter a valid e-mail address.";
  if (!ROLES.some((r) => r.id === f.role)) errors.role = "Choose a role.";
  const pw = validatePassword(f.password);
  if (pw) errors.password = pw;
  if (Object.keys(errors).length) return { errors, body: null };
  const body: { email: string; name?: string; role: string; password: string } = { email, role: f.role, password: f.password };
  if (f.name.trim()) body.name = f.name.trim();
  return { errors: null, body };
}

export function validatePassword(p: string): string | undefined {
  if (!p) return "Enter a password.";
  if ([...p].length < 12) return "Use at least 12 characters.";
  return undefined;
}

/** The API's 400 mapped onto a form's field when its message or `details.param` names it. */
export function apiFieldError(
  err: { message: string; details?: unknown } | null | undefined,
  fields: string[],
): { field: string | null; message: string } | null {
  if (!err) return null;
  const d = err.details as { param?: string; field?: string } | undefined;
  const named = d?.param ?? d?.field;
  if (named && fields.includes(named)) return { field: named, message: err.message };
  const m = fields.find((f) => new RegExp(`(^|[^a-z_])${f}([^a-z_]|$)`, "i").test(err.message));
  return { field: m ?? null, message: err.message };
}
