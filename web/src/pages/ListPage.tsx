import { useCallback, useEffect, useRef, useState } from "react";
import { useDismiss } from "../lib/dismiss";
import { Link, useNavigate, useSearchParams } from "react-router";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { api } from "../lib/client";
import type { AnyRecord, Page } from "../lib/types";
import { formatInt, MAX_LISTED, pageCount, pageLimit } from "../lib/format";
import { apiExportPath, apiListPath, detailPath, EXPORT_LINKS_PATH, listFilters, RESOURCES, type Column } from "../lib/resources";
import { withAsOf } from "../lib/asof";
import { CellValue, cellText } from "../components/Cell";
import { BUTTON, CONTROL, Card, ErrorBox, Spinner } from "../components/ui";
import { SavedViews } from "../components/SavedViews";
import { FilterChips, FilterPanel, FilterToggle } from "../components/ListFilters";
import { usePageTitle } from "../lib/title";

const PAGE_SIZES = [25, 50, 100];

/** The columns a user chose for a list, kept in this browser. */
function useColumns(resource: string, all: Column[]): [Column[], Set<string>, (key: string) => void] {
  const storageKey = `avesa.columns.${resource}`;
  const [chosen, setChosen] = useState<Set<string>>(() => {
    try {
      const raw = window.localStorage.getItem(storageKey);
      if (raw) return new Set(JSON.parse(raw) as string[]);
    } catch {
      /* fall back to the defaults */
    }
    return new Set(all.filter((c) => !c.optional).map((c) => c.key));
  });
  const toggle = (key: string) => {
    const next = new Set(chosen);
    if (next.has(key)) next.delete(key);
    else next.add(key);
    if (next.size === 0) return;
    setChosen(next);
    try {
      window.localStorage.setItem(storageKey, JSON.stringify([...next]));
    } catch {
      /* not kept */
    }
  };
  return [all.filter((c) => chosen.has(c.key)), chosen, toggle];
}

function ColumnPicker({ all, chosen, toggle }: { all: Column[]; chosen: Set<string>; toggle: (key: string) => void }) {
  const [open, setOpen] = useState(false);
  const closeMenu = useCallback(() => setOpen(false), []);
  const root = useRef<HTMLDivElement>(null);
  const trigger = useRef<HTMLButtonElement>(null);
  // Closes on a click elsewhere and on Escape (focus back on its button).
  useDismiss(open, closeMenu, root, trigger);
  return (
    <div className="relative" ref={root}>
      <button ref={trigger} type="button" data-testid="column-picker" aria-expanded={open} onClick={() => setOpen(!open)}
        className={`${BUTTON} px-3 py-2`}>
        Columns
      </button>
      {open && (
        <div className="absolute right-0 z-20 mt-1 w-52 rounded-lg border border-line bg-raised p-2 shadow-lg dark:border-line-strong" role="group" aria-label="Columns shown">
          {all.map((c) => (
            <label key={c.key} className="flex items-center gap-2 rounded px-2 py-1 text-sm text-fg-soft hover:bg-accent-soft">
              <input type="checkbox" checked={chosen.has(c.key)} onChange={() => toggle(c.key)} />
              {c.label}
            </label>
          ))}
        </div>
      )}
    </div>
  );
}
const DEFAULT_PAGE_SIZE = 50;

function intParam(v: string | null, def: number): number {
  const n = v ? parseInt(v, 10) : NaN;
  return Number.isFinite(n) && n > 0 ? n : def;
}

