// A record's page: its fields, links to the records it names, the records that name it
// (a company's contacts, tickets and hours), its figures, and its history; all of it as
// it stands now or, with `?as_of=`, as it stood then.
import { useMemo } from "react";
import { Link, useParams } from "react-router";
import { useQuery } from "@tanstack/react-query";
import { api } from "../lib/client";
import { ApiError } from "../lib/api";
import type { AnyRecord } from "../lib/types";
import { justAfter, withAsOf } from "../lib/asof";
import { billableLabel, fieldLabel, formatDateTime, formatValue, isIsoDate } from "../lib/format";
import { absenceAt, historyTimeline, versionAt, type Version, type VersionEntry } from "../lib/history";
import { apiDetailPath, REFERENCES, RESOURCES, type Column, type Reference, type Resource, ticketNumber } from "../lib/resources";
import { ALERT, BUTTON, Card, ErrorBox, LINK, Spinner } from "../components/ui";
import { CellValue } from "../components/Cell";
import { AsOfBanner, AsOfPicker, useAsOf } from "../components/AsOf";
import { HistoryCard } from "../components/History";
import { ReferenceBar, ReferenceLink, RelatedTable } from "../components/Related";
import { ReportFigures } from "../components/ReportFigures";
import { ClientReport } from "../components/ClientReport";
import { usePageTitle } from "../lib/title";

function FieldValue({ field, value }: { field: string; value: unknown }) {
  if (field === "website" && typeof value === "string" && value) {
    const href = /^https?:\/\//i.test(value) ? value : `https://${value}`;
    return <a href={href} target="_blank" rel="noreferrer noopener" className={LINK}>{value}</a>;
  }
  if (field === "email" && typeof value === "string" && value) {
    return <a href={`mailto:${value}`} className={LINK}>{value}</a>;
  }
  if (field === "billable_option" && typeof value === "string" && value) {
    return <span title={value}>{billableLabel(value)}</span>;
  }
  if (value !== null && typeof value === "object") {
    return <pre className="whitespace-pre-wrap break-all font-mono text-xs">{JSON.stringify(value, null, 2)}</pre>;
  }
  const text = formatValue(value);
  const mono = field === "id" || field.endsWith("_id");
  return (
    <span className={`${mono ? "font-mono" : ""} whitespace-pre-wrap break-words`} title={isIsoDate(value) ? value : undefined}>
      {text}
    </span>
  );
}

/** The record's fields: a reference shows once, as its name linking to its page (its
 *  id beside it), instead of an id row and a name row. */
function FieldList({ cfg, rec, asOf }: { cfg: Resource; rec: AnyRecord; asOf: string | null }) {
  const refs = REFERENCES.filter((r) => r.idKey in rec);
  const pairedNames = new Set(refs.map((r) => r.nameKey));
  const keys = [...cfg.fields.filter((f) => f in rec), ...Object.keys(rec).filter((k) => !cfg.fields.includes(k))].filter(
    (k) => !pairedNames.has(k),
  );
  const refOf = (k: string): Reference | undefined => refs.find((r) => r.idKey === k);
  return (
    <dl className="grid grid-cols-1 divide-y divide-line-soft md:grid-cols-2 md:divide-y-0" data-testid="detail">
      {keys.map((k) => {
        const ref = refOf(k);
        return (
          <div key={k} className="grid grid-cols-3 gap-3 border-line-soft px-5 py-3 md:border-b" data-field={k}>
            <dt className="text-sm font-medium text-fg-muted">{ref ? ref.label : fieldLabel(k)}</dt>
            <dd className="col-span-2 text-sm text-fg">
              {ref ? (
                <span className="flex flex-wrap items-baseline gap-x-2">
                  <ReferenceLink rec={rec} reference={ref} asOf={asOf} />
                  {typeof rec[k] === "string" && rec[ref.nameKey] ? <span className="font-mono text-xs text-fg-muted">{String(rec[k])}</span> : null}
                </span>
              ) : (
                <FieldValue field={k} value={rec[k]} />
              )}
            </dd>
          </div>
        );
      })}
    </dl>
  );
}

