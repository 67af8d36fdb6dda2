// Operations → Runs: the tenant's sync runs (newest first), starting a sync or a
// backfill, and a run's page with per-table and per-chunk progress that reads the run
// again every 2 s while it is in progress, plus Cancel.
import { useState, type FormEvent } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { useMutation, useQueries, useQuery, useQueryClient } from "@tanstack/react-query";
import { api } from "../lib/client";
import { formatDateTime, formatInt, formatShortDateTime } from "../lib/format";
import {
  KIND_LABEL,
  apiFieldError,
  chunkBadge,
  formatDuration,
  isActive,
  plainError,
  progressPct,
  runBadge,
  runDuration,
  runProgress,
  runSummary,
  syncBody,
  tableLabel,
  tableProgress,
  totalRecords,
  validateBackfill,
  type BackfillForm,
  type Errors,
  type Freshness,
  type RunDetail,
  type RunRecord,
  type ServiceList,
  type SyncForm,
} from "../lib/ops";
import { usePageTitle } from "../lib/title";
import { Modal } from "../components/Modal";
import { Field, OpsPage, ProgressBar, StatusBadge, describedBy, useAdminPath } from "../components/Ops";
import { BUTTON, BUTTON_PRIMARY, CONTROL, Card, CardHeader, ErrorBox, LINK, Spinner, TEXT_TONE } from "../components/ui";

const INPUT = `${CONTROL} block w-full px-3 py-2 aria-[invalid=true]:border-red-400`;
const POLL_MS = 2000;
/** How many of the newest runs the list reads the chunks of (for their records). */
const DETAILED = 15;

function runPath(id: string) {
  return `/operations/runs/${encodeURIComponent(id)}`;
}

export function OpsRunsPage() {
  usePageTitle("Runs");
  const [dialog, setDialog] = useState<"sync" | "backfill" | null>(null);
  return (
    <OpsPage
      title="Runs"
      subtitle="Syncs and backfills of this tenant, newest first."
      actions={
        <>
          <button type="button" className={`${BUTTON_PRIMARY} px-3 py-1.5`} data-testid="start-sync" onClick={() => setDialog("sync")}>
            Start sync…
          </button>
          <button type="button" className={`${BUTTON} px-3 py-1.5`} data-testid="start-backfill" onClick={() => setDialog("backfill")}>
            Backfill…
          </button>
        </>
      }
    >
      {() => (
        <>
          <RunsList />
          {dialog === "sync" && <SyncDialog onClose={() => setDialog(null)} />}
          {dialog === "backfill" && <BackfillDialog onClose={() => setDialog(null)} />}
        </>
      )}
    </OpsPage>
  );
}

