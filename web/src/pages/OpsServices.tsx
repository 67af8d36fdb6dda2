// Operations → Services: the tenant's services (enabled, schedule, last sync, freshness
// per table, the last error in plain words), their credentials (a form that never shows
// what is stored: the API never returns it), a connection test, enable / disable.
import { useState, type FormEvent } from "react";
import { useMutation, useQueries, useQuery, useQueryClient } from "@tanstack/react-query";
import { api } from "../lib/client";
import { formatDateTime, formatInt } from "../lib/format";
import {
  describeRefresh,
  describeSchedule,
  fieldLabelOf,
  formatAge,
  isActive,
  isSecretField,
  isStale,
  plainError,
  scheduleIntervalSecs,
  validateCredentials,
  type AvailableService,
  type Errors,
  type Freshness,
  type RunDetail,
  type RunRecord,
  type ServiceList,
  type ServiceTest,
  type ServiceView,
} from "../lib/ops";
import { usePageTitle } from "../lib/title";
import { ApiError } from "../lib/api";
import { Modal } from "../components/Modal";
import { Field, OpsPage, describedBy, useAdminPath } from "../components/Ops";
import { ALERT, BUTTON, BUTTON_PRIMARY, Badge, CONTROL, Card, CardHeader, ErrorBox, Spinner, TEXT_TONE } from "../components/ui";

const INPUT = `${CONTROL} block w-full px-3 py-2 aria-[invalid=true]:border-red-400`;

export function OpsServicesPage() {
  usePageTitle("Services");
  return (
    <OpsPage title="Services" subtitle="The vendors this tenant syncs from: their state, freshness and credentials.">
      {() => <Services />}
    </OpsPage>
  );
}

/** The latest finished runs' details: each service's last error. */
function useRecentRunDetails(runs: RunRecord[] | undefined, count: number) {
  const p = useAdminPath();
  return useQueries({
    queries: (runs ?? []).slice(0, count).map((r) => ({
      queryKey: ["ops", "run", r.id],
      queryFn: () => api.request<RunDetail>(p(`/api/admin/runs/${encodeURIComponent(r.id)}`)),
      staleTime: isActive(r.status) ? 0 : Infinity,
    })),
  });
}