// The columns of the related tables.
const col = (key: string, label: string, more: Partial<Column> = {}): Column => ({ key, label, ...more });
const C = {
  summary: col("summary", "Summary"),
  status: col("status", "Status", { format: "status" }),
  priority: col("priority", "Priority", { format: "priority" }),
  opened: col("opened_at", "Opened", { format: "date", className: "whitespace-nowrap" }),
  owner: col("owner_name", "Owner"),
  company: col("company_name", "Company"),
  date: col("time_start", "Date", { format: "date", className: "whitespace-nowrap" }),
  technician: col("member_name", "Technician"),
  ticket: col("ticket_summary", "Ticket"),
  hours: col("actual_hours", "Hours", { format: "hours", align: "right" }),
  billable: col("billable_option", "Billable", { format: "billable", className: "whitespace-nowrap" }),
  notes: col("notes", "Notes"),
  contactName: RESOURCES.contacts.columns[0],
  title: col("title", "Title"),
  email: col("email", "Email"),
  phone: col("phone", "Phone", { className: "whitespace-nowrap" }),
};
const NEWEST_TICKETS = { key: "opened_at", order: "desc" } as const;
const NEWEST_TIME = { key: "time_start", order: "desc" } as const;

/** The records that name this one, and its figures, by resource. */
function Connections({ resource, rec, asOf }: { resource: string; rec: AnyRecord; asOf: string | null }) {
  const id = rec.id;
  switch (resource) {
    case "companies":
      return (
        <>
          <ReportFigures
            kind="companies"
            id={id}
            period="90d"
            asOf={asOf}
            metrics={["tickets_opened", "tickets_closed", "open_backlog", "sla_met_pct", "resolution_hours_avg", "hours_worked", "billable_hours", "billed_amount"]}
          />
          <ClientReport id={id} name={RESOURCES.companies.titleOf(rec)} asOf={asOf} />
          <div className="grid grid-cols-1 gap-4 2xl:grid-cols-2">
            <RelatedTable testId="open-tickets" title="Open tickets" resource="tickets" filters={[["company", id], ["open", "true"]]} sort={NEWEST_TICKETS}
              columns={[C.summary, C.status, C.priority, C.owner, C.opened]} asOf={asOf} empty="No open tickets." />
            <RelatedTable testId="tickets" title="Recent tickets" resource="tickets" filters={[["company", id]]} sort={NEWEST_TICKETS}
              columns={[C.summary, C.status, C.priority, C.opened]} asOf={asOf} empty="No tickets." />
            <RelatedTable testId="contacts" title="Contacts" resource="contacts" filters={[["company", id]]} sort={{ key: "last_name", order: "asc" }}
              columns={[C.contactName, C.title, C.email, C.phone]} asOf={asOf} empty="No contacts." />
            <RelatedTable testId="time-entries" title="Recent hours" resource="time-entries" filters={[["company", id]]} sort={NEWEST_TIME}
              columns={[C.date, C.ticket, C.technician, C.hours, C.billable]} asOf={asOf} empty="No time logged." />
          </div>
        </>
      );
    case "members":
      return (
        <>
          <ReportFigures
            kind="members"
            id={id}
            period="30d"
            asOf={asOf}
            metrics={["hours_worked", "billable_hours", "utilisation_pct", "billable_pct", "sla_met_pct", "tickets_closed", "open_backlog", "resolution_hours_avg"]}
          />
          <div className="grid grid-cols-1 gap-4 2xl:grid-cols-2">
            <RelatedTable testId="open-tickets" title="Open tickets owned" resource="tickets" filters={[["member", id], ["open", "true"]]} sort={NEWEST_TICKETS}
              columns={[C.summary, C.company, C.status, C.priority, C.opened]} asOf={asOf} empty="No open tickets." />
            <RelatedTable testId="tickets" title="Recent tickets owned" resource="tickets" filters={[["member", id]]} sort={NEWEST_TICKETS}
              columns={[C.summary, C.company, C.status, C.opened]} asOf={asOf} empty="No tickets." />
            <RelatedTable testId="time-entries" title="Recent time entries" resource="time-entries" filters={[["member", id]]} sort={NEWEST_TIME}
              columns={[C.date, C.company, C.ticket, C.hours, C.billable]} pageSize={10} asOf={asOf} empty="No time logged." className="2xl:col-span-2" />
          </div>
        </>
      );
    case "tickets":
      return (
        <RelatedTable testId="time-entries" title="Time entries" resource="time-entries" filters={[["ticket", id]]} sort={NEWEST_TIME}
          columns={[C.date, C.technician, C.hours, C.billable, C.notes]} pageSize={10} asOf={asOf} empty="No time logged on this ticket." />
      );
    case "contacts":
      return (
        <RelatedTable testId="tickets" title="Tickets" resource="tickets" filters={[["contact", id]]} sort={NEWEST_TICKETS}
          columns={[C.summary, C.status, C.priority, C.owner, C.opened]} asOf={asOf} empty="No tickets from this contact." />
      );
    default:
      return null;
  }
}

