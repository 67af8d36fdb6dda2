// A list page's filters: the chips of those in force (named: "Company: Contoso"), and a
// panel of controls for those the list accepts. Their state is the page's URL, like the
// dashboard's filter bar; every change goes back to the first page.
import { useEffect, useState } from "react";
import { chips, LIST_FILTERS, type ListFilter } from "../lib/listFilters";
import { useRecordNames } from "../lib/names";
import { CONTROL, LINK } from "./ui";
import { GroupSelect, RecordPicker, useUrlState } from "./Filters";

const control = `${CONTROL} px-2.5 py-1.5`;

/** The chips of the filters in force, each with a button removing it. */
export function FilterChips({ filters }: { filters: [string, string][] }) {
  const [, update] = useUrlState();
  const refs = chips(filters)
    .map((c) => c.record)
    .filter((r): r is { resource: string; id: string } => r !== undefined);
  const names = useRecordNames(refs);
  const list = chips(filters, names);
  if (list.length === 0) return null;
  return (
    <div className="mt-2 flex flex-wrap gap-1.5" data-testid="list-filters">
      {list.map((c) => (
        <span key={c.id} data-testid={`chip-${c.id}`} className="inline-flex items-center gap-1 rounded-full bg-accent-soft px-2 py-0.5 text-xs text-accent-soft-fg">
          <span className="font-medium">{c.label}:</span> <span className="max-w-64 truncate">{c.text}</span>
          <button
            type="button"
            aria-label={`Remove filter ${c.label.toLowerCase()}`}
            onClick={() => update({ ...Object.fromEntries(c.keys.map((k) => [k, undefined])), page: undefined })}
            className="hover:text-fg"
          >
            ✕
          </button>
        </span>
      ))}
    </div>
  );
}

function DateRange({ name, label }: { name: string; label: string }) {
  const [params, update] = useUrlState();
  const dateOf = (k: string) => {
    const v = params.get(k) ?? "";
    return /^\d{4}-\d{2}-\d{2}$/.test(v) ? v : "";
  };
  const [from, setFrom] = useState(dateOf(`${name}_from`));
  const [to, setTo] = useState(dateOf(`${name}_to`));
  useEffect(() => {
    setFrom(dateOf(`${name}_from`));
    setTo(dateOf(`${name}_to`));
  }, [params]);
  const set = (end: "from" | "to", v: string) => {
    if (end === "from") setFrom(v);
    else setTo(v);
    // A date input reports a value only once it holds a whole date.
    if (v === "" || /^\d{4}-\d{2}-\d{2}$/.test(v)) update({ [`${name}_${end}`]: v || undefined, page: undefined });
  };
  return (
    <fieldset className="flex flex-col gap-0.5 text-xs font-medium text-fg-muted">
      <legend className="mb-0.5">{label}</legend>
      <div className="flex items-center gap-1.5">
        <input type="date" aria-label={`${label} from`} data-testid={`filter-${name}_from`} value={from} max={to || undefined}
          onChange={(e) => set("from", e.target.value)} className={control} />
        <span className="font-normal">to</span>
        <input type="date" aria-label={`${label} to`} data-testid={`filter-${name}_to`} value={to} min={from || undefined}
          onChange={(e) => set("to", e.target.value)} className={control} />
      </div>
    </fieldset>
  );
}

function OpenSelect({ label }: { label: string }) {
  const [params, update] = useUrlState();
  const value = params.get("open") ?? "";
  return (
    <label className="flex flex-col gap-0.5 text-xs font-medium text-fg-muted">
      {label}
      <select data-testid="filter-open" value={value} onChange={(e) => update({ open: e.target.value || undefined, page: undefined })}
        className={`${control} min-w-28`}>
        <option value="">All</option>
        <option value="true">Open</option>
        <option value="false">Closed</option>
      </select>
    </label>
  );
}

function Control({ f }: { f: ListFilter }) {
  switch (f.kind) {
    case "choice":
      return <GroupSelect name={f.key} label={f.label} group={f.groupBy} metric={f.metric} />;
    case "record":
      return <RecordPicker name={f.key} label={f.label} resource={f.resource} />;
    case "dates":
      return <DateRange name={f.name} label={f.label} />;
    case "open":
      return <OpenSelect label={f.label} />;
  }
}

/** The keys of the URL a list filter sets. */
function keysOf(f: ListFilter): string[] {
  return f.kind === "dates" ? [`${f.name}_from`, `${f.name}_to`] : [f.key];
}

/** The button opening a list's filter panel, with the number of filters in force. */
export function FilterToggle({ resource, open, onToggle, count }: { resource: string; open: boolean; onToggle: () => void; count: number }) {
  if (!LIST_FILTERS[resource]?.length) return null;
  return (
    <button type="button" data-testid="filters-toggle" aria-expanded={open} aria-controls={open ? "list-filter-panel" : undefined} onClick={onToggle}
      className={`${CONTROL} inline-flex items-center gap-1.5 whitespace-nowrap px-3 py-2 text-sm font-medium text-fg-soft hover:bg-subtle`}>
      Filters
      {count > 0 && <span className="rounded-full bg-accent px-1.5 text-xs text-white">{count}</span>}
    </button>
  );
}

/** The controls of the filters a list accepts. */
export function FilterPanel({ resource }: { resource: string }) {
  const [params, update] = useUrlState();
  const filters = LIST_FILTERS[resource] ?? [];
  const active = filters.flatMap(keysOf).filter((k) => params.get(k));
  return (
    <div id="list-filter-panel" className="flex flex-wrap items-end gap-3 rounded-xl border border-line bg-surface p-3 dark:border-line-strong" data-testid="list-filter-panel" aria-label="Filters" role="group">
      {filters.map((f) => (
        <Control key={keysOf(f).join()} f={f} />
      ))}
      {active.length > 0 && (
        <button type="button" data-testid="clear-list-filters" onClick={() => update({ ...Object.fromEntries(active.map((k) => [k, undefined])), page: undefined })}
          className={`pb-1.5 text-sm font-medium ${LINK}`}>
          Clear filters
        </button>
      )}
    </div>
  );
}
