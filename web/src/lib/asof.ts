// The "as of" instant of a detail page: kept in the URL (`?as_of=`) as RFC 3339 UTC,
// picked in a datetime-local input in the browser's time zone, and passed on to the API
// and to links. Framework-free: unit-tested in asof.test.ts.

function pad(n: number): string {
  return String(n).padStart(2, "0");
}

/** An instant as RFC 3339 UTC to the second ("2024-05-01T10:00:00Z"), as the API takes it. */
export function toRfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/**
 * The `as_of` of a URL as the API takes it, or null when there is none. Any date the
 * browser reads is accepted (a bare date is its UTC midnight); something unreadable is
 * `{ invalid }` so the page can say so instead of sending it on.
 */
export function parseAsOf(raw: string | null | undefined): string | null | { invalid: string } {
  if (raw === null || raw === undefined || raw.trim() === "") return null;
  // An unencoded "+hh:mm" arrives as a space.
  const text = raw.trim().replace(/(T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:\d{2})$/, "$1+$2");
  const t = Date.parse(text);
  if (Number.isNaN(t)) return { invalid: raw };
  return toRfc3339(t);
}

/** An instant (RFC 3339) as a datetime-local input's value, in this browser's zone, to
 *  the second (seconds left out when zero, as browsers normalize the value); "" for none. */
export function toLocalInput(iso: string | null | undefined): string {
  if (!iso) return "";
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "";
  const d = new Date(t);
  const seconds = d.getSeconds() ? `:${pad(d.getSeconds())}` : "";
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}${seconds}`;
}

/** A datetime-local input's value (local time, with or without seconds) as RFC 3339 UTC;
 *  null when it is not a complete date and time. */
export function fromLocalInput(value: string): string | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?$/.exec(value.trim());
  if (!m) return null;
  const [y, mo, d, h, mi, s] = m.slice(1).map((x) => (x === undefined ? 0 : Number(x)));
  const date = new Date(y, mo - 1, d, h, mi, s);
  // new Date rolls 2024-02-31 over into March: refuse what the fields do not say.
  if (date.getFullYear() !== y || date.getMonth() !== mo - 1 || date.getDate() !== d) return null;
  return toRfc3339(date.getTime());
}

/** A path with `as_of` added to its query string (unchanged when asOf is null). */
export function withAsOf(path: string, asOf: string | null | undefined): string {
  if (!asOf) return path;
  const [base, hash = ""] = path.split("#", 2);
  const sep = base.includes("?") ? "&" : "?";
  return `${base}${sep}as_of=${encodeURIComponent(asOf)}${hash ? `#${hash}` : ""}`;
}

/** The first whole second at or after which a version stamped `iso` surely stands: the
 *  API shows versions' times to the second, cutting off any fraction. */
export function justAfter(iso: string): string {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? iso : toRfc3339(t + 1000);
}