/** The badges beside a ticket's title: its status and priority. */
function TitleBadges({ resource, rec }: { resource: string; rec: AnyRecord }) {
  if (resource !== "tickets") return null;
  const shown = [C.status, C.priority].filter((c) => typeof rec[c.key] === "string" && rec[c.key]);
  if (shown.length === 0) return null;
  return (
    <div className="mt-2 flex flex-wrap gap-2 text-sm">
      {shown.map((c) => (
        <span key={c.key} className="rounded-full border border-line px-2.5 py-0.5 text-fg-soft" data-testid={`detail-${c.key}`}>
          <span className="mr-1 text-fg-muted">{c.label}:</span>
          <CellValue col={c} row={rec} />
        </span>
      ))}
    </div>
  );
}

/** Why there is no record to show at `asOf` (not yet created, deleted by then). */
function MissingAsOf({
  cfg,
  id,
  asOf,
  entries,
  historyLoading,
  setAsOf,
}: {
  cfg: Resource;
  id: string;
  asOf: string;
  entries: VersionEntry[];
  historyLoading: boolean;
  setAsOf: (v: string | null) => void;
}) {
  if (historyLoading) return <Spinner />;
  const e = absenceAt(entries, asOf);
  const what = cfg.singular.toLowerCase();
  const when = formatDateTime(asOf);
  const button = `${BUTTON} px-3 py-1.5`;
  let heading: string;
  let body: string;
  let action: { label: string; at: string } | null = null;
  if (e.state === "before") {
    heading = `This ${what} did not exist yet on ${when}`;
    body = e.since ? `It was first recorded on ${formatDateTime(e.since)}.` : "It was recorded later.";
    if (e.since) action = { label: "Show it as first recorded", at: e.since };
  } else if (e.state === "deleted") {
    heading = `This ${what} had been deleted by ${when}`;
    body = e.since ? `It was deleted in the source on ${formatDateTime(e.since)}.` : "It was deleted in the source.";
    const before = [...entries].reverse().find((v) => v.kind !== "deleted" && v.at && e.since && Date.parse(v.at) < Date.parse(e.since));
    if (before?.at) action = { label: "Show it before the deletion", at: before.at };
  } else {
    heading = `No ${what} ${id} as of ${when}`;
    body = entries.length ? "It has versions, but none stood at that time." : `There is no ${what} with this ID.`;
  }
  return (
    <Card className="p-8 text-center">
      <div data-testid="as-of-missing" data-state={e.state}>
        <h1 className="text-lg font-semibold text-fg">{heading}</h1>
        <p className="mt-1 text-sm text-fg-muted">{body}</p>
        <div className="mt-4 flex flex-wrap justify-center gap-2">
          {action && (
            <button type="button" className={button} onClick={() => setAsOf(justAfter(action.at))} data-testid="as-of-first">
              {action.label}
            </button>
          )}
          <button type="button" className={button} onClick={() => setAsOf(null)}>
            Back to now
          </button>
        </div>
      </div>
    </Card>
  );
}

/** The current record is gone: not found, or deleted (then say when). */
function NotFound({ cfg, id, entries, setAsOf }: { cfg: Resource; id: string; entries: VersionEntry[]; setAsOf: (v: string | null) => void }) {
  const last = entries[entries.length - 1];
  const deleted = last?.kind === "deleted";
  const beforeAt = (deleted ? [...entries].reverse().find((v) => v.kind !== "deleted" && v.at)?.at : null) ?? null;
  return (
    <Card className="p-8 text-center">
      <h1 className="text-lg font-semibold text-fg" data-testid="not-found">
        {cfg.singular} {deleted ? "deleted" : "not found"}
      </h1>
      <p className="mt-1 text-sm text-fg-muted">
        {deleted && last.at ? (
          <>This {cfg.singular.toLowerCase()} was deleted in the source on {formatDateTime(last.at)}.</>
        ) : (
          <>
            No {cfg.singular.toLowerCase()} with ID <span className="font-mono">{id}</span>.
          </>
        )}
      </p>
      {beforeAt && (
        <button
          type="button"
          onClick={() => setAsOf(justAfter(beforeAt))}
          className={`${BUTTON} mt-4 px-3 py-1.5`}
        >
          Show it before the deletion
        </button>
      )}
    </Card>
  );
}

