// A detail page's History: every version of the record, newest first, each with when it
// took effect and what it changed (field: old → new), computed in lib/history.ts.
import { useState } from "react";
import { Link } from "react-router";
import { useQuery } from "@tanstack/react-query";
import { api } from "../lib/client";
import { fieldLabel, formatDateTime, formatValue, isIsoDate } from "../lib/format";
import { type FieldChange, initialValues, type VersionEntry, type VersionKind } from "../lib/history";
import { apiListPath, detailPath, ID_FILTERS, referenceOf, RESOURCES } from "../lib/resources";
import type { AnyRecord, Page } from "../lib/types";
import { BUTTON, Badge, Card, ErrorBox, LINK, Spinner, TEXT_TONE } from "./ui";

const KIND: Record<VersionKind, { label: string; tone: "green" | "indigo" | "red" | "amber" }> = {
  created: { label: "Created", tone: "green" },
  updated: { label: "Updated", tone: "indigo" },
  deleted: { label: "Deleted", tone: "red" },
  restored: { label: "Restored", tone: "amber" },
};

/** Names of the records the changes refer to (owners, companies …), one list request
 *  per kind, as they are now: a reference is linked only when it resolves. */
function useReferenceNames(entries: VersionEntry[], enabled: boolean): Map<string, string> {
  const wanted = new Map<string, Set<string>>();
  for (const e of entries) {
    const fields = e.kind === "created" ? initialValues(e.record) : e.changes;
    for (const c of fields) {
      const ref = referenceOf(c.field);
      if (!ref || ref.idKey !== c.field) continue;
      const ids = wanted.get(ref.resource) ?? new Set<string>();
      for (const v of [c.from, c.to]) if (typeof v === "string" && v && !v.includes(",")) ids.add(v);
      wanted.set(ref.resource, ids);
    }
  }
  const lookups = [...wanted.entries()]
    .filter(([r, ids]) => ids.size > 0 && ID_FILTERS[r])
    .map(([resource, ids]) => {
      const list = [...ids].sort().slice(0, 100);
      return { resource, path: apiListPath(resource, { page: 1, pageSize: list.length, filters: [[ID_FILTERS[resource], list.join(",")]] }) };
    });
  // The kinds vary by record: one query runs all their lookups, so the hooks stay fixed.
  const q = useQuery({
    queryKey: ["history-names", lookups.map((l) => l.path)],
    queryFn: async () => {
      const out: [string, string][] = [];
      for (const l of lookups) {
        const page = await api.request<Page<AnyRecord>>(l.path);
        for (const r of page.items) out.push([r.id, RESOURCES[l.resource].titleOf(r)]);
      }
      return out;
    },
    enabled: enabled && lookups.length > 0,
    staleTime: 5 * 60_000,
  });
  return new Map(q.data ?? []);
}

function HistoryValue({ field, value, names }: { field: string; value: unknown; names: Map<string, string> }) {
  if (value === null || value === undefined) return <span className="text-fg-muted">empty</span>;
  const ref = referenceOf(field);
  if (ref && ref.idKey === field && typeof value === "string") {
    const name = names.get(value);
    return name ? (
      <Link to={detailPath(ref.resource, value)} className={`${LINK} hover:underline`} title={value}>
        {name}
      </Link>
    ) : (
      <span className="font-mono">{value}</span>
    );
  }
  if (typeof value === "object") return <span className="font-mono text-xs">{JSON.stringify(value)}</span>;
  return <span title={isIsoDate(value) ? value : undefined}>{formatValue(value)}</span>;
}

/** A field's label; a reference by what it names ("Owner", not "Owner ID"). */
function label(field: string): string {
  const ref = referenceOf(field);
  return ref && ref.idKey === field ? ref.label : fieldLabel(field);
}

