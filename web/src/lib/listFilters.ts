// The filters a list page offers, and how a list's filters read as chips ("Company:
// Contoso", "Opened from 1 Oct 2026") instead of the URL's parameters
// ("company: connectwise:250"). What each list accepts is the API's (docs/analytics.md,
// "Filters"); a filter a list does not accept is a 400 there, so none is offered here.
import { billableLabel, formatDateTime } from "./format";
import { REFERENCES } from "./resources";

/** A control of a list's filter panel. */
export type ListFilter =
  /** One value out of a breakdown's groups: the options are the metric's groups. */
  | { kind: "choice"; key: string; label: string; metric: string; groupBy: string }
  /** A company or technician, found by name. */
  | { kind: "record"; key: string; label: string; resource: "companies" | "members" }
  /** A range of local dates: `{name}_from` and `{name}_to` (inclusive). */
  | { kind: "dates"; name: string; label: string }
  /** Open or closed tickets. */
  | { kind: "open"; key: "open"; label: string };

const TICKETS = "tickets_opened";
const TIME = "hours_worked";

export const LIST_FILTERS: Record<string, ListFilter[]> = {
  tickets: [
    { kind: "open", key: "open", label: "State" },
    { kind: "choice", key: "status", label: "Status", metric: TICKETS, groupBy: "status" },
    { kind: "choice", key: "priority", label: "Priority", metric: TICKETS, groupBy: "priority" },
    { kind: "choice", key: "board", label: "Board", metric: TICKETS, groupBy: "board" },
    { kind: "choice", key: "type", label: "Type", metric: TICKETS, groupBy: "type" },
    { kind: "choice", key: "source", label: "Source", metric: TICKETS, groupBy: "source" },
    { kind: "choice", key: "service", label: "Service", metric: TICKETS, groupBy: "service" },
    { kind: "record", key: "company", label: "Company", resource: "companies" },
    { kind: "record", key: "member", label: "Technician", resource: "members" },
    { kind: "dates", name: "opened", label: "Opened" },
    { kind: "dates", name: "closed", label: "Closed" },
  ],
  "time-entries": [
    { kind: "choice", key: "billable", label: "Billable", metric: TIME, groupBy: "billable" },
    { kind: "choice", key: "work_type", label: "Work type", metric: TIME, groupBy: "work_type" },
    { kind: "choice", key: "service", label: "Service", metric: TIME, groupBy: "service" },
    { kind: "record", key: "company", label: "Company", resource: "companies" },
    { kind: "record", key: "member", label: "Technician", resource: "members" },
    { kind: "dates", name: "date", label: "Date" },
  ],
  companies: [{ kind: "choice", key: "service", label: "Service", metric: TICKETS, groupBy: "service" }],
  contacts: [
    { kind: "choice", key: "service", label: "Service", metric: TICKETS, groupBy: "service" },
    { kind: "record", key: "company", label: "Company", resource: "companies" },
  ],
  members: [{ kind: "choice", key: "service", label: "Service", metric: TICKETS, groupBy: "service" }],
};

/** Service ids as their vendors call themselves. */
export const SERVICE_LABELS: Record<string, string> = {
  connectwise: "ConnectWise PSA",
  servicenow: "ServiceNow",
  salesforce: "Salesforce",
  microsoft365: "Microsoft 365",
};

const LABELS: Record<string, string> = {
  status: "Status",
  priority: "Priority",
  board: "Board",
  type: "Type",
  source: "Source",
  service: "Service",
  company: "Company",
  contact: "Contact",
  member: "Technician",
  ticket: "Ticket",
  billable: "Billable",
  work_type: "Work type",
  open: "State",
  open_at: "Open at",
  opened: "Opened",
  closed: "Closed",
  updated: "Updated",
  date: "Date",
  q: "Search",
  tz: "Time zone",
};