export function DetailPage({ resource }: { resource: string }) {
  const cfg = RESOURCES[resource];
  usePageTitle(cfg.singular);
  // react-router hands us the decoded id ("connectwise:123"); re-encode for the API.
  const { id = "" } = useParams();
  const { asOf, invalid, setAsOf } = useAsOf();
  const query = useQuery({
    queryKey: ["detail", resource, id, asOf ?? "now"],
    queryFn: () => api.request<AnyRecord>(withAsOf(apiDetailPath(resource, id), asOf)),
    enabled: invalid === null,
  });
  const history = useQuery({
    queryKey: ["history", resource, id],
    queryFn: () => api.request<{ items: Version[] }>(`${apiDetailPath(resource, id)}/history`),
  });
  const entries = useMemo(() => historyTimeline(history.data?.items ?? [], cfg.fields), [history.data, cfg.fields]);
  const rec = query.data;
  // The version the page shows: the one standing at as_of, or the current one.
  const shownVersion = !rec ? null : asOf ? versionAt(entries, asOf) : (entries.find((e) => e.current) ?? null);
  const notFound = query.error instanceof ApiError && query.error.status === 404;
  const historyMissing = history.error instanceof ApiError && history.error.status === 404;

  return (
    <div className="space-y-4">
      <div className="flex flex-col gap-3 sm:flex-row sm:items-end sm:justify-between">
        <nav className="text-sm text-fg-muted" aria-label="Breadcrumb">
          <Link to={`/${cfg.path}`} className="hover:text-accent">{cfg.title}</Link>
          <span className="mx-2">/</span>
          <span className="font-mono text-fg-soft">{id}</span>
        </nav>
        <AsOfPicker asOf={asOf} setAsOf={setAsOf} />
      </div>
      {asOf && <AsOfBanner asOf={asOf} onClear={() => setAsOf(null)} />}
      {invalid !== null ? (
        <div role="alert" data-testid="as-of-invalid" className={`${ALERT.red} px-4 py-3 text-sm`}>
          “{invalid}” in the address is not a date and time.{" "}
          <button type="button" onClick={() => setAsOf(null)} className="font-medium underline">
            Show the record as it is now
          </button>
        </div>
      ) : query.isError ? (
        notFound ? (
          asOf ? (
            <MissingAsOf cfg={cfg} id={id} asOf={asOf} entries={entries} historyLoading={history.isLoading} setAsOf={setAsOf} />
          ) : (
            <NotFound cfg={cfg} id={id} entries={entries} setAsOf={setAsOf} />
          )
        ) : (
          <ErrorBox error={query.error} />
        )
      ) : query.isLoading || !rec ? (
        <Spinner />
      ) : (
        <>
          <Card>
            <div className="space-y-3 border-b border-line-soft px-5 py-4">
              <div>
                <div className="text-xs font-medium uppercase tracking-wide text-accent">
                  {cfg.singular}
                  {resource === "tickets" && ticketNumber(rec) && (
                    <span className="ml-1.5 font-mono normal-case" data-testid="detail-number">{ticketNumber(rec)}</span>
                  )}
                </div>
                <h1 className="mt-1 text-lg font-semibold text-fg" data-testid="detail-title">{cfg.titleOf(rec)}</h1>
                <TitleBadges resource={resource} rec={rec} />
              </div>
              <ReferenceBar rec={rec} references={REFERENCES} asOf={asOf} />
            </div>
            <FieldList cfg={cfg} rec={rec} asOf={asOf} />
          </Card>
          <Connections resource={resource} rec={rec} asOf={asOf} />
        </>
      )}
      {!(historyMissing && notFound) && (
        <HistoryCard query={history} entries={entries} shownVersion={shownVersion?.number ?? null} order={cfg.fields} onShowVersion={(at) => setAsOf(justAfter(at))} />
      )}
    </div>
  );
}