function Changes({ changes, names, testId }: { changes: FieldChange[]; names: Map<string, string>; testId: string }) {
  return (
    <table className="mt-2 w-full text-sm" data-testid={testId}>
      <tbody className="divide-y divide-line-soft">
        {changes.map((c) => (
          <tr key={c.field} data-field={c.field} data-testid="history-change">
            <th scope="row" className="w-1/4 py-1 pr-3 text-left align-top font-medium text-fg-muted">
              {label(c.field)}
            </th>
            <td className="py-1 align-top break-words">
              <span className="text-fg-muted line-through decoration-red-400/70">
                <HistoryValue field={c.field} value={c.from} names={names} />
              </span>
              <span className="mx-2 text-fg-muted" aria-label="changed to">→</span>
              <span className="font-medium text-fg">
                <HistoryValue field={c.field} value={c.to} names={names} />
              </span>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function VersionItem({
  entry,
  shown,
  order,
  names,
  onShow,
}: {
  entry: VersionEntry;
  shown: boolean;
  order: readonly string[];
  names: Map<string, string>;
  onShow: (at: string) => void;
}) {
  const kind = KIND[entry.kind];
  const initial = entry.kind === "created" ? initialValues(entry.record, order) : [];
  return (
    <li
      className={`relative py-3 pl-8 ${shown ? "bg-accent-soft/60" : ""}`}
      data-testid="history-version"
      data-kind={entry.kind}
      data-version={entry.number}
      data-at={entry.at ?? ""}
      aria-current={shown ? "true" : undefined}
    >
      <span
        className={`absolute left-3 top-4.5 h-2.5 w-2.5 rounded-full ring-4 ring-surface ${
          entry.kind === "deleted" ? "bg-red-500" : entry.kind === "created" ? "bg-emerald-500" : "bg-indigo-500"
        }`}
        aria-hidden="true"
      />
      <div className="flex flex-wrap items-center gap-x-2 gap-y-1 pr-4">
        <span className="text-sm font-semibold text-fg">Version {entry.number}</span>
        <Badge tone={kind.tone}>{kind.label}</Badge>
        {entry.current && <Badge tone="slate">Current</Badge>}
        {shown && <Badge tone="indigo">Shown above</Badge>}
        <time dateTime={entry.at ?? undefined} title={entry.at ?? undefined} className="text-sm text-fg-muted">
          {entry.at ? formatDateTime(entry.at) : "unknown time"}
        </time>
        {entry.at && !shown && entry.kind !== "deleted" && (
          <button
            type="button"
            onClick={() => onShow(entry.at!)}
            data-testid="history-show-version"
            className={`ml-auto text-xs font-medium ${LINK}`}
          >
            View as of this version
          </button>
        )}
      </div>
      <div className="pr-4">
        {entry.kind === "created" ? (
          <>
            <p className="mt-1 text-sm text-fg-soft">Record created.</p>
            {initial.length > 0 && (
              <details className="mt-1 text-sm">
                <summary className="cursor-pointer text-xs font-medium text-fg-muted hover:text-fg-soft">
                  Initial values ({initial.length})
                </summary>
                <dl className="mt-1 grid grid-cols-1 gap-x-4 gap-y-0.5 sm:grid-cols-2">
                  {initial.map((c) => (
                    <div key={c.field} className="flex gap-2">
                      <dt className="text-fg-muted">{label(c.field)}:</dt>
                      <dd className="min-w-0 break-words text-fg-soft">
                        <HistoryValue field={c.field} value={c.to} names={names} />
                      </dd>
                    </div>
                  ))}
                </dl>
              </details>
            )}
          </>
        ) : entry.kind === "deleted" ? (
          <p className={`mt-1 text-sm ${TEXT_TONE.red}`}>Record deleted in the source.</p>
        ) : entry.changes.length === 0 ? (
          <p className="mt-1 text-sm text-fg-muted">
            {entry.kind === "restored" ? "Record restored, unchanged." : "No field changes (only the source's bookkeeping changed)."}
          </p>
        ) : (
          <>
            {entry.kind === "restored" && <p className={`mt-1 text-sm ${TEXT_TONE.amber}`}>Record restored after a deletion.</p>}
            <Changes changes={entry.changes} names={names} testId="history-changes" />
          </>
        )}
      </div>
    </li>
  );
}

/**
 * The History card: collapsed to a summary (how many versions, when last changed) until
 * opened. `entries` are oldest first; the list shows them newest first. `shownVersion`
 * is the version the page shows (the current one, or the one standing at `as_of`).
 */
export function HistoryCard({
  query,
  entries,
  shownVersion,
  order,
  onShowVersion,
}: {
  query: { isLoading: boolean; isError: boolean; error: unknown };
  entries: VersionEntry[];
  shownVersion: number | null;
  order: readonly string[];
  onShowVersion: (at: string) => void;
}) {
  const [open, setOpen] = useState(false);
  const names = useReferenceNames(entries, open);
  const newest = entries[entries.length - 1];
  const summary = query.isLoading
    ? "Loading versions…"
    : query.isError
      ? "Could not load the versions."
      : `${entries.length} ${entries.length === 1 ? "version" : "versions"}${newest?.at ? ` · last changed ${formatDateTime(newest.at)}` : ""}`;
  return (
    <Card>
      <section aria-labelledby="history-title" data-testid="history">
        <div className="flex items-start justify-between gap-4 px-5 py-4">
          <div>
            <h2 id="history-title" className="text-sm font-semibold text-fg">
              History
            </h2>
            <p className="mt-0.5 text-xs text-fg-muted" data-testid="history-summary" data-count={query.isLoading || query.isError ? "" : entries.length}>
              {summary}
            </p>
          </div>
          <button
            type="button"
            data-testid="history-toggle"
            aria-expanded={open}
            aria-controls="history-list"
            onClick={() => setOpen(!open)}
            className={`${BUTTON} px-3 py-1.5`}
          >
            {open ? "Hide history" : "Show history"}
          </button>
        </div>
        {open && (
          <div className="border-t border-line-soft" id="history-list">
            {query.isError ? (
              <div className="p-4">
                <ErrorBox error={query.error} />
              </div>
            ) : query.isLoading ? (
              <Spinner />
            ) : entries.length === 0 ? (
              <p className="px-5 py-6 text-sm text-fg-muted">No versions recorded.</p>
            ) : (
              <>
                <p className="px-5 pt-3 text-xs font-medium uppercase tracking-wide text-fg-muted">
                  Newest first · times are when the source recorded each change
                </p>
                <ol className="relative divide-y divide-line-soft before:absolute before:bottom-0 before:left-[1.05rem] before:top-0 before:w-px before:bg-line" data-testid="history-list">
                  {[...entries].reverse().map((e) => (
                    <VersionItem key={e.number} entry={e} shown={e.number === shownVersion} order={order} names={names} onShow={onShowVersion} />
                  ))}
                </ol>
              </>
            )}
          </div>
        )}
      </section>
    </Card>
  );
}
