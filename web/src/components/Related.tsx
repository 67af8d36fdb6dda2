// The pieces that connect detail pages: a link to the record a field names, and a short
// table of the records that name this one (a company's tickets), with the way to the
// full list.
import { Link } from "react-router";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { api } from "../lib/client";
import { withAsOf } from "../lib/asof";
import { formatInt } from "../lib/format";
import { apiListPath, detailPath, listPath, referenceOf, type Column, type Reference } from "../lib/resources";
import type { AnyRecord, Page } from "../lib/types";
import { CellValue } from "./Cell";
import { Card, CardHeader, ErrorBox, LINK as LINK_TEXT, Spinner } from "./ui";

const LINK = `${LINK_TEXT} hover:underline`;

/**
 * The record `ref` names in `rec`, by name, as a link to its page (as of `asOf`). A
 * reference the API found no name for (a record the tenant does not have) is its id,
 * unlinked, so no link leads to a missing page.
 */
export function ReferenceLink({
  rec,
  reference,
  asOf,
  testId,
}: {
  rec: Record<string, unknown>;
  reference: Reference;
  asOf?: string | null;
  testId?: string;
}) {
  const id = rec[reference.idKey];
  const name = rec[reference.nameKey];
  if (typeof id !== "string" || !id) return <span className="text-fg-muted">—</span>;
  if (typeof name !== "string" || !name) {
    return (
      <span className="font-mono text-fg-muted" title={`No ${reference.label.toLowerCase()} ${id} in the synced data`} data-testid={testId}>
        {id}
      </span>
    );
  }
  return (
    <Link to={withAsOf(detailPath(reference.resource, id), asOf)} className={LINK} data-testid={testId} data-id={id}>
      {name}
    </Link>
  );
}

/** A row of labelled links: a ticket's company, contact and owner. */
export function ReferenceBar({ rec, references, asOf }: { rec: Record<string, unknown>; references: Reference[]; asOf?: string | null }) {
  const shown = references.filter((r) => r.idKey in rec);
  if (shown.length === 0) return null;
  return (
    <dl className="flex flex-wrap gap-x-6 gap-y-2 text-sm" data-testid="detail-links">
      {shown.map((r) => (
        <div key={r.idKey} className="flex items-baseline gap-1.5">
          <dt className="text-fg-muted">{r.label}</dt>
          <dd className="font-medium">
            <ReferenceLink rec={rec} reference={r} asOf={asOf} testId={`link-${r.idKey.replace(/_id$/, "")}`} />
          </dd>
        </div>
      ))}
    </dl>
  );
}

export interface RelatedTableProps {
  /** Test id suffix: the card is `related-{testId}`. */
  testId: string;
  title: string;
  /** The resource listed. */
  resource: string;
  /** The filters selecting the related records (`company=<id>`). */
  filters: [string, string][];
  sort?: { key: string; order: "asc" | "desc" };
  /** Columns; the first links to each record's page, a name column whose id the row
   *  has (`member_name`) to that record's. */
  columns: Column[];
  pageSize?: number;
  asOf?: string | null;
  /** What to say when there are none. */
  empty: string;
  className?: string;
}

/** A short table of related records, its total, and a link to the whole filtered list. */
export function RelatedTable({ testId, title, resource, filters, sort, columns, pageSize = 5, asOf, empty, className = "" }: RelatedTableProps) {
  const withTime: [string, string][] = asOf ? [...filters, ["as_of", asOf]] : filters;
  const path = apiListPath(resource, { page: 1, pageSize, sort: sort?.key, order: sort?.order, filters: withTime });
  const q = useQuery({
    queryKey: ["related", path],
    queryFn: () => api.request<Page<AnyRecord>>(path),
    placeholderData: keepPreviousData,
  });
  const total = q.data?.total;
  const all = listPath(resource, withTime, sort);
  return (
    <Card className={`flex flex-col overflow-hidden ${className}`}>
      <section data-testid={`related-${testId}`} aria-label={title} className="flex flex-1 flex-col">
        <CardHeader
          title={title}
          subtitle={total === undefined ? "…" : `${formatInt(total)} ${total === 1 ? "record" : "records"}`}
          right={
            <Link to={all} data-testid={`related-${testId}-all`} className={`whitespace-nowrap text-sm font-medium ${LINK_TEXT}`}>
              View all{total !== undefined ? ` (${formatInt(total)})` : ""} →
            </Link>
          }
        />
        <span hidden data-testid={`related-${testId}-total`} data-value={total ?? ""} />
        {q.isError ? (
          <div className="p-4">
            <ErrorBox error={q.error} />
          </div>
        ) : q.isLoading ? (
          <Spinner />
        ) : (q.data?.items.length ?? 0) === 0 ? (
          <p className="px-5 py-6 text-sm text-fg-muted">{empty}</p>
        ) : (
          <div className={`overflow-x-auto transition-opacity ${q.isFetching ? "opacity-60" : ""}`}>
            <table className="min-w-full text-sm">
              <thead className="bg-subtle text-left text-xs font-medium uppercase tracking-wide text-fg-muted">
                <tr>
                  {columns.map((c) => (
                    <th key={c.key} scope="col" className={`px-4 py-2 ${c.align === "right" ? "text-right" : ""}`}>
                      {c.label}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody className="divide-y divide-line-soft">
                {q.data!.items.map((row) => (
                  <tr key={row.id} data-testid="related-row" className="hover:bg-accent-soft/40">
                    {columns.map((c, i) => (
                      <td
                        key={c.key}
                        className={`max-w-[16rem] truncate px-4 py-2 text-fg-soft ${c.align === "right" ? "text-right tabular-nums" : ""} ${c.className ?? ""}`}
                        title={c.key === "notes" && typeof row[c.key] === "string" ? String(row[c.key]) : undefined}
                      >
                        <RelatedCell col={c} row={row} first={i === 0} resource={resource} asOf={asOf} />
                      </td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </Card>
  );
}

function RelatedCell({ col, row, first, resource, asOf }: { col: Column; row: AnyRecord; first: boolean; resource: string; asOf?: string | null }) {
  if (first) {
    return (
      <Link to={withAsOf(detailPath(resource, row.id), asOf)} className="font-medium text-fg hover:text-accent">
        <CellValue col={col} row={row} />
      </Link>
    );
  }
  const ref = referenceOf(col.key);
  if (ref && ref.nameKey === col.key && !col.render) return <ReferenceLink rec={row} reference={ref} asOf={asOf} />;
  return <CellValue col={col} row={row} />;
}