function RunsList() {
  const p = useAdminPath();
  const runs = useQuery({
    queryKey: ["ops", "runs"],
    queryFn: () => api.request<{ items: RunRecord[] }>(p("/api/admin/runs?limit=50")),
    // While a run is in progress, the list follows it.
    refetchInterval: (q) => (q.state.data?.items.some((r) => isActive(r.status)) ? POLL_MS : false),
  });
  const items = runs.data?.items ?? [];
  // Records per run: from its chunks (a finished run's detail never changes).
  const details = useQueries({
    queries: items.slice(0, DETAILED).map((r) => ({
      queryKey: ["ops", "run", r.id],
      queryFn: () => api.request<RunDetail>(p(`/api/admin/runs/${encodeURIComponent(r.id)}`)),
      staleTime: isActive(r.status) ? 0 : Infinity,
      refetchInterval: isActive(r.status) ? POLL_MS : (false as const),
    })),
  });

  return (
    <Card>
      <CardHeader title="Runs" subtitle={runs.data ? `${items.length} most recent` : undefined} />
      {runs.isError ? (
        <div className="p-4">
          <ErrorBox error={runs.error} />
        </div>
      ) : runs.isLoading ? (
        <Spinner label="Loading runs…" />
      ) : items.length === 0 ? (
        <p className="p-6 text-sm text-fg-muted" data-testid="runs-empty">
          No runs yet. Start a sync to read the vendors' latest changes.
        </p>
      ) : (
        <div className="relative overflow-x-auto">
          <table className="min-w-full text-sm" data-testid="runs-table">
            <thead className="bg-subtle text-left text-xs font-medium tracking-wide text-fg-muted uppercase">
              <tr>
                <th scope="col" className="px-4 py-2">Status</th>
                <th scope="col" className="px-4 py-2">Kind</th>
                <th scope="col" className="px-4 py-2">Started</th>
                <th scope="col" className="px-4 py-2">Duration</th>
                <th scope="col" className="px-4 py-2 text-right">Records</th>
                <th scope="col" className="px-4 py-2">Run</th>
              </tr>
            </thead>
            <tbody className="divide-y divide-line-soft">
              {items.map((r, i) => {
                const d = details[i]?.data;
                return (
                  <tr key={r.id} data-testid="run-row" data-run={r.id} data-status={r.status}>
                    <td className="px-4 py-2.5">
                      <StatusBadge badge={runBadge(r.status)} />
                      {r.cancel_requested && isActive(r.status) && <span className="ml-2 text-xs text-fg-muted">stopping…</span>}
                    </td>
                    <td className="px-4 py-2.5 text-fg-soft">
                      {KIND_LABEL[r.kind] ?? r.kind}
                      {r.tenant_id === null && <span className="block text-xs text-fg-muted">all tenants</span>}
                    </td>
                    <td className="px-4 py-2.5 whitespace-nowrap text-fg-soft">
                      <Link to={runPath(r.id)} className={LINK} title={formatDateTime(r.started_at)} data-testid="run-link">
                        {formatShortDateTime(r.started_at)}
                      </Link>
                    </td>
                    <td className="px-4 py-2.5 whitespace-nowrap tabular-nums text-fg-soft">{formatDuration(runDuration(r))}</td>
                    <td className="px-4 py-2.5 text-right tabular-nums text-fg-soft">{d ? formatInt(totalRecords(d.chunks)) : i < DETAILED ? "…" : <span title="Open the run for its records">—</span>}</td>
                    <td className="px-4 py-2.5">
                      <span className="font-mono text-xs text-fg-muted" title={r.id}>
                        {r.id.slice(0, 8)}
                      </span>
                      {r.error && <p className={`${TEXT_TONE.red} mt-0.5 max-w-xs truncate text-xs`} title={plainError(r.error)}>{plainError(r.error)}</p>}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </Card>
  );
}

/** The services and their tables (from freshness), for the dialogs' pickers. */
function useServiceTables() {
  const p = useAdminPath();
  const services = useQuery({ queryKey: ["ops", "services"], queryFn: () => api.request<ServiceList>(p("/api/admin/services")) });
  const freshness = useQuery({ queryKey: ["ops", "freshness"], queryFn: () => api.request<{ items: Freshness[] }>(p("/api/admin/freshness")) });
  const names = (services.data?.items ?? []).map((s) => s.service);
  const tablesOf = (svc: string) => (freshness.data?.items ?? []).filter((f) => f.service === svc).map((f) => f.table);
  return { names, tablesOf, loading: services.isLoading, error: services.error };
}

function useStartRun(onStarted: (id: string) => void) {
  const p = useAdminPath();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: object) =>
      api.request<{ run_id: string }>(p("/api/admin/runs"), {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      }),
    onSuccess: async (r) => {
      await qc.invalidateQueries({ queryKey: ["ops", "runs"] });
      onStarted(r.run_id);
    },
  });
}

function SyncDialog({ onClose }: { onClose: () => void }) {
  const navigate = useNavigate();
  const { names, tablesOf, loading, error } = useServiceTables();
  const [form, setForm] = useState<SyncForm>({ service: "", table: "", full: false });
  const start = useStartRun((id) => {
    onClose();
    navigate(runPath(id));
  });
  const tables = form.service ? tablesOf(form.service) : [];
  function onSubmit(e: FormEvent) {
    e.preventDefault();
    start.mutate(syncBody(form));
  }
  return (
    <Modal title="Start a sync" description="Reads what changed at the vendors since the last run; a full sync reads whole tables and finds deletions." onClose={() => !start.isPending && onClose()} testId="sync-dialog">
      <form onSubmit={onSubmit} noValidate className="space-y-4 px-5 py-4">
        {error != null && <ErrorBox error={error} />}
        <Field id="sync-service" label="Service">
          <select
            id="sync-service"
            data-testid="sync-service"
            data-autofocus
            value={form.service}
            disabled={loading}
            onChange={(e) => setForm({ ...form, service: e.target.value, table: "" })}
            className={INPUT}
          >
            <option value="">All services</option>
            {names.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </Field>
        <Field id="sync-table" label="Table" hint={form.service ? undefined : "Choose a service to pick one of its tables."}>
          <select
            id="sync-table"
            data-testid="sync-table"
            value={form.table}
            disabled={!form.service}
            onChange={(e) => setForm({ ...form, table: e.target.value })}
            aria-describedby={describedBy("sync-table", undefined, !form.service)}
            className={INPUT}
          >
            <option value="">All tables</option>
            {tables.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </Field>
        <fieldset>
          <legend className="text-sm font-medium text-fg-soft">Kind</legend>
          <div className="mt-1 flex flex-col gap-1.5 text-sm text-fg-soft">
            <label className="flex items-center gap-2">
              <input type="radio" name="sync-kind" data-testid="sync-incremental" checked={!form.full} onChange={() => setForm({ ...form, full: false })} />
              Incremental — what changed since the last run
            </label>
            <label className="flex items-center gap-2">
              <input type="radio" name="sync-kind" data-testid="sync-full" checked={form.full} onChange={() => setForm({ ...form, full: true })} />
              Full — whole tables, with deletions (4 a day)
            </label>
          </div>
        </fieldset>
        {start.isError && <ErrorBox error={start.error} />}
        <div className="flex justify-end gap-2 border-t border-line-soft pt-4">
          <button type="button" className={`${BUTTON} px-3 py-1.5`} onClick={onClose} disabled={start.isPending}>
            Cancel
          </button>
          <button type="submit" className={`${BUTTON_PRIMARY} px-3 py-1.5`} data-testid="sync-submit" disabled={start.isPending}>
            {start.isPending ? "Starting…" : "Start sync"}
          </button>
        </div>
      </form>
    </Modal>
  );
}

function BackfillDialog({ onClose }: { onClose: () => void }) {
  const navigate = useNavigate();
  const { names, tablesOf, loading, error } = useServiceTables();
  const [form, setForm] = useState<BackfillForm>({ service: "", table: "", from: "", to: "" });
  const [errors, setErrors] = useState<Errors>({});
  const start = useStartRun((id) => {
    onClose();
    navigate(runPath(id));
  });
  const apiErr = apiFieldError(start.error as { message: string; details?: unknown } | null, ["service", "table", "from", "to"]);
  const err = (f: keyof BackfillForm) => errors[f] ?? (apiErr?.field === f ? apiErr.message : undefined);
  const set = (k: keyof BackfillForm, v: string) => {
    setForm((f) => ({ ...f, [k]: v, ...(k === "service" ? { table: "" } : {}) }));
    setErrors((e) => ({ ...e, [k]: undefined }));
    if (start.isError) start.reset();
  };
  function onSubmit(e: FormEvent) {
    e.preventDefault();
    const checked = validateBackfill(form);
    if (checked.errors || !checked.body) {
      setErrors(checked.errors ?? {});
      const first = (["service", "from", "to"] as const).find((f) => checked.errors?.[f]);
      if (first) document.getElementById(`backfill-${first}`)?.focus();
      return;
    }
    setErrors({});
    start.mutate(checked.body);
  }
  return (
    <Modal title="Backfill" description="Reads a date range again from the vendor (at most 366 days; 4 a day)." onClose={() => !start.isPending && onClose()} testId="backfill-dialog">
      <form onSubmit={onSubmit} noValidate className="space-y-4 px-5 py-4">
        {error != null && <ErrorBox error={error} />}
        <Field id="backfill-service" label="Service" error={err("service")}>
          <select
            id="backfill-service"
            data-testid="backfill-service"
            data-autofocus
            value={form.service}
            disabled={loading}
            onChange={(e) => set("service", e.target.value)}
            aria-invalid={err("service") ? true : undefined}
            aria-describedby={describedBy("backfill-service", err("service"))}
            className={INPUT}
          >
            <option value="">Choose a service…</option>
            {names.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </Field>
        <Field id="backfill-table" label="Table" error={err("table")}>
          <select id="backfill-table" data-testid="backfill-table" value={form.table} disabled={!form.service} onChange={(e) => set("table", e.target.value)} className={INPUT}>
            <option value="">All tables</option>
            {(form.service ? tablesOf(form.service) : []).map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </Field>
        <div className="grid gap-4 sm:grid-cols-2">
          <Field id="backfill-from" label="From" error={err("from")}>
            <input
              id="backfill-from"
              data-testid="backfill-from"
              type="date"
              value={form.from}
              onChange={(e) => set("from", e.target.value)}
              aria-invalid={err("from") ? true : undefined}
              aria-describedby={describedBy("backfill-from", err("from"))}
              className={INPUT}
            />
          </Field>
          <Field id="backfill-to" label="To (not included)" error={err("to")}>
            <input
              id="backfill-to"
              data-testid="backfill-to"
              type="date"
              value={form.to}
              onChange={(e) => set("to", e.target.value)}
              aria-invalid={err("to") ? true : undefined}
              aria-describedby={describedBy("backfill-to", err("to"))}
              className={INPUT}
            />
          </Field>
        </div>
        {start.isError && !apiErr?.field && <ErrorBox error={start.error} />}
        <div className="flex justify-end gap-2 border-t border-line-soft pt-4">
          <button type="button" className={`${BUTTON} px-3 py-1.5`} onClick={onClose} disabled={start.isPending}>
            Cancel
          </button>
          <button type="submit" className={`${BUTTON_PRIMARY} px-3 py-1.5`} data-testid="backfill-submit" disabled={start.isPending}>
            {start.isPending ? "Starting…" : "Start backfill"}
          </button>
        </div>
      </form>
    </Modal>
  );
}

export function OpsRunPage() {
  const { id = "" } = useParams();
  usePageTitle(`Run ${id.slice(0, 8)}`);
  return (
    <OpsPage title="Run" subtitle={id}>
      {() => <RunView id={id} />}
    </OpsPage>
  );
}

function RunView({ id }: { id: string }) {
  const p = useAdminPath();
  const qc = useQueryClient();
  const run = useQuery({
    queryKey: ["ops", "run", id],
    queryFn: () => api.request<RunDetail>(p(`/api/admin/runs/${encodeURIComponent(id)}`)),
    // Live while in progress; stops once the run has finished.
    refetchInterval: (q) => (!q.state.data || isActive(q.state.data.run.status) ? POLL_MS : false),
    refetchIntervalInBackground: false,
  });
  const cancel = useMutation({
    mutationFn: () => api.request<{ run_id: string }>(p(`/api/admin/runs/${encodeURIComponent(id)}/cancel`), { method: "POST" }),
    onSuccess: () => qc.invalidateQueries({ queryKey: ["ops", "run", id] }),
  });

  if (run.isError) return <ErrorBox error={run.error} />;
  if (run.isLoading || !run.data) return <Spinner label="Loading the run…" />;
  const d = run.data;
  const r = d.run;
  const active = isActive(r.status);
  const tables = tableProgress(d.chunks);
  const prog = runProgress(d);

  return (
    <div className="space-y-5" data-testid="run-detail" data-run={r.id}>
      <Card className="space-y-3 p-5">
        <div className="flex flex-wrap items-center gap-3">
          <StatusBadge badge={runBadge(r.status)} testId="run-status" status={r.status} />
          <span className="text-sm text-fg-soft">{KIND_LABEL[r.kind] ?? r.kind}</span>
          <span className="text-sm text-fg-muted">started {formatDateTime(r.started_at)}</span>
          {r.finished_at && <span className="text-sm text-fg-muted">· finished {formatDateTime(r.finished_at)}</span>}
          <div className="ml-auto flex items-center gap-2">
            {active && (
              <span className="flex items-center gap-1.5 text-xs text-fg-muted" data-testid="run-live">
                <span className="h-2 w-2 animate-pulse rounded-full bg-indigo-500" aria-hidden="true" />
                Updating every 2 s
              </span>
            )}
            {active && (
              <button
                type="button"
                className={`${BUTTON} px-3 py-1.5`}
                data-testid="run-cancel"
                disabled={cancel.isPending || r.cancel_requested}
                onClick={() => cancel.mutate()}
              >
                {r.cancel_requested ? "Stopping…" : "Cancel run"}
              </button>
            )}
          </div>
        </div>
        <p className="text-sm text-fg" data-testid="run-summary" aria-live="polite">
          {runSummary(d)}
        </p>
        <ProgressBar pct={prog.pct} label="Run progress" testId="run-progress" />
        {r.error && (
          <p className={`${TEXT_TONE.red} text-sm`} data-testid="run-error">
            {plainError(r.error)}
          </p>
        )}
        {cancel.isError && <ErrorBox error={cancel.error} />}
        <p className="text-sm">
          <Link to="/operations/runs" className={LINK}>
            ← All runs
          </Link>
        </p>
      </Card>

      <Card>
        <CardHeader title="Tables" subtitle="Each table's chunks: slices read and committed one by one." />
        {tables.length === 0 ? (
          <p className="p-6 text-sm text-fg-muted" data-testid="run-tables-empty">
            {active ? "Planning the tables…" : "This run read no table of this tenant."}
          </p>
        ) : (
          <div className="relative overflow-x-auto">
            <table className="min-w-full text-sm" data-testid="run-tables">
              <thead className="bg-subtle text-left text-xs font-medium tracking-wide text-fg-muted uppercase">
                <tr>
                  <th scope="col" className="px-4 py-2">Table</th>
                  <th scope="col" className="px-4 py-2">State</th>
                  <th scope="col" className="min-w-40 px-4 py-2">Chunks</th>
                  <th scope="col" className="px-4 py-2 text-right">Records</th>
                  <th scope="col" className="px-4 py-2 text-right">New versions</th>
                  <th scope="col" className="px-4 py-2 text-right">Time</th>
                </tr>
              </thead>
              <tbody className="divide-y divide-line-soft">
                {tables.map((t) => {
                  const pct = progressPct(t.committed + t.failed, t.chunks);
                  return (
                    <tr key={`${t.service}/${t.table}`} data-testid="run-table-row" data-service={t.service} data-table={t.table} data-records={t.records} data-status={t.status}>
                      <th scope="row" className="px-4 py-2 text-left font-normal">
                        <span className="font-mono text-xs text-fg">{tableLabel(t.table)}</span>
                        <span className="block text-xs text-fg-muted">{t.service}</span>
                        {t.error && <span className={`${TEXT_TONE.red} block text-xs`}>{plainError(t.error)}</span>}
                      </th>
                      <td className="px-4 py-2">
                        <StatusBadge badge={chunkBadge(t.status)} />
                      </td>
                      <td className="px-4 py-2">
                        <div className="flex items-center gap-2">
                          <ProgressBar pct={pct} label={`${tableLabel(t.table)} chunks done`} />
                          <span className="text-xs whitespace-nowrap tabular-nums text-fg-muted">
                            {t.committed + t.failed}/{t.chunks}
                          </span>
                        </div>
                      </td>
                      <td className="px-4 py-2 text-right tabular-nums text-fg-soft">{formatInt(t.records)}</td>
                      <td className="px-4 py-2 text-right tabular-nums text-fg-soft">{formatInt(t.versions)}</td>
                      <td className="px-4 py-2 text-right whitespace-nowrap tabular-nums text-fg-soft">{formatDuration(t.millis)}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
      </Card>

      <Card>
        <CardHeader title="Chunks" subtitle={`${d.chunks.length} in all`} />
        {d.chunks.length === 0 ? (
          <p className="p-6 text-sm text-fg-muted">No chunk yet.</p>
        ) : (
          <div className="relative overflow-x-auto">
            <table className="min-w-full text-sm" data-testid="run-chunks">
              <thead className="bg-subtle text-left text-xs font-medium tracking-wide text-fg-muted uppercase">
                <tr>
                  <th scope="col" className="px-4 py-2">Table</th>
                  <th scope="col" className="px-4 py-2">State</th>
                  <th scope="col" className="px-4 py-2">Started</th>
                  <th scope="col" className="px-4 py-2 text-right">Records</th>
                  <th scope="col" className="px-4 py-2 text-right">Pages</th>
                  <th scope="col" className="px-4 py-2 text-right">Retries</th>
                  <th scope="col" className="px-4 py-2 text-right" title="The most requests to the service in flight at once while the chunk ran">
                    In flight
                  </th>
                  <th scope="col" className="px-4 py-2 text-right">Time</th>
                  <th scope="col" className="px-4 py-2">Error</th>
                </tr>
              </thead>
              <tbody className="divide-y divide-line-soft">
                {[...d.chunks]
                  .sort((a, b) => a.started_at.localeCompare(b.started_at))
                  .map((c) => (
                    <tr key={c.id} data-testid="run-chunk-row" data-status={c.status} data-records={c.counts.records}>
                      <td className="px-4 py-2 font-mono text-xs text-fg">{tableLabel(c.key.table)}</td>
                      <td className="px-4 py-2">
                        <StatusBadge badge={chunkBadge(c.status)} />
                      </td>
                      <td className="px-4 py-2 whitespace-nowrap text-fg-soft">{formatShortDateTime(c.started_at)}</td>
                      <td className="px-4 py-2 text-right tabular-nums text-fg-soft">{formatInt(c.counts.records)}</td>
                      <td className="px-4 py-2 text-right tabular-nums text-fg-soft">{formatInt(c.counts.pages)}</td>
                      <td className="px-4 py-2 text-right tabular-nums text-fg-soft">{formatInt(c.counts.retries)}</td>
                      <td className="px-4 py-2 text-right tabular-nums text-fg-soft">{c.counts.concurrency ? formatInt(c.counts.concurrency) : "—"}</td>
                      <td className="px-4 py-2 text-right whitespace-nowrap tabular-nums text-fg-soft">
                        {c.status === "running" ? formatDuration(runDuration(c)) : formatDuration(c.counts.millis)}
                      </td>
                      <td className={`max-w-xs px-4 py-2 text-xs ${c.error ? TEXT_TONE.red : "text-fg-muted"}`}>{c.error ? plainError(c.error) : "—"}</td>
                    </tr>
                  ))}
              </tbody>
            </table>
          </div>
        )}
      </Card>
    </div>
  );
}
