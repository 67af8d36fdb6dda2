/** `GET /api/freshness`. */
export interface Freshness {
  last_synced_at: string | null;
}

export interface Dashboard {
  companies: number;
  contacts: number;
  tickets: number;
  open_tickets: number;
  closed_tickets: number;
  time_entries: number;
  total_hours: number;
  billable_hours: number;
  last_synced_at: string | null;
}

export interface StatusCount {
  status: string;
  count: number;
}

export interface TopCompany {
  id: string;
  name: string;
  tickets: number;
  open_tickets: number;
  hours: number;
}

export interface Items<T> {
  items: T[];
}

export interface Page<T> {
  items: T[];
  page: number;
  page_size: number;
  total: number;
}

export type AnyRecord = Record<string, unknown> & { id: string };
