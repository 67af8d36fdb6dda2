// Per-entity configuration for list and detail pages.
import { formatDate, formatHours } from "./format";

export type ColumnFormat =
  | "text" | "int" | "decimal" | "hours" | "date" | "datetime" | "shortdatetime" | "bool" | "money" | "status" | "priority" | "billable";

export interface Column {
  /** Field key in the record (also the `sort` parameter sent to the API). */
  key: string;
  label: string;
  format?: ColumnFormat;
  /** Optional custom cell text (e.g. first + last name). */
  render?: (row: Record<string, unknown>) => string;
  /** Column used for `sort=`; defaults to key. `false` disables sorting. */
  sortKey?: string | false;
  align?: "left" | "right";
  /** Tailwind classes (no wrapping, …). */
  className?: string;
  /** Off until the user turns it on in the column picker. */
  optional?: boolean;
}

export interface Resource {
  /** URL segment in the UI and the API: /companies <-> /api/companies. */
  path: string;
  title: string;
  singular: string;
  columns: Column[];
  /** Field display order on the detail page (unknown extra fields follow). */
  fields: string[];
  /** Field used as the detail page heading. */
  titleOf: (row: Record<string, unknown>) => string;
  searchPlaceholder: string;
  /** The order a list opens in (newest first where the records have a date). */
  defaultSort?: { key: string; order: "asc" | "desc" };
}

/** A ticket's number as its source shows it: ConnectWise "#241000", ServiceNow
 * "INC0010001", Salesforce's case number. */
export function ticketNumber(r: Record<string, unknown>): string {
  const n = str(r.number);
  if (!n) return "";
  return r.source_service === "connectwise" && /^\d+$/.test(n) ? `#${n}` : n;
}

const COMMON_TAIL = ["id", "source_service", "source_id", "source_updated_at"];

function str(v: unknown): string {
  return v === null || v === undefined ? "" : String(v);
}

