// The period picker and the filter bar. Their state lives in the URL (period, from, to
// and one parameter per filter), so a dashboard view can be bookmarked, shared and
// opened on a wall screen, and the back button undoes a change.
import { useEffect, useState } from "react";
import { useSearchParams } from "react-router";
import { useQuery } from "@tanstack/react-query";
import { api } from "../lib/client";
import { DEFAULT_PERIOD, FILTERS, PERIODS, type MetricView } from "../lib/analytics";
import type { AnyRecord, Page } from "../lib/types";
import { RESOURCES } from "../lib/resources";
import { valueText } from "../lib/listFilters";
import { useRecordName } from "../lib/names";
import { BUTTON_PRIMARY, CONTROL, LINK } from "./ui";

/** Sets (or, with undefined / "", removes) URL parameters, keeping the rest. */
export function useUrlState(): [URLSearchParams, (changes: Record<string, string | undefined>) => void] {
  const [params, setParams] = useSearchParams();
  const update = (changes: Record<string, string | undefined>) =>
    setParams(
      (prev) => {
        const next = new URLSearchParams(prev);
        for (const [k, v] of Object.entries(changes)) {
          if (v === undefined || v === "") next.delete(k);
          else next.set(k, v);
        }
        return next;
      },
      { replace: false },
    );
  return [params, update];
}

const control = `${CONTROL} px-2.5 py-1.5`;

export function PeriodPicker() {
  const [params, update] = useUrlState();
  const period = params.get("period") ?? DEFAULT_PERIOD;
  const [from, setFrom] = useState(params.get("from") ?? "");
  const [to, setTo] = useState(params.get("to") ?? "");
  useEffect(() => {
    setFrom(params.get("from") ?? "");
    setTo(params.get("to") ?? "");
  }, [params]);
  return (
    <div className="flex flex-wrap items-center gap-2" data-testid="period-picker">
      <div role="radiogroup" aria-label="Period" className="inline-flex overflow-hidden rounded-lg border border-line-strong bg-surface shadow-sm">
        {PERIODS.map((p) => {
          const active = p.id === period;
          return (
            <button
              key={p.id}
              type="button"
              role="radio"
              aria-checked={active}
              data-testid={`period-${p.id}`}
              onClick={() =>
                update(p.id === "custom" ? { period: "custom" } : { period: p.id === DEFAULT_PERIOD ? undefined : p.id, from: undefined, to: undefined })
              }
              className={`px-3 py-1.5 text-sm font-medium ${active ? "bg-primary text-white" : "text-fg-soft hover:bg-subtle"}`}
            >
              {p.label}
            </button>
          );
        })}
      </div>
      {period === "custom" && (
        <form
          className="flex items-center gap-1.5"
          onSubmit={(e) => {
            e.preventDefault();
            update({ from: from || undefined, to: to || undefined });
          }}
        >
          <label className="sr-only" htmlFor="period-from">From</label>
          <input id="period-from" type="date" value={from} max={to || undefined} onChange={(e) => setFrom(e.target.value)} className={control} required />
          <span className="text-sm text-fg-muted">to</span>
          <label className="sr-only" htmlFor="period-to">To</label>
          <input id="period-to" type="date" value={to} min={from || undefined} onChange={(e) => setTo(e.target.value)} className={control} />
          <button type="submit" className={`${BUTTON_PRIMARY} px-3 py-1.5`}>Apply</button>
        </form>
      )}
    </div>
  );
}

/** Two years back: the options of a filter are the values tickets had in that time. */
function optionsSince(): string {
  const d = new Date(Date.now() - 730 * 86_400_000);
  return d.toISOString().slice(0, 10);
}

/** One value of a breakdown (`group`) of `metric`'s records, as a select. Choosing one
 *  sets the URL parameter `name` (and goes back to a list's first page). */
export function GroupSelect({ name, label, group, metric = "tickets_opened" }: { name: string; label: string; group: string; metric?: string }) {
  const [params, update] = useUrlState();
  const value = params.get(name) ?? "";
  const options = useQuery({
    queryKey: ["filter-options", metric, group],
    queryFn: () =>
      api.request<MetricView>(
        `/api/analytics/metrics/${metric}?from=${optionsSince()}&group_by=${group}&compare=none&limit=200`,
      ),
    staleTime: 10 * 60_000,
  });
  const groups = (options.data?.groups ?? []).filter((g) => g.key !== null);
  return (
    <label className="flex flex-col gap-0.5 text-xs font-medium text-fg-muted">
      {label}
      <select
        data-testid={`filter-${name}`}
        value={value}
        onChange={(e) => update({ [name]: e.target.value || undefined, page: undefined })}
        className={`${control} min-w-32 max-w-48`}
      >
        <option value="">All</option>
        {value && !groups.some((g) => g.key === value) && <option value={value}>{valueText(name, value)}</option>}
        {groups.map((g) => (
          <option key={g.key} value={g.key ?? ""}>
            {g.key !== null && g.label === g.key ? valueText(name, g.key) : g.label}
          </option>
        ))}
      </select>
    </label>
  );
}