/** The record a reference filter names (`company` -> companies), if it is one. */
export function filterResource(key: string): string | undefined {
  return REFERENCES.find((r) => r.filter === key)?.resource;
}

/** A date filter's value as people read it: a local date as a date, an instant with its
 *  time. */
function when(v: string): string {
  const d = /^(\d{4})-(\d{2})-(\d{2})$/.exec(v);
  if (d) {
    // A calendar date: shown as that date, whatever this browser's zone.
    return new Date(Number(d[1]), Number(d[2]) - 1, Number(d[3])).toLocaleDateString("en-US", { year: "numeric", month: "short", day: "numeric" });
  }
  return formatDateTime(v);
}

/** One value of a filter as text (a billable code as people say it, a service by name). */
export function valueText(key: string, v: string): string {
  if (key === "billable") return billableLabel(v);
  if (key === "service") return SERVICE_LABELS[v] ?? v;
  return v;
}

/** A chip: what it says, and the URL parameters removing it takes away. */
export interface Chip {
  id: string;
  label: string;
  text: string;
  /** The parameters this chip stands for (a date range's `_from` and `_to` are one chip). */
  keys: string[];
  /** The record whose name the chip shows once fetched (`company` -> a company's id). */
  record?: { resource: string; id: string };
}

/** The chips of a list's filters, in the URL's order, a date range's ends folded into one
 *  chip. `names` holds the names of referenced records already known (by resource and
 *  id); a reference not yet named shows its id until its name arrives. */
export function chips(filters: [string, string][], names: (resource: string, id: string) => string | undefined = () => undefined): Chip[] {
  const out: Chip[] = [];
  const seenRange = new Set<string>();
  const get = (k: string) => filters.find(([key]) => key === k)?.[1];
  for (const [key, value] of filters) {
    const range = /^(.*)_(from|to)$/.exec(key);
    if (range && LABELS[range[1]]) {
      const name = range[1];
      if (seenRange.has(name)) continue;
      seenRange.add(name);
      const from = get(`${name}_from`);
      const to = get(`${name}_to`);
      const keys = [from !== undefined ? `${name}_from` : null, to !== undefined ? `${name}_to` : null].filter((k): k is string => k !== null);
      // `_to` is inclusive for a date, exclusive for an instant.
      const text =
        from && to ? `${when(from)} – ${when(to)}` : from ? `from ${when(from)}` : `${to && /T/.test(to) ? "before" : "until"} ${when(to ?? "")}`;
      out.push({ id: name, label: LABELS[name], text, keys });
      continue;
    }
    const label = LABELS[key] ?? key.replace(/_/g, " ");
    if (key === "open") {
      out.push({ id: key, label, text: value === "false" ? "Closed" : "Open", keys: [key] });
      continue;
    }
    if (key === "missing") {
      // A breakdown's "(none)" group: records without that value.
      for (const name of value.split(",").filter((v) => v !== "")) {
        out.push({ id: `missing-${name}`, label: LABELS[name] ?? name.replace(/_/g, " "), text: "(none)", keys: [key] });
      }
      continue;
    }
    if (key === "as_of") {
      out.push({ id: key, label: "As of", text: formatDateTime(value), keys: [key] });
      continue;
    }
    if (key === "open_at") {
      out.push({ id: key, label: "Open on", text: formatDateTime(value), keys: [key] });
      continue;
    }
    const resource = filterResource(key);
    const values = value.split(",").filter((v) => v !== "");
    if (resource && values.length === 1) {
      const id = values[0];
      out.push({ id: key, label, text: names(resource, id) ?? id, keys: [key], record: { resource, id } });
      continue;
    }
    const parts = values.map((v) => (resource ? names(resource, v) ?? v : valueText(key, v)));
    const text = parts.length <= 1 ? parts.join("") : `${parts.slice(0, -1).join(", ")} or ${parts[parts.length - 1]}`;
    out.push({ id: key, label, text, keys: [key] });
  }
  return out;
}