export function ListPage({ resource }: { resource: string }) {
  const cfg = RESOURCES[resource];
  usePageTitle(cfg.title);
  const [columns, chosen, toggleColumn] = useColumns(resource, cfg.columns);
  const navigate = useNavigate();
  const [params, setParams] = useSearchParams();
  const page = intParam(params.get("page"), 1);
  const pageSize = intParam(params.get("page_size"), DEFAULT_PAGE_SIZE);
  const q = params.get("q") ?? "";
  const sort = params.get("sort") ?? cfg.defaultSort?.key;
  const order = params.get("sort") ? (params.get("order") === "desc" ? "desc" : "asc") : (cfg.defaultSort?.order ?? "asc");
  const filters = listFilters(params);
  // A list as of an instant (a detail page's "View all") opens its records as of then too.
  const asOf = params.get("as_of");
  const filterKey = filters.map(([k, v]) => `${k}=${v}`).join("&");
  const [search, setSearch] = useState(q);
  const [panelOpen, setPanelOpen] = useState(false);

  function update(changes: Record<string, string | number | undefined>) {
    setParams(
      (prev) => {
        const next = new URLSearchParams(prev);
        for (const [k, v] of Object.entries(changes)) {
          if (v === undefined || v === "" || (k === "page" && v === 1) || (k === "page_size" && v === DEFAULT_PAGE_SIZE)) next.delete(k);
          else next.set(k, String(v));
        }
        return next;
      },
      { replace: true },
    );
  }

  // Debounce the search box into the URL (?q=), resetting to page 1.
  useEffect(() => {
    if (search === q) return;
    const t = window.setTimeout(() => update({ q: search.trim() || undefined, page: 1 }), 300);
    return () => window.clearTimeout(t);
  }, [search]);

  // Keep the box in sync when the URL changes (back/forward).
  useEffect(() => setSearch(q), [q]);

  const query = useQuery({
    queryKey: ["list", resource, page, pageSize, q, sort ?? "", order, filterKey],
    queryFn: () => api.request<Page<AnyRecord>>(apiListPath(resource, { page, pageSize, q, sort, order, filters })),
    placeholderData: keepPreviousData,
  });

  const data = query.data;
  const total = data?.total ?? 0;
  const pages = data ? pageLimit(total, data.page_size || pageSize) : null;
  // The API lists at most MAX_LISTED records deep; past that, narrow or sort the other way.
  const cut = data !== undefined && pages !== null && pages < pageCount(total, data.page_size || pageSize);

  // A new page starts at its top.
  useEffect(() => {
    window.scrollTo({ top: 0 });
  }, [page]);

  // The CSV export of exactly this view (search, order, filters), every page: the server
  // makes a one-time link to it, which the browser follows as a download, writing the file
  // as it streams (the page never holds it).
  const [exporting, setExporting] = useState(false);
  const [exportError, setExportError] = useState<unknown>(null);
  async function exportCsv() {
    setExporting(true);
    setExportError(null);
    try {
      const link = await api.request<{ url: string }>(EXPORT_LINKS_PATH, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ path: apiExportPath(resource, { q, sort, order, filters }) }),
      });
      const a = document.createElement("a");
      a.href = link.url;
      a.download = "";
      document.body.appendChild(a);
      a.click();
      a.remove();
    } catch (e) {
      setExportError(e);
    } finally {
      setExporting(false);
    }
  }

  function toggleSort(col: Column) {
    const key = col.sortKey === undefined ? col.key : col.sortKey;
    if (!key) return;
    if (sort !== key) update({ sort: key, order: "asc", page: 1 });
    else update({ sort: key, order: order === "asc" ? "desc" : "asc", page: 1 });
  }

  return (
    <div className="space-y-4">
      <div className="flex flex-col gap-3 sm:flex-row sm:items-end sm:justify-between">
        <div>
          <h1 className="text-xl font-semibold text-fg">{cfg.title}</h1>
          <p className="text-sm text-fg-muted">
            <span data-testid="list-total" data-value={data ? total : ""}>
              {data ? formatInt(total) : "…"}
            </span>{" "}
            {total === 1 ? "record" : "records"}
            {q && <> matching “{q}”</>}
          </p>
          <FilterChips filters={filters} />
        </div>
        <div className="flex w-full flex-wrap items-center gap-2 sm:w-auto sm:flex-nowrap">
        <FilterToggle resource={resource} open={panelOpen} onToggle={() => setPanelOpen(!panelOpen)} count={filters.length} />
        <SavedViews page={resource} label={cfg.title} pad="px-3 py-2" />
        <button
          type="button"
          data-testid="export-csv"
          onClick={exportCsv}
          disabled={exporting}
          title="Download every record of this view (all pages) as CSV"
          className={`${BUTTON} whitespace-nowrap px-3 py-2`}
        >
          {exporting ? "Exporting…" : "Export CSV"}
        </button>
        <ColumnPicker all={cfg.columns} chosen={chosen} toggle={toggleColumn} />
        <div className="relative w-full sm:w-80">
          <svg viewBox="0 0 24 24" className="pointer-events-none absolute left-3 top-2.5 h-4 w-4 text-fg-faint" fill="currentColor" aria-hidden="true">
            <path d="M15.5 14h-.79l-.28-.27A6.47 6.47 0 0 0 16 9.5 6.5 6.5 0 1 0 9.5 16c1.61 0 3.09-.59 4.23-1.57l.27.28v.79l5 4.99L20.49 19l-4.99-5zm-6 0C7.01 14 5 11.99 5 9.5S7.01 5 9.5 5 14 7.01 14 9.5 11.99 14 9.5 14z" />
          </svg>
          <input
            type="search"
            name="q"
            data-testid="search"
            aria-label={cfg.searchPlaceholder}
            placeholder={cfg.searchPlaceholder}
            value={search}
            onChange={(e) => setSearch(e.target.value)}
            onKeyDown={(e) => {
              if (e.key === "Enter") update({ q: search.trim() || undefined, page: 1 });
            }}
            className={`${CONTROL} block w-full py-2 pl-9 pr-3`}
          />
        </div>
        </div>
      </div>
      {panelOpen && <FilterPanel resource={resource} />}
      {exportError !== null && (
        <div data-testid="export-error">
          <ErrorBox error={exportError} />
        </div>
      )}

      <Card className="overflow-hidden">
        {query.isError ? (
          <div className="p-4"><ErrorBox error={query.error} /></div>
        ) : query.isLoading ? (
          <Spinner />
        ) : (
          <div className={`transition-opacity ${query.isFetching ? "opacity-60" : ""}`}>
            {/* Phones: one card per record. */}
            <ul className="divide-y divide-line-soft sm:hidden" data-testid="list-cards">
              {(data?.items ?? []).map((row) => (
                <li key={String(row.id)}>
                  <Link to={withAsOf(detailPath(resource, String(row.id)), asOf)} className="block px-4 py-3 hover:bg-accent-soft/40">
                    <div className="font-medium text-fg"><CellValue col={columns[0]} row={row} /></div>
                    <dl className="mt-1 grid grid-cols-2 gap-x-3 gap-y-0.5 text-xs">
                      {columns.slice(1).map((col) => (
                        <div key={col.key} className="min-w-0">
                          <dt className="inline text-fg-muted">{col.label}: </dt>
                          <dd className="inline text-fg-soft"><CellValue col={col} row={row} /></dd>
                        </div>
                      ))}
                    </dl>
                  </Link>
                </li>
              ))}
            </ul>
            <div className="hidden overflow-x-auto sm:block">
            <table className="min-w-full text-sm" data-testid="list-table">
              <thead className="bg-subtle text-left text-xs font-medium uppercase tracking-wide text-fg-muted">
                <tr>
                  {columns.map((col) => {
                    const key = col.sortKey === undefined ? col.key : col.sortKey;
                    const active = key && sort === key;
                    return (
                      <th key={col.key + col.label} className={`px-3 py-2.5 ${col.align === "right" ? "text-right" : ""} ${col.className ?? ""}`}
                        aria-sort={active ? (order === "asc" ? "ascending" : "descending") : undefined}>
                        {key ? (
                          <button type="button" onClick={() => toggleSort(col)} className="inline-flex items-center gap-1 uppercase hover:text-fg">
                            {col.label}
                            <span className={active ? "text-accent" : "text-fg-faint"} aria-hidden="true">{active ? (order === "asc" ? "▲" : "▼") : "↕"}</span>
                          </button>
                        ) : (
                          col.label
                        )}
                      </th>
                    );
                  })}
                </tr>
              </thead>
              <tbody className="divide-y divide-line-soft">
                {(data?.items ?? []).map((row) => {
                  const href = withAsOf(detailPath(resource, String(row.id)), asOf);
                  return (
                    <tr key={String(row.id)} data-testid="list-row" className="cursor-pointer hover:bg-accent-soft/40"
                      onClick={(e) => {
                        if ((e.target as HTMLElement).closest("a")) return;
                        navigate(href);
                      }}>
                      {columns.map((col, i) => (
                        <td key={col.key + col.label}
                          title={cellText(col, row)}
                          className={`${col.className?.includes("max-w-") ? "" : "max-w-xs"} truncate px-3 py-2.5 text-fg-soft ${col.align === "right" ? "text-right tabular-nums" : ""} ${col.className ?? ""}`}>
                          {i === 0 ? (
                            <Link to={href} className="font-medium text-fg hover:text-accent">
                              <CellValue col={col} row={row} />
                            </Link>
                          ) : (
                            <CellValue col={col} row={row} />
                          )}
                        </td>
                      ))}
                    </tr>
                  );
                })}
              </tbody>
            </table>
            </div>
            {data && data.items.length === 0 && (
              <p className="px-4 py-10 text-center text-sm text-fg-muted">No {cfg.title.toLowerCase()} found.</p>
            )}
          </div>
        )}
        <div className="flex flex-wrap items-center justify-between gap-3 border-t border-line-soft px-4 py-3 text-sm">
          <div className="flex items-center gap-2 text-fg-soft">
            <label htmlFor="page-size">Rows</label>
            <select id="page-size" value={pageSize} onChange={(e) => update({ page_size: Number(e.target.value), page: 1 })}
              className={`${CONTROL} px-2 py-1`}>
              {PAGE_SIZES.map((s) => <option key={s} value={s}>{s}</option>)}
            </select>
          </div>
          <div className="flex items-center gap-3">
            <button type="button" data-testid="prev-page" disabled={page <= 1} onClick={() => update({ page: page - 1 })}
              className={`${BUTTON} px-3 py-1.5`}>
              Prev
            </button>
            <span data-testid="page-indicator" className="tabular-nums text-fg-soft">
              Page {formatInt(page)} of {pages === null ? "…" : formatInt(pages)}
            </span>
            {cut && (
              <span data-testid="page-limit" className="text-xs text-fg-muted">
                (the first {formatInt(MAX_LISTED)}: search, filter or sort the other way for the rest)
              </span>
            )}
            <button type="button" data-testid="next-page" disabled={pages === null || page >= pages} onClick={() => update({ page: page + 1 })}
              className={`${BUTTON} px-3 py-1.5`}>
              Next
            </button>
          </div>
        </div>
      </Card>
    </div>
  );
}