export const RESOURCES: Record<string, Resource> = {
  companies: {
    path: "companies",
    title: "Companies",
    singular: "Company",
    searchPlaceholder: "Search companies…",
    // Newest first: sources number new records upwards (ids that are not numbers last).
    defaultSort: { key: "id", order: "desc" },
    columns: [
      { key: "name", label: "Name" },
      { key: "identifier", label: "Identifier" },
      { key: "status", label: "Status" },
      { key: "company_type", label: "Type" },
      { key: "city", label: "City" },
      { key: "state", label: "State", optional: true },
      { key: "phone", label: "Phone", optional: true },
      { key: "employee_count", label: "Employees", format: "int", align: "right" },
    ],
    fields: [
      "name", "identifier", "status", "company_type", "phone", "website", "address_line1", "city", "state",
      "zip", "country", "territory", "annual_revenue", "employee_count", "date_acquired", ...COMMON_TAIL,
    ],
    titleOf: (r) => str(r.name) || str(r.id),
  },
  contacts: {
    path: "contacts",
    title: "Contacts",
    singular: "Contact",
    searchPlaceholder: "Search contacts…",
    // Newest first: sources number new records upwards (ids that are not numbers last).
    defaultSort: { key: "id", order: "desc" },
    columns: [
      {
        key: "last_name",
        label: "Name",
        render: (r) => [str(r.first_name), str(r.last_name)].filter(Boolean).join(" "),
      },
      { key: "title", label: "Title", className: "max-w-[10rem]" },
      { key: "company_name", label: "Company", className: "max-w-[12rem]" },
      { key: "email", label: "Email", className: "max-w-[12rem]" },
      { key: "phone", label: "Phone" },
      { key: "active", label: "Active", format: "bool" },
    ],
    fields: ["first_name", "last_name", "title", "email", "phone", "active", "company_name", "company_id", ...COMMON_TAIL],
    titleOf: (r) => [str(r.first_name), str(r.last_name)].filter(Boolean).join(" ") || str(r.id),
  },
  tickets: {
    path: "tickets",
    title: "Tickets",
    singular: "Ticket",
    searchPlaceholder: "Search tickets…",
    defaultSort: { key: "opened_at", order: "desc" },
    columns: [
      { key: "number", label: "Number", render: (r) => ticketNumber(r), className: "whitespace-nowrap" },
      { key: "summary", label: "Summary", className: "max-w-[14rem]" },
      { key: "company_name", label: "Company", className: "max-w-[12rem]" },
      { key: "owner_name", label: "Owner", sortKey: false, optional: true },
      { key: "board", label: "Board", optional: true },
      { key: "status", label: "Status", format: "status" },
      { key: "priority", label: "Priority", format: "priority", className: "max-w-[10rem]" },
      { key: "opened_at", label: "Opened", format: "shortdatetime", className: "whitespace-nowrap" },
      { key: "closed_at", label: "Closed", format: "shortdatetime", className: "whitespace-nowrap", optional: true },
    ],
    fields: [
      "number", "summary", "status", "priority", "board", "ticket_type", "severity", "impact", "company_name", "company_id",
      "contact_name", "contact_id", "owner_name", "owner_id", "source", "responded_at", "reopen_count", "opened_at", "resolved_at", "closed_at", "closed", "budget_hours",
      "actual_hours", "sla_met", ...COMMON_TAIL,
    ],
    titleOf: (r) => str(r.summary) || ticketNumber(r) || str(r.id),
  },
  "time-entries": {
    path: "time-entries",
    title: "Time entries",
    singular: "Time entry",
    searchPlaceholder: "Search time entries…",
    defaultSort: { key: "time_start", order: "desc" },
    columns: [
      { key: "time_start", label: "Start", format: "shortdatetime", className: "whitespace-nowrap" },
      { key: "company_name", label: "Company", className: "max-w-[12rem]" },
      { key: "ticket_summary", label: "Ticket", sortKey: "ticket_id", className: "max-w-[14rem]" },
      { key: "member_name", label: "Technician", sortKey: "member_id" },
      { key: "work_type", label: "Work type", optional: true },
      { key: "billable_option", label: "Billable", format: "billable" },
      { key: "actual_hours", label: "Hours", format: "hours", align: "right" },
      { key: "billed_hours", label: "Billed hours", format: "hours", align: "right", optional: true },
    ],
    fields: [
      "company_name", "company_id", "ticket_summary", "ticket_id", "member_name", "member_id", "work_type", "work_role", "billable_option",
      "time_start", "time_end", "actual_hours", "billed_hours", "hourly_rate", "notes", ...COMMON_TAIL,
    ],
    // "1.25 h · Bob Fixer · Nov 25, 2026"
    titleOf: (r) => {
      const parts = [
        typeof r.actual_hours === "number" ? `${formatHours(r.actual_hours)} h` : "",
        str(r.member_name),
        typeof r.time_start === "string" ? formatDate(r.time_start) : "",
      ].filter(Boolean);
      return parts.length > 1 ? parts.join(" · ") : `Time entry ${str(r.id)}`;
    },
  },
  members: {
    path: "members",
    title: "Technicians",
    singular: "Technician",
    searchPlaceholder: "Search technicians…",
    // Newest first: sources number new records upwards (ids that are not numbers last).
    defaultSort: { key: "id", order: "desc" },
    columns: [
      { key: "name", label: "Name" },
      { key: "identifier", label: "Identifier" },
      { key: "title", label: "Title" },
      { key: "email", label: "Email" },
      { key: "department", label: "Department", optional: true },
      { key: "active", label: "Active", format: "bool" },
    ],
    fields: ["name", "first_name", "last_name", "identifier", "title", "email", "role", "department", "active", ...COMMON_TAIL],
    titleOf: (r) => str(r.name) || [str(r.first_name), str(r.last_name)].filter(Boolean).join(" ") || str(r.id),
  },
};

/** A field naming another record, and the field beside it carrying that record's name
 *  (the API adds the names: `company_name`, `owner_name` …). */
export interface Reference {
  /** The id field (`company_id`). */
  idKey: string;
  /** The name field the API adds beside it (`company_name`). */
  nameKey: string;
  /** The resource it names. */
  resource: string;
  /** What the link is called on a detail page. */
  label: string;
  /** The list filter selecting records by this reference (`company=<id>`). */
  filter: string;
}