/** A company or technician by name: type to search, pick one (mouse, or arrow keys and
 *  Enter; Escape closes the list); the URL holds its id. */
export function RecordPicker({ name, label, resource }: { name: string; label: string; resource: "companies" | "members" }) {
  const [params, update] = useUrlState();
  const value = params.get(name) ?? "";
  const [text, setText] = useState("");
  const [open, setOpen] = useState(false);
  const [active, setActive] = useState(-1);
  const chosen = useRecordName(resource, value);
  const found = useQuery({
    queryKey: ["record-search", resource, text],
    queryFn: () =>
      api.request<Page<AnyRecord>>(`/api/${resource}?page_size=12&sort=name${text.trim() ? `&q=${encodeURIComponent(text.trim())}` : ""}`),
    enabled: open,
    staleTime: 60_000,
  });
  const items = found.data?.items ?? [];
  useEffect(() => setActive(-1), [text, open]);
  const pick = (r: AnyRecord) => {
    setText("");
    setOpen(false);
    update({ [name]: String(r.id), page: undefined });
  };
  if (value) {
    return (
      <div className="flex flex-col gap-0.5 text-xs font-medium text-fg-muted">
        {label}
        <span className={`${control} inline-flex items-center gap-2`} data-testid={`filter-${name}`} data-value={value}>
          <span className="max-w-40 truncate">{chosen ?? value}</span>
          <button type="button" aria-label={`Clear ${label.toLowerCase()}`} onClick={() => update({ [name]: undefined, page: undefined })} className="text-fg-muted hover:text-fg">
            ✕
          </button>
        </span>
      </div>
    );
  }
  const listId = `filter-${name}-options`;
  const shown = open && items.length > 0;
  return (
    <div className="relative flex flex-col gap-0.5 text-xs font-medium text-fg-muted">
      <label htmlFor={`filter-${name}`}>{label}</label>
      <input
        id={`filter-${name}`}
        data-testid={`filter-${name}`}
        type="search"
        role="combobox"
        aria-expanded={shown}
        aria-controls={shown ? listId : undefined}
        aria-autocomplete="list"
        aria-activedescendant={shown && active >= 0 ? `${listId}-${active}` : undefined}
        autoComplete="off"
        placeholder="All"
        value={text}
        onFocus={() => setOpen(true)}
        onBlur={() => window.setTimeout(() => setOpen(false), 150)}
        onChange={(e) => {
          setText(e.target.value);
          setOpen(true);
        }}
        onKeyDown={(e) => {
          if (e.key === "ArrowDown" || e.key === "ArrowUp") {
            e.preventDefault();
            if (!open) setOpen(true);
            if (items.length === 0) return;
            const step = e.key === "ArrowDown" ? 1 : -1;
            setActive((a) => (a + step + items.length) % items.length);
          } else if (e.key === "Enter" && shown && active >= 0 && items[active]) {
            e.preventDefault();
            pick(items[active]);
          } else if (e.key === "Escape" && open) {
            e.preventDefault();
            e.stopPropagation();
            setOpen(false);
          }
        }}
        className={`${control} w-44`}
      />
      {shown && (
        <ul id={listId} role="listbox" aria-label={label} className="absolute top-full z-20 mt-1 max-h-72 w-64 overflow-auto rounded-lg border border-line bg-raised py-1 text-sm shadow-lg dark:border-line-strong">
          {items.map((r, i) => (
            <li
              key={String(r.id)}
              id={`${listId}-${i}`}
              role="option"
              aria-selected={i === active}
              onMouseDown={(e) => e.preventDefault()}
              onMouseEnter={() => setActive(i)}
              onClick={() => pick(r)}
              className={`block w-full cursor-pointer truncate px-3 py-1.5 text-left font-normal text-fg-soft ${i === active ? "bg-accent-soft" : "hover:bg-accent-soft"}`}
            >
              {RESOURCES[resource].titleOf(r)}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

export function FilterBar() {
  const [params, update] = useUrlState();
  const active = FILTERS.filter((f) => params.get(f.key));
  return (
    <div className="flex flex-wrap items-end gap-3" data-testid="filter-bar" aria-label="Filters">
      {FILTERS.map((f) =>
        f.key === "company" ? (
          <RecordPicker key={f.key} name="company" label={f.label} resource="companies" />
        ) : f.key === "member" ? (
          <RecordPicker key={f.key} name="member" label={f.label} resource="members" />
        ) : (
          <GroupSelect key={f.key} name={f.key} label={f.label} group={f.group} />
        ),
      )}
      {active.length > 0 && (
        <button
          type="button"
          data-testid="clear-filters"
          onClick={() => update(Object.fromEntries(active.map((f) => [f.key, undefined])))}
          className={`pb-1.5 text-sm font-medium ${LINK}`}
        >
          Clear filters
        </button>
      )}
    </div>
  );
}