function Services() {
  const p = useAdminPath();
  const qc = useQueryClient();
  const services = useQuery({ queryKey: ["ops", "services"], queryFn: () => api.request<ServiceList>(p("/api/admin/services")) });
  const freshness = useQuery({
    queryKey: ["ops", "freshness"],
    queryFn: () => api.request<{ items: Freshness[] }>(p("/api/admin/freshness")),
    refetchInterval: 60_000,
  });
  const runs = useQuery({ queryKey: ["ops", "runs"], queryFn: () => api.request<{ items: RunRecord[] }>(p("/api/admin/runs?limit=25")) });
  const recent = useRecentRunDetails(runs.data?.items.filter((r) => !isActive(r.status)), 5);
  const [creds, setCreds] = useState<AvailableService | null>(null);
  const [schedule, setSchedule] = useState<ServiceView | null>(null);
  const [rowError, setRowError] = useState<Record<string, string>>({});

  const toggle = useMutation({
    mutationFn: (s: ServiceView) =>
      api.request<ServiceView>(p(`/api/admin/services/${encodeURIComponent(s.service)}`), {
        method: "PATCH",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ enabled: !s.enabled }),
      }),
    onMutate: (s) => setRowError((e) => ({ ...e, [s.service]: "" })),
    onSuccess: () => qc.invalidateQueries({ queryKey: ["ops", "services"] }),
    onError: (e, s) => setRowError((r) => ({ ...r, [s.service]: e instanceof Error ? e.message : "Could not change it." })),
  });

  const byService = new Map<string, Freshness[]>();
  for (const f of freshness.data?.items ?? []) byService.set(f.service, [...(byService.get(f.service) ?? []), f]);

  // Each service's last error: from the newest finished run that read it.
  const lastError = new Map<string, string | null>();
  for (const q of recent) {
    const d = q.data;
    if (!d) continue;
    const seen = new Set(d.chunks.map((c) => c.key.service));
    for (const svc of seen) {
      if (lastError.has(svc)) continue;
      const failed = d.chunks.find((c) => c.key.service === svc && c.error);
      lastError.set(svc, failed?.error ?? (d.run.status === "failed" ? (d.run.error ?? null) : null));
    }
  }

  if (services.isError) return <ErrorBox error={services.error} />;
  if (services.isLoading) return <Spinner label="Loading services…" />;
  const items = services.data?.items ?? [];
  const available = services.data?.available ?? [];
  const fieldsOf = (svc: string): AvailableService => available.find((a) => a.service === svc) ?? { service: svc, fields: [] };
  const unattached = available.filter((a) => !items.some((s) => s.service === a.service));

  return (
    <div className="space-y-5">
      <Card>
        <CardHeader title="Connected services" subtitle="Scheduled and started runs read the enabled ones." />
        {items.length === 0 ? (
          <p className="p-6 text-sm text-fg-muted" data-testid="services-empty">
            No service is connected yet.{unattached.length ? " Connect one below." : ""}
          </p>
        ) : (
          <div className="relative overflow-x-auto">
            <table className="min-w-full text-sm" data-testid="services-table">
              <thead className="bg-subtle text-left text-xs font-medium tracking-wide text-fg-muted uppercase">
                <tr>
                  <th scope="col" className="px-4 py-2">Service</th>
                  <th scope="col" className="px-4 py-2">Status</th>
                  <th scope="col" className="px-4 py-2">Schedule</th>
                  <th scope="col" className="px-4 py-2">Last sync</th>
                  <th scope="col" className="px-4 py-2">Freshness</th>
                  <th scope="col" className="px-4 py-2">Last error</th>
                  <th scope="col" className="px-4 py-2"><span className="sr-only">Actions</span></th>
                </tr>
              </thead>
              <tbody className="divide-y divide-line-soft">
                {items.map((s) => {
                  const tables = byService.get(s.service) ?? [];
                  const stale = tables.filter((t) => isStale(t, s.schedule));
                  const last = tables.map((t) => t.last_commit_at).filter((x): x is string => !!x).sort().pop() ?? null;
                  const err = lastError.get(s.service);
                  return (
                    <tr key={s.service} data-testid={`service-row-${s.service}`} data-enabled={s.enabled}>
                      <th scope="row" className="px-4 py-3 text-left font-medium text-fg">
                        {s.service}
                      </th>
                      <td className="px-4 py-3">
                        <Badge tone={s.enabled ? "green" : "slate"}>{s.enabled ? "Enabled" : "Disabled"}</Badge>
                      </td>
                      <td className="px-4 py-3 whitespace-nowrap text-fg-soft">
                        <span title={s.schedule ?? "Each table on its refresh interval: tickets and time every 4 minutes, the rest hourly"}>{describeSchedule(s.schedule)}</span>
                      </td>
                      <td className="px-4 py-3 whitespace-nowrap text-fg-soft" data-testid={`service-last-sync-${s.service}`} data-value={last ?? ""}>
                        {freshness.isLoading ? "…" : last ? <span title={formatDateTime(last)}>{formatAge(ageOf(last))}</span> : "Never"}
                      </td>
                      <td className="px-4 py-3 whitespace-nowrap" data-testid={`service-freshness-${s.service}`} data-stale={stale.length}>
                        {freshness.isLoading ? (
                          "…"
                        ) : tables.length === 0 ? (
                          <span className="text-fg-muted">No tables yet</span>
                        ) : stale.length ? (
                          <Badge tone="amber">{`${stale.length} of ${tables.length} tables stale`}</Badge>
                        ) : (
                          <Badge tone="green">{`All ${tables.length} tables fresh`}</Badge>
                        )}
                      </td>
                      <td className="max-w-xs px-4 py-3" data-testid={`service-error-${s.service}`}>
                        {err ? <span className={TEXT_TONE.red}>{plainError(err)}</span> : err === null ? <span className="text-fg-muted">None</span> : <span className="text-fg-muted">—</span>}
                        {rowError[s.service] && (
                          <p role="alert" className="mt-1 text-sm text-danger">
                            {rowError[s.service]}
                          </p>
                        )}
                      </td>
                      <td className="px-4 py-3">
                        <div className="flex flex-wrap justify-end gap-2">
                          <button
                            type="button"
                            className={`${BUTTON} px-2.5 py-1 text-xs`}
                            data-testid={`service-credentials-${s.service}`}
                            onClick={() => setCreds(fieldsOf(s.service))}
                            aria-label={`Credentials and connection test for ${s.service}`}
                          >
                            Credentials…
                          </button>
                          <button
                            type="button"
                            className={`${BUTTON} px-2.5 py-1 text-xs`}
                            data-testid={`service-schedule-${s.service}`}
                            onClick={() => setSchedule(s)}
                            aria-label={`Schedule of ${s.service}`}
                          >
                            Schedule…
                          </button>
                          <button
                            type="button"
                            className={`${BUTTON} px-2.5 py-1 text-xs`}
                            data-testid={`service-toggle-${s.service}`}
                            disabled={toggle.isPending}
                            onClick={() => toggle.mutate(s)}
                            aria-label={`${s.enabled ? "Disable" : "Enable"} ${s.service}`}
                          >
                            {s.enabled ? "Disable" : "Enable"}
                          </button>
                        </div>
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
      </Card>

      {unattached.length > 0 && (
        <Card>
          <CardHeader title="Services you can connect" subtitle="Enter the vendor's credentials; they are tested before they are stored." />
          <ul className="divide-y divide-line-soft">
            {unattached.map((a) => (
              <li key={a.service} className="flex items-center justify-between gap-4 px-5 py-3 text-sm">
                <span className="font-medium text-fg">{a.service}</span>
                <button type="button" className={`${BUTTON} px-2.5 py-1 text-xs`} data-testid={`service-connect-${a.service}`} onClick={() => setCreds(a)}>
                  Connect…
                </button>
              </li>
            ))}
          </ul>
        </Card>
      )}

      <Card>
        <CardHeader title="Freshness per table" subtitle="When each table was last read and how often it is. Stale: not read for more than two of its intervals." />
        {freshness.isError ? (
          <div className="p-4">
            <ErrorBox error={freshness.error} />
          </div>
        ) : freshness.isLoading ? (
          <Spinner label="Loading freshness…" />
        ) : (freshness.data?.items.length ?? 0) === 0 ? (
          <p className="p-6 text-sm text-fg-muted" data-testid="freshness-empty">
            No table has synced yet. Start a sync on the Runs tab.
          </p>
        ) : (
          <div className="relative overflow-x-auto">
            <table className="min-w-full text-sm" data-testid="freshness-table">
              <thead className="bg-subtle text-left text-xs font-medium tracking-wide text-fg-muted uppercase">
                <tr>
                  <th scope="col" className="px-4 py-2">Service</th>
                  <th scope="col" className="px-4 py-2">Table</th>
                  <th scope="col" className="px-4 py-2">Last landed</th>
                  <th scope="col" className="px-4 py-2">Read up to</th>
                  <th scope="col" className="px-4 py-2">Read</th>
                  <th scope="col" className="px-4 py-2 text-right">Records</th>
                  <th scope="col" className="px-4 py-2">State</th>
                </tr>
              </thead>
              <tbody className="divide-y divide-line-soft">
                {(freshness.data?.items ?? []).map((f) => {
                  const svc = items.find((s) => s.service === f.service);
                  const stale = isStale(f, svc?.schedule);
                  return (
                    <tr
                      key={`${f.service}/${f.table}`}
                      data-testid="freshness-row"
                      data-service={f.service}
                      data-table={f.table}
                      data-records={f.records}
                      data-stale={stale}
                      className={stale ? "bg-amber-50/60 dark:bg-amber-950/30" : undefined}
                    >
                      <td className="px-4 py-2 text-fg-muted">{f.service}</td>
                      <th scope="row" className="px-4 py-2 text-left font-mono text-xs font-normal text-fg">
                        {f.table}
                      </th>
                      <td className="px-4 py-2 whitespace-nowrap text-fg-soft">
                        <span title={f.last_commit_at ? formatDateTime(f.last_commit_at) : undefined}>{formatAge(f.age_secs)}</span>
                      </td>
                      <td className="px-4 py-2 whitespace-nowrap text-fg-soft">{f.watermark ? formatDateTime(f.watermark) : "—"}</td>
                      <td className="px-4 py-2 whitespace-nowrap text-fg-soft" data-testid="freshness-refresh">
                        {describeRefresh(f, svc?.schedule)}
                      </td>
                      <td className="px-4 py-2 text-right tabular-nums text-fg-soft">{formatInt(f.records)}</td>
                      <td className="px-4 py-2">{stale ? <Badge tone="amber">Stale</Badge> : <Badge tone="green">Fresh</Badge>}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
      </Card>

      {creds && (
        <CredentialsDialog
          service={creds}
          attached={items.some((s) => s.service === creds.service)}
          onClose={() => setCreds(null)}
        />
      )}
      {schedule && <ScheduleDialog service={schedule} onClose={() => setSchedule(null)} />}
    </div>
  );
}

function ageOf(iso: string): number | null {
  const t = Date.parse(iso);
  return Number.isFinite(t) ? Math.max(0, (Date.now() - t) / 1000) : null;
}

/** The credentials form: every field empty (stored values are never sent to the browser);
 *  saving replaces them all, tested against the vendor first. "Test connection" tries the
 *  stored ones. */
function CredentialsDialog({ service, attached, onClose }: { service: AvailableService; attached: boolean; onClose: () => void }) {
  const p = useAdminPath();
  const qc = useQueryClient();
  const [values, setValues] = useState<Record<string, string>>({});
  const [errors, setErrors] = useState<Errors>({});
  const [saved, setSaved] = useState(false);
  const enc = encodeURIComponent(service.service);

  const save = useMutation({
    mutationFn: (credentials: Record<string, string>) =>
      api.request<{ service: string; tested: boolean }>(p(`/api/admin/services/${enc}`), {
        method: "PUT",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ credentials, test: true }),
      }),
    onSuccess: () => {
      setSaved(true);
      setValues({});
      void qc.invalidateQueries({ queryKey: ["ops", "services"] });
    },
  });
  const test = useMutation({
    mutationFn: () => api.request<ServiceTest>(p(`/api/admin/services/${enc}/test`), { method: "POST" }),
  });
  const busy = save.isPending || test.isPending;

  function onSubmit(e: FormEvent) {
    e.preventDefault();
    setSaved(false);
    const checked = validateCredentials(service.fields, values);
    if (checked.errors) {
      setErrors(checked.errors);
      const first = service.fields.find((f) => checked.errors?.[f.name]);
      if (first) document.getElementById(`cred-${first.name}`)?.focus();
      return;
    }
    setErrors({});
    save.mutate(checked.credentials);
  }

  return (
    <Modal
      title={`${attached ? "Credentials" : "Connect"}: ${service.service}`}
      description={
        attached
          ? "Stored credentials are never shown. Enter a complete new set to replace them; it is tested before it is stored."
          : "Enter the vendor's credentials; they are tested before they are stored."
      }
      onClose={() => !busy && onClose()}
      testId="credentials-dialog"
    >
      <form onSubmit={onSubmit} noValidate autoComplete="off" className="space-y-4 px-5 py-4" data-testid="credentials-form">
        {service.fields.length === 0 && <p className="text-sm text-fg-muted">This server does not say which fields the service takes.</p>}
        {service.fields.map((f, i) => {
          const id = `cred-${f.name}`;
          const secret = isSecretField(f.name);
          return (
            <Field key={f.name} id={id} label={`${fieldLabelOf(f.name)}${f.optional ? " (optional)" : ""}`} error={errors[f.name]}>
              <input
                id={id}
                name={f.name}
                data-testid={id}
                data-autofocus={i === 0 ? true : undefined}
                type={secret ? "password" : "text"}
                autoComplete={secret ? "new-password" : "off"}
                spellCheck={false}
                value={values[f.name] ?? ""}
                placeholder={attached && secret ? "Stored (hidden): type to replace" : undefined}
                onChange={(e) => {
                  const v = e.target.value;
                  setValues((s) => ({ ...s, [f.name]: v }));
                  setErrors((x) => (x[f.name] ? { ...x, [f.name]: undefined } : x));
                }}
                aria-invalid={errors[f.name] ? true : undefined}
                aria-describedby={describedBy(id, errors[f.name])}
                className={INPUT}
              />
            </Field>
          );
        })}
        {save.isError && <ErrorBox error={save.error} />}
        {saved && (
          <p role="status" data-testid="credentials-saved" className={`${TEXT_TONE.green} text-sm`}>
            Saved and tested against the vendor.
          </p>
        )}
        {test.data && (
          <div
            role="status"
            data-testid="test-result"
            data-ok={test.data.ok}
            className={`${test.data.ok ? "rounded-lg border border-line bg-subtle text-fg-soft" : ALERT.red} px-3 py-2 text-sm`}
          >
            {test.data.ok ? (
              <span className={TEXT_TONE.green}>Connection works: the stored credentials were accepted.</span>
            ) : (
              <>Connection failed: {plainError(test.data.error) || "the vendor refused the stored credentials."}</>
            )}
          </div>
        )}
        {test.isError && (
          <div data-testid="test-result" data-ok="false">
            <ErrorBox error={test.error} />
          </div>
        )}
        <div className="flex flex-wrap items-center justify-between gap-2 border-t border-line-soft pt-4">
          <button
            type="button"
            className={`${BUTTON} px-3 py-1.5`}
            data-testid="credentials-test"
            disabled={!attached || busy}
            title={attached ? undefined : "Save credentials first"}
            onClick={() => test.mutate()}
          >
            {test.isPending ? "Testing…" : "Test connection"}
          </button>
          <div className="flex gap-2">
            <button type="button" className={`${BUTTON} px-3 py-1.5`} onClick={onClose} disabled={busy}>
              Close
            </button>
            <button type="submit" className={`${BUTTON_PRIMARY} px-3 py-1.5`} data-testid="credentials-save" disabled={busy || service.fields.length === 0}>
              {save.isPending ? "Testing and saving…" : "Save credentials"}
            </button>
          </div>
        </div>
      </form>
    </Modal>
  );
}

function ScheduleDialog({ service, onClose }: { service: ServiceView; onClose: () => void }) {
  const p = useAdminPath();
  const qc = useQueryClient();
  const [value, setValue] = useState(service.schedule ?? "");
  const [error, setError] = useState<string | undefined>();
  const save = useMutation({
    mutationFn: (schedule: string | null) =>
      api.request<ServiceView>(p(`/api/admin/services/${encodeURIComponent(service.service)}`), {
        method: "PATCH",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ schedule }),
      }),
    onSuccess: async () => {
      await qc.invalidateQueries({ queryKey: ["ops", "services"] });
      onClose();
    },
    onError: (e) => setError(e instanceof ApiError ? e.message : "Could not save the schedule."),
  });
  const v = value.trim();
  return (
    <Modal title={`Schedule: ${service.service}`} description="A 5-field cron expression in UTC; empty for the default (hourly)." onClose={() => !save.isPending && onClose()} testId="schedule-dialog">
      <form
        noValidate
        className="space-y-4 px-5 py-4"
        onSubmit={(e) => {
          e.preventDefault();
          if (v && v.split(/\s+/).length !== 5) {
            setError("A cron expression has 5 fields: minute hour day month weekday.");
            return;
          }
          setError(undefined);
          save.mutate(v || null);
        }}
      >
        <Field id="schedule-cron" label="Schedule (cron, UTC)" error={error} hint={v ? (scheduleIntervalSecs(v) ? describeSchedule(v) : "Custom schedule") : "Default: each table on its refresh interval"}>
          <input
            id="schedule-cron"
            data-autofocus
            value={value}
            placeholder="*/15 * * * *"
            spellCheck={false}
            onChange={(e) => setValue(e.target.value)}
            aria-invalid={error ? true : undefined}
            aria-describedby={describedBy("schedule-cron", error, true)}
            className={`${INPUT} font-mono`}
          />
        </Field>
        <div className="flex justify-end gap-2 border-t border-line-soft pt-4">
          <button type="button" className={`${BUTTON} px-3 py-1.5`} onClick={onClose} disabled={save.isPending}>
            Cancel
          </button>
          <button type="submit" className={`${BUTTON_PRIMARY} px-3 py-1.5`} disabled={save.isPending}>
            Save schedule
          </button>
        </div>
      </form>
    </Modal>
  );
}