export const REFERENCES: Reference[] = [
  { idKey: "ticket_id", nameKey: "ticket_summary", resource: "tickets", label: "Ticket", filter: "ticket" },
  { idKey: "company_id", nameKey: "company_name", resource: "companies", label: "Company", filter: "company" },
  { idKey: "contact_id", nameKey: "contact_name", resource: "contacts", label: "Contact", filter: "contact" },
  { idKey: "owner_id", nameKey: "owner_name", resource: "members", label: "Owner", filter: "member" },
  { idKey: "member_id", nameKey: "member_name", resource: "members", label: "Technician", filter: "member" },
];

/** The reference whose id or name field is `key`, if any. */
export function referenceOf(key: string): Reference | undefined {
  return REFERENCES.find((r) => r.idKey === key || r.nameKey === key);
}

/** The list filter that selects a resource's records by their own id (`companies` ->
 *  `company`): how one query looks up the names of many records. */
export const ID_FILTERS: Record<string, string> = {
  companies: "company",
  contacts: "contact",
  tickets: "ticket",
  members: "member",
};

/** Fields that reference another entity, rendered as links on detail pages. */
export const FIELD_LINKS: Record<string, string> = Object.fromEntries(REFERENCES.map((r) => [r.idKey, r.resource]));

/** Builds the UI path of a record's detail page. */
export function detailPath(resource: string, id: string): string {
  return `/${resource}/${encodeURIComponent(id)}`;
}

/** Builds the API path of a record. */
export function apiDetailPath(resource: string, id: string): string {
  return `/api/${resource}/${encodeURIComponent(id)}`;
}

export interface ListParams {
  page: number;
  pageSize: number;
  q?: string;
  sort?: string;
  order?: "asc" | "desc";
  /** Filters (`status`, `opened_from`, `company` …) passed through as they are. */
  filters?: [string, string][];
}

/** The parameters of a list page's URL that are not paging, search or sort: its filters. */
export function listFilters(url: URLSearchParams): [string, string][] {
  const own = new Set(["page", "page_size", "q", "sort", "order"]);
  return [...url.entries()].filter(([k, v]) => !own.has(k) && v !== "");
}

/** The UI list of a resource narrowed by filters (and sorted): where a detail page's
 *  "View all" goes. */
export function listPath(resource: string, filters: [string, string][], sort?: { key: string; order: "asc" | "desc" }): string {
  const qs = new URLSearchParams();
  for (const [k, v] of filters) qs.append(k, v);
  if (sort) {
    qs.set("sort", sort.key);
    qs.set("order", sort.order);
  }
  const s = qs.toString();
  return s ? `/${resource}?${s}` : `/${resource}`;
}

/** Where a one-time download link to an export is made (POST {path}). */
export const EXPORT_LINKS_PATH = "/api/exports/links";

/** The CSV export of a list: its search, order and filters, every page. */
export function apiExportPath(resource: string, p: Omit<ListParams, "page" | "pageSize">): string {
  const qs = new URLSearchParams();
  if (p.q && p.q.trim()) qs.set("q", p.q.trim());
  if (p.sort) {
    qs.set("sort", p.sort);
    qs.set("order", p.order ?? "asc");
  }
  for (const [k, v] of p.filters ?? []) qs.append(k, v);
  const s = qs.toString();
  return `/api/${resource}/export.csv${s ? `?${s}` : ""}`;
}

export function apiListPath(resource: string, p: ListParams): string {
  const qs = new URLSearchParams();
  qs.set("page", String(p.page));
  qs.set("page_size", String(p.pageSize));
  if (p.q && p.q.trim()) qs.set("q", p.q.trim());
  if (p.sort) {
    qs.set("sort", p.sort);
    qs.set("order", p.order ?? "asc");
  }
  for (const [k, v] of p.filters ?? []) qs.append(k, v);
  return `/api/${resource}?${qs.toString()}`;
}
