// Per-entity configuration for list and detail pages.

export type ColumnFormat = "text" | "int" | "decimal" | "hours" | "date" | "datetime" | "bool" | "money";

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
  /** Tailwind classes for hiding columns on small screens. */
  className?: string;
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
    columns: [
      { key: "name", label: "Name" },
      { key: "identifier", label: "Identifier", className: "hidden md:table-cell" },
      { key: "status", label: "Status" },
      { key: "company_type", label: "Type", className: "hidden lg:table-cell" },
      { key: "city", label: "City", className: "hidden md:table-cell" },
      { key: "state", label: "State", className: "hidden lg:table-cell" },
      { key: "phone", label: "Phone", className: "hidden xl:table-cell" },
      { key: "employee_count", label: "Employees", format: "int", align: "right", className: "hidden lg:table-cell" },
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
    columns: [
      {
        key: "last_name",
        label: "Name",
        render: (r) => [str(r.first_name), str(r.last_name)].filter(Boolean).join(" "),
      },
      { key: "title", label: "Title", className: "hidden lg:table-cell" },
      { key: "company_name", label: "Company" },
      { key: "email", label: "Email", className: "hidden md:table-cell" },
      { key: "phone", label: "Phone", className: "hidden xl:table-cell" },
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
    columns: [
      { key: "id", label: "ID", className: "hidden md:table-cell whitespace-nowrap" },
      { key: "summary", label: "Summary" },
      { key: "company_name", label: "Company", className: "hidden md:table-cell" },
      { key: "board", label: "Board", className: "hidden lg:table-cell" },
      { key: "status", label: "Status" },
      { key: "priority", label: "Priority", className: "hidden lg:table-cell" },
      { key: "opened_at", label: "Opened", format: "datetime", className: "hidden md:table-cell whitespace-nowrap" },
      { key: "closed", label: "Closed", format: "bool" },
    ],
    fields: [
      "summary", "status", "priority", "board", "ticket_type", "severity", "impact", "company_name", "company_id",
      "contact_id", "owner_id", "source", "opened_at", "resolved_at", "closed_at", "closed", "budget_hours",
      "actual_hours", "sla_met", ...COMMON_TAIL,
    ],
    titleOf: (r) => str(r.summary) || str(r.id),
  },
  "time-entries": {
    path: "time-entries",
    title: "Time entries",
    singular: "Time entry",
    searchPlaceholder: "Search time entries…",
    columns: [
      { key: "time_start", label: "Start", format: "datetime", className: "whitespace-nowrap" },
      { key: "company_name", label: "Company" },
      { key: "ticket_id", label: "Ticket", className: "hidden lg:table-cell whitespace-nowrap" },
      { key: "member_id", label: "Member", className: "hidden md:table-cell" },
      { key: "work_type", label: "Work type", className: "hidden lg:table-cell" },
      { key: "billable_option", label: "Billable", className: "hidden md:table-cell" },
      { key: "actual_hours", label: "Hours", format: "hours", align: "right" },
    ],
    fields: [
      "company_name", "company_id", "ticket_id", "member_id", "work_type", "work_role", "billable_option",
      "time_start", "time_end", "actual_hours", "billed_hours", "hourly_rate", "notes", ...COMMON_TAIL,
    ],
    titleOf: (r) => `Time entry ${str(r.id)}`,
  },
};

/** Fields that reference another entity, rendered as links on detail pages. */
export const FIELD_LINKS: Record<string, string> = {
  company_id: "companies",
  contact_id: "contacts",
  ticket_id: "tickets",
};

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
}

/** Builds /api/<resource>?page=..&page_size=..[&q=..][&sort=..&order=..]. */
export function apiListPath(resource: string, p: ListParams): string {
  const qs = new URLSearchParams();
  qs.set("page", String(p.page));
  qs.set("page_size", String(p.pageSize));
  if (p.q && p.q.trim()) qs.set("q", p.q.trim());
  if (p.sort) {
    qs.set("sort", p.sort);
    qs.set("order", p.order ?? "asc");
  }
  return `/api/${resource}?${qs.toString()}`;
}
