// A record's versions (GET /api/{segment}/{id}/history) as a timeline: what each version
// changed against the one before it, and which version stood at a given instant.
// Framework-free: unit-tested in history.test.ts.
//
// The API's versions are SCD2 rows: the record's fields plus `valid_from` (the source's
// updated-at), `valid_to` (the next version's valid_from, null while current),
// `is_deleted` and `is_current`. A deletion is a version of its own.

export type Version = Record<string, unknown>;

/** Fields that describe the version rather than the record: never reported as changes. */
export const VERSION_FIELDS: readonly string[] = [
  "id",
  "source_service",
  "source_id",
  "source_updated_at",
  "valid_from",
  "valid_to",
  "is_deleted",
  "is_current",
];

/** Names joined in from the records a record refers to (a ticket's company name): they
 *  follow the id they name, so a change shows once, on the id. */
export const DERIVED_FIELDS: readonly string[] = [
  "company_name",
  "contact_name",
  "owner_name",
  "member_name",
  "ticket_summary",
];

export interface FieldChange {
  field: string;
  /** The value before (null when it had none). */
  from: unknown;
  /** The value after (null when it has none). */
  to: unknown;
}

/**
 * created: the first version; updated: fields changed; deleted: the source deleted the
 * record; restored: it came back after a deletion.
 */
export type VersionKind = "created" | "updated" | "deleted" | "restored";

export interface VersionEntry {
  /** 1 for the oldest version. */
  number: number;
  /** When this version took effect (`valid_from`), RFC 3339. */
  at: string | null;
  /** When the next version replaced it (`valid_to`); null while current. */
  until: string | null;
  current: boolean;
  kind: VersionKind;
  /** Against the last version that was not a deletion; empty for created and deleted. */
  changes: FieldChange[];
  record: Version;
}

/** Missing, null and "" all mean "no value". */
function norm(v: unknown): unknown {
  return v === undefined || v === "" ? null : v;
}

function same(a: unknown, b: unknown): boolean {
  const x = norm(a);
  const y = norm(b);
  if (x === y) return true;
  if (typeof x === "number" && typeof y === "number") return Number.isNaN(x) && Number.isNaN(y);
  if (x !== null && y !== null && typeof x === "object" && typeof y === "object") {
    return JSON.stringify(x) === JSON.stringify(y);
  }
  return false;
}

/**
 * The fields whose values differ between two versions, in `order` (the detail page's
 * field order) and then alphabetically. Version bookkeeping ({@link VERSION_FIELDS}) and
 * joined names ({@link DERIVED_FIELDS}) are left out.
 */
export function diffRecords(prev: Version, next: Version, order: readonly string[] = []): FieldChange[] {
  const skip = new Set([...VERSION_FIELDS, ...DERIVED_FIELDS]);
  const keys = new Set([...Object.keys(prev), ...Object.keys(next)]);
  const rank = (k: string) => {
    const i = order.indexOf(k);
    return i === -1 ? order.length : i;
  };
  return [...keys]
    .filter((k) => !skip.has(k) && !same(prev[k], next[k]))
    .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))
    .map((field) => ({ field, from: norm(prev[field]), to: norm(next[field]) }));
}

/** Milliseconds of an RFC 3339 string; NaN for anything else. */
function time(v: unknown): number {
  return typeof v === "string" ? Date.parse(v) : Number.NaN;
}

/** Oldest first by `valid_from` (versions without one first, in the order given). */
function chronological(versions: readonly Version[]): Version[] {
  return versions
    .map((v, i) => ({ v, i, t: time(v.valid_from) }))
    .sort((a, b) => {
      const ta = Number.isNaN(a.t) ? -Infinity : a.t;
      const tb = Number.isNaN(b.t) ? -Infinity : b.t;
      return ta - tb || a.i - b.i;
    })
    .map((x) => x.v);
}

/**
 * The timeline of a record's versions, oldest first: each version with what it changed
 * against the last live version before it. The first version is "created" (or "deleted"
 * if the first thing seen is a deletion); a deletion is "deleted"; a live version after
 * a deletion is "restored".
 */
export function historyTimeline(versions: readonly Version[], order: readonly string[] = []): VersionEntry[] {
  const sorted = chronological(versions);
  let lastLive: Version | null = null;
  let prevDeleted = false;
  return sorted.map((record, i) => {
    const deleted = record.is_deleted === true;
    let kind: VersionKind;
    let changes: FieldChange[] = [];
    if (deleted) {
      kind = "deleted";
    } else if (lastLive === null) {
      kind = "created";
    } else {
      kind = prevDeleted ? "restored" : "updated";
      changes = diffRecords(lastLive, record, order);
    }
    if (!deleted) lastLive = record;
    prevDeleted = deleted;
    const until = typeof record.valid_to === "string" ? record.valid_to : null;
    return {
      number: i + 1,
      at: typeof record.valid_from === "string" ? record.valid_from : null,
      until,
      current: record.is_current === true || (i === sorted.length - 1 && until === null && record.is_current === undefined),
      kind,
      changes,
      record,
    };
  });
}

/** The version that stood at `asOf` (valid_from ≤ asOf < valid_to), or null: none yet or an
 *  unreadable instant. A deletion counts: the record stood deleted then. */
export function versionAt(entries: readonly VersionEntry[], asOf: string): VersionEntry | null {
  const t = Date.parse(asOf);
  if (Number.isNaN(t)) return null;
  let found: VersionEntry | null = null;
  for (const e of entries) {
    const from = time(e.at);
    if (Number.isNaN(from) || from > t) continue;
    const to = time(e.until);
    if (!Number.isNaN(to) && to <= t) continue;
    found = e;
  }
  return found;
}

/**
 * What the record was at `asOf`:
 *  - before: it did not exist yet (`since` is when it first did);
 *  - deleted: it had been deleted (`since` is when);
 *  - exists: a live version stood;
 *  - unknown: no versions, or an unreadable instant.
 */
export type Existence =
  | { state: "before"; since: string | null }
  | { state: "deleted"; since: string | null }
  | { state: "exists"; version: VersionEntry }
  | { state: "unknown" };

export function existenceAt(entries: readonly VersionEntry[], asOf: string): Existence {
  if (entries.length === 0 || Number.isNaN(Date.parse(asOf))) return { state: "unknown" };
  const v = versionAt(entries, asOf);
  if (!v) {
    const firstLive = entries.find((e) => e.kind !== "deleted");
    return { state: "before", since: firstLive?.at ?? entries[0].at };
  }
  if (v.kind === "deleted") return { state: "deleted", since: v.at };
  return { state: "exists", version: v };
}

/**
 * Why the API found no record at `asOf`: {@link existenceAt}, except that a live version
 * there (the API shows times to the second, so a version stamped 10:00:00 may have begun
 * at 10:00:00.5) means the instant fell just before it: before the record existed, or
 * while it stood deleted.
 */
export function absenceAt(entries: readonly VersionEntry[], asOf: string): Existence {
  const e = existenceAt(entries, asOf);
  if (e.state !== "exists") return e;
  // Only within the second the version's time was cut to.
  if (Date.parse(asOf) - time(e.version.at) >= 1000) return { state: "unknown" };
  const prev = entries[entries.indexOf(e.version) - 1];
  if (prev?.kind === "deleted") return { state: "deleted", since: prev.at };
  if (!prev) return { state: "before", since: e.version.at };
  return { state: "unknown" };
}

/** The non-empty fields of a version, in `order`, for a "created" entry. */
export function initialValues(record: Version, order: readonly string[] = []): FieldChange[] {
  return diffRecords({}, record, order);
}
