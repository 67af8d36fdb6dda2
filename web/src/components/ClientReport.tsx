// The company page's client report: the PDF for a period, downloaded or e-mailed now,
// and the company's report schedules (listed, made, deleted). E-mailing and schedules are
// for tenant admins and analysts (the API refuses viewers); everyone downloads.
// Its logic (periods, recipients, a schedule in words) is lib/reports.ts.
import { useId, useRef, useState, type FormEvent, type ReactNode } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api } from "../lib/client";
import { useCurrentUser } from "../lib/auth";
import type { ReportView } from "../lib/analytics";
import {
  canSendReports,
  dayOptions,
  DEFAULT_REPORT_PERIOD,
  describeSchedule,
  emailBody,
  errorField,
  HOURS,
  hourText,
  newScheduleForm,
  parseRecipients,
  periodPhrase,
  periodRange,
  recipientsPhrase,
  recipientsProblem,
  REPORT_PERIODS,
  reportEmailPath,
  reportErrorMessage,
  reportPdfPath,
  reportViewPath,
  ruleText,
  SCHEDULE_PERIODS,
  schedulePath,
  schedulesPath,
  scheduleText,
  sentSummary,
  validateScheduleForm,
  withCadence,
  type Cadence,
  type EmailSent,
  type ReportSchedule,
  type ScheduleField,
  type ScheduleForm,
} from "../lib/reports";
import { Modal } from "./Modal";
import { ALERT, BUTTON, BUTTON_PRIMARY, CONTROL, Card, CardHeader, ErrorBox, Spinner } from "./ui";

const BUTTON_DANGER =
  "rounded-lg bg-red-600 text-sm font-medium text-white shadow-sm hover:bg-red-500 disabled:opacity-50 dark:bg-red-700 dark:hover:bg-red-600";
const FOCUS = "focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500 focus-visible:ring-offset-1 dark:focus-visible:ring-offset-slate-900";
const input = `${CONTROL} block w-full px-3 py-2 aria-[invalid=true]:border-red-400 aria-[invalid=true]:focus:ring-red-500/30`;
const LABEL = "block text-sm font-medium text-fg-soft";
const HINT = "mt-1 text-xs text-fg-muted";

/** Saves a blob under `filename` (the browser's download). */
function saveBlob(blob: Blob, filename: string) {
  const href = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = href;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  window.setTimeout(() => URL.revokeObjectURL(href), 10_000);
}

export function ClientReport({ id, name, asOf }: { id: string; name: string; asOf?: string | null }) {
  const canSend = canSendReports(useCurrentUser()?.role);
  const [period, setPeriod] = useState(DEFAULT_REPORT_PERIOD);
  const [dialog, setDialog] = useState<"email" | "schedule" | null>(null);
  const [downloading, setDownloading] = useState(false);
  const [downloadError, setDownloadError] = useState<unknown>(null);
  const periodId = useId();

  // The dates the report covers (the same figures the PDF is made of).
  const viewPath = reportViewPath(id, period, asOf);
  const view = useQuery({
    queryKey: ["report", viewPath],
    queryFn: () => api.request<ReportView>(viewPath),
  });
  const covers = view.data ? `${periodRange(view.data.period.from, view.data.period.to, view.data.period.tz)} (${view.data.period.tz})` : null;

  async function download() {
    setDownloading(true);
    setDownloadError(null);
    try {
      const { blob, filename } = await api.download(reportPdfPath(id, period, asOf), "application/pdf");
      saveBlob(blob, filename ?? `report-${period}.pdf`);
    } catch (e) {
      setDownloadError(e);
    } finally {
      setDownloading(false);
    }
  }

  return (
    <Card>
      <section aria-label="Client report" data-testid="client-report">
        <CardHeader
          title="Client report"
          subtitle="A PDF of the company's tickets, SLA, hours, top issues and open tickets, each against the period before."
        />
        <div className="space-y-3 px-5 py-4">
          <div className="flex flex-wrap items-end gap-2">
            <div className="min-w-0">
              <label htmlFor={periodId} className="block text-xs font-medium text-fg-muted">
                Period
              </label>
              <select
                id={periodId}
                data-testid="client-report-period"
                value={period}
                onChange={(e) => setPeriod(e.target.value)}
                aria-describedby={`${periodId}-covers`}
                className={`${CONTROL} mt-1 px-3 py-1.5`}
              >
                {REPORT_PERIODS.map((p) => (
                  <option key={p.id} value={p.id}>
                    {p.label}
                  </option>
                ))}
              </select>
            </div>
            <button
              type="button"
              data-testid="client-report-download"
              onClick={download}
              disabled={downloading}
              aria-busy={downloading || undefined}
              className={`${BUTTON_PRIMARY} ${FOCUS} px-3 py-1.5`}
            >
              {downloading ? "Preparing PDF…" : "Download PDF"}
            </button>
            {canSend && (
              <button
                type="button"
                data-testid="client-report-email"
                onClick={() => setDialog("email")}
                className={`${BUTTON} ${FOCUS} px-3 py-1.5`}
              >
                E-mail report…
              </button>
            )}
          </div>
          <p id={`${periodId}-covers`} className="text-xs text-fg-muted" data-testid="client-report-covers">
            {covers ? `Covers ${covers}.` : view.isError ? "" : "…"}
            {asOf ? " The download shows the figures as they stood then; e-mails and schedules use them as they are now." : ""}
          </p>
          {downloadError !== null && <ErrorBox error={downloadError} />}
        </div>
        {canSend && <Schedules company={id} onNew={() => setDialog("schedule")} />}
      </section>
      {dialog === "email" && <EmailDialog company={id} name={name} initialPeriod={period} onClose={() => setDialog(null)} />}
      {dialog === "schedule" && <ScheduleDialog company={id} name={name} tz={view.data?.period.tz ?? null} onClose={() => setDialog(null)} />}
    </Card>
  );
}

// ---- schedules ----

function Schedules({ company, onNew }: { company: string; onNew: () => void }) {
  const path = schedulesPath(company);
  const q = useQuery({
    queryKey: ["report-schedules", company],
    queryFn: () => api.request<{ schedules: ReportSchedule[] }>(path),
  });
  const [deleting, setDeleting] = useState<ReportSchedule | null>(null);
  const newButton = useRef<HTMLButtonElement>(null);
  const items = q.data?.schedules ?? [];
  return (
    <div className="border-t border-line-soft px-5 py-4" data-testid="report-schedules">
      <div className="flex flex-wrap items-center justify-between gap-2">
        <h3 className="text-sm font-semibold text-fg">
          Schedules
          {q.data && (
            <span className="ml-1.5 font-normal text-fg-muted" data-testid="report-schedules-total" data-value={items.length}>
              ({items.length})
            </span>
          )}
        </h3>
        <button ref={newButton} type="button" data-testid="report-schedule-new" onClick={onNew} className={`${BUTTON} ${FOCUS} px-3 py-1.5`}>
          Schedule…
        </button>
      </div>
      {q.isError ? (
        <ErrorBox error={q.error} className="mt-3" />
      ) : q.isLoading ? (
        <Spinner label="Loading schedules…" />
      ) : items.length === 0 ? (
        <p className="mt-2 text-sm text-fg-muted" data-testid="report-schedules-empty">
          None: the report goes out only when someone e-mails it.
        </p>
      ) : (
        <ul className="mt-3 divide-y divide-line-soft rounded-lg border border-line" data-testid="report-schedule-list">
          {items.map((s) => {
            const w = describeSchedule(s);
            return (
              <li
                key={s.id}
                className="flex flex-col gap-2 px-3 py-2.5 sm:flex-row sm:items-start sm:justify-between"
                data-testid="report-schedule"
                data-id={s.id}
                data-status={s.last_status ?? ""}
              >
                <div className="min-w-0 text-sm">
                  <p className="break-words text-fg" data-testid="report-schedule-summary">
                    {w.summary}
                  </p>
                  <p className="mt-0.5 break-words text-xs text-fg-muted">
                    {w.next}
                    {w.last && (
                      <>
                        {w.next && " · "}
                        <span className={w.last.failed ? "text-danger" : undefined} data-testid="report-schedule-last">
                          {w.last.text}
                        </span>
                      </>
                    )}
                  </p>
                  {s.message && <p className="mt-0.5 break-words text-xs text-fg-muted">Note: “{s.message}”</p>}
                </div>
                <button
                  type="button"
                  data-testid="report-schedule-delete"
                  onClick={() => setDeleting(s)}
                  aria-label={`Delete the schedule: ${scheduleText(s)}`}
                  className={`${BUTTON} ${FOCUS} shrink-0 self-start px-3 py-1 text-red-700 dark:text-red-300`}
                >
                  Delete
                </button>
              </li>
            );
          })}
        </ul>
      )}
      {deleting && (
        <DeleteScheduleDialog
          schedule={deleting}
          onClose={() => setDeleting(null)}
          // Its row (and Delete button) is gone: the focus goes to "Schedule…".
          onDeleted={() => window.setTimeout(() => newButton.current?.focus(), 0)}
        />
      )}
    </div>
  );
}

function DeleteScheduleDialog({ schedule, onClose, onDeleted }: { schedule: ReportSchedule; onClose: () => void; onDeleted: () => void }) {
  const qc = useQueryClient();
  const remove = useMutation({
    mutationFn: () => api.request<void>(schedulePath(schedule.id), { method: "DELETE" }),
    onSuccess: async () => {
      await qc.invalidateQueries({ queryKey: ["report-schedules"] });
      onClose();
      onDeleted();
    },
  });
  const busy = remove.isPending;
  return (
    <Modal
      title="Delete the schedule?"
      description={`${describeSchedule(schedule).summary}. No more reports go out on it.`}
      onClose={() => !busy && onClose()}
      testId="report-schedule-delete-dialog"
    >
      <div className="space-y-4 px-5 py-4">
        {remove.isError && (
          <p role="alert" className={`${ALERT.red} px-3 py-2 text-sm`} data-testid="report-schedule-delete-error">
            {reportErrorMessage(remove.error)}
          </p>
        )}
        <div className="flex justify-end gap-2">
          <button type="button" data-autofocus disabled={busy} onClick={onClose} className={`${BUTTON} px-3 py-1.5`}>
            Cancel
          </button>
          <button
            type="button"
            data-testid="report-schedule-delete-confirm"
            disabled={busy}
            onClick={() => remove.mutate()}
            className={`${BUTTON_DANGER} px-4 py-1.5`}
          >
            {busy ? "Deleting…" : "Delete"}
          </button>
        </div>
      </div>
    </Modal>
  );
}

// ---- the dialogs' shared fields ----

function Field({
  id,
  label,
  hint,
  error,
  children,
}: {
  id: string;
  label: string;
  hint?: ReactNode;
  error?: string | null;
  children: ReactNode;
}) {
  return (
    <div>
      <label htmlFor={id} className={LABEL}>
        {label}
      </label>
      <div className="mt-1">{children}</div>
      {hint && (
        <p id={`${id}-hint`} className={HINT}>
          {hint}
        </p>
      )}
      {error && (
        <p id={`${id}-error`} className="mt-1 text-sm text-danger" data-testid={`${id}-error`}>
          {error}
        </p>
      )}
    </div>
  );
}

function describedBy(id: string, hint: boolean, error: unknown): string | undefined {
  return [hint ? `${id}-hint` : "", error ? `${id}-error` : ""].filter(Boolean).join(" ") || undefined;
}

/** The recipients, the company's contacts and the note: the same in both dialogs. */
function RecipientFields({
  prefix,
  autofocus = false,
  recipients,
  contacts,
  message,
  errors,
  onRecipients,
  onContacts,
  onMessage,
}: {
  prefix: string;
  /** Whether the recipients field takes the focus when the dialog opens. */
  autofocus?: boolean;
  recipients: string;
  contacts: boolean;
  message: string;
  errors: { to?: string | null; message?: string | null };
  onRecipients: (v: string) => void;
  onContacts: (v: boolean) => void;
  onMessage: (v: string) => void;
}) {
  const to = `${prefix}-to`;
  const msg = `${prefix}-message`;
  return (
    <>
      <Field id={to} label="Recipients" hint="Separate addresses with commas or new lines: ana@client.example, Bo Li <bo@client.example>" error={errors.to}>
        <textarea
          id={to}
          data-testid={to}
          data-autofocus={autofocus || undefined}
          rows={3}
          value={recipients}
          onChange={(e) => onRecipients(e.target.value)}
          aria-invalid={errors.to ? true : undefined}
          aria-describedby={describedBy(to, true, errors.to)}
          className={`${input} resize-y`}
          autoComplete="off"
          spellCheck={false}
        />
      </Field>
      <label className="flex cursor-pointer items-start gap-2 text-sm text-fg-soft">
        <input
          type="checkbox"
          data-testid={`${prefix}-contacts`}
          checked={contacts}
          onChange={(e) => onContacts(e.target.checked)}
          className="mt-0.5 h-4 w-4 accent-indigo-600 dark:accent-indigo-400"
        />
        <span>
          Send to the company's contacts
          <span className="block text-xs text-fg-muted">Its active contacts that have an e-mail address.</span>
        </span>
      </label>
      <Field id={msg} label="Message (optional)" hint="A note at the top of the e-mail." error={errors.message}>
        <textarea
          id={msg}
          data-testid={msg}
          rows={2}
          maxLength={2000}
          value={message}
          onChange={(e) => onMessage(e.target.value)}
          aria-invalid={errors.message ? true : undefined}
          aria-describedby={describedBy(msg, true, errors.message)}
          className={`${input} resize-y`}
        />
      </Field>
    </>
  );
}

function FormError({ error, testId }: { error: string | null; testId: string }) {
  if (!error) return null;
  return (
    <p role="alert" className={`${ALERT.red} px-3 py-2 text-sm`} data-testid={testId}>
      {error}
    </p>
  );
}

// ---- e-mail now ----

function EmailDialog({ company, name, initialPeriod, onClose }: { company: string; name: string; initialPeriod: string; onClose: () => void }) {
  const [period, setPeriod] = useState(initialPeriod);
  const [recipients, setRecipients] = useState("");
  const [contacts, setContacts] = useState(false);
  const [message, setMessage] = useState("");
  const [toError, setToError] = useState<string | null>(null);
  const send = useMutation({
    mutationFn: (body: object) =>
      api.request<EmailSent>(reportEmailPath(company), {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      }),
  });
  const busy = send.isPending;
  const apiField = send.isError ? errorField(send.error) : null;
  const apiError = send.isError ? reportErrorMessage(send.error) : null;

  function onSubmit(e: FormEvent) {
    e.preventDefault();
    const r = parseRecipients(recipients);
    const problem = recipientsProblem(r, contacts);
    setToError(problem);
    if (problem) {
      document.getElementById("report-email-to")?.focus();
      return;
    }
    send.mutate(emailBody(r.addresses, contacts, period, message));
  }

  const sent = send.data;
  return (
    <Modal
      title="E-mail the client report"
      description={`${name}'s report as a PDF attachment.`}
      onClose={() => !busy && onClose()}
      testId="report-email-dialog"
    >
      {sent ? (
        <div className="space-y-4 px-5 py-4">
          <div role="status" className="text-sm" data-testid="report-email-sent" data-count={sent.sent_to.length}>
            <p className="font-medium text-fg">{sentSummary(sent)}</p>
            <ul className="mt-2 list-disc space-y-0.5 pl-5 text-fg-soft" data-testid="report-email-sent-to">
              {sent.sent_to.map((a) => (
                <li key={a} className="break-all">
                  {a}
                </li>
              ))}
            </ul>
            <p className="mt-2 text-xs text-fg-muted">
              “{sent.subject}”, with {sent.file}
            </p>
          </div>
          <div className="flex justify-end border-t border-line-soft pt-4">
            <button type="button" data-testid="report-email-done" onClick={onClose} className={`${BUTTON_PRIMARY} px-4 py-1.5`} autoFocus>
              Done
            </button>
          </div>
        </div>
      ) : (
        <form onSubmit={onSubmit} noValidate className="space-y-4 px-5 py-4" data-testid="report-email-form">
          <Field id="report-email-period" label="Period">
            <select id="report-email-period" data-testid="report-email-period" value={period} onChange={(e) => setPeriod(e.target.value)} className={input}>
              {REPORT_PERIODS.map((p) => (
                <option key={p.id} value={p.id}>
                  {p.label}
                </option>
              ))}
            </select>
          </Field>
          <RecipientFields
            prefix="report-email"
            autofocus
            recipients={recipients}
            contacts={contacts}
            message={message}
            errors={{ to: toError ?? (apiField === "to" ? apiError : null), message: apiField === "message" ? apiError : null }}
            onRecipients={(v) => {
              setRecipients(v);
              setToError(null);
              if (apiField === "to") send.reset();
            }}
            onContacts={(v) => {
              setContacts(v);
              setToError(null);
              if (apiField === "to") send.reset();
            }}
            onMessage={(v) => {
              setMessage(v);
              if (apiField === "message") send.reset();
            }}
          />
          <FormError error={apiField === "to" || apiField === "message" ? null : apiError} testId="report-email-error" />
          <div className="flex flex-wrap justify-end gap-2 border-t border-line-soft pt-4">
            <button type="button" disabled={busy} onClick={onClose} className={`${BUTTON} px-3 py-1.5`}>
              Cancel
            </button>
            <button type="submit" data-testid="report-email-send" disabled={busy} className={`${BUTTON_PRIMARY} px-4 py-1.5`}>
              {busy ? "Sending…" : "Send"}
            </button>
          </div>
        </form>
      )}
    </Modal>
  );
}

// ---- a new schedule ----

const SCHEDULE_FIELDS: ScheduleField[] = ["day", "hour", "period", "to", "message"];

function ScheduleDialog({ company, name, tz, onClose }: { company: string; name: string; tz: string | null; onClose: () => void }) {
  const qc = useQueryClient();
  const [form, setForm] = useState<ScheduleForm>(newScheduleForm);
  const [errors, setErrors] = useState<Partial<Record<ScheduleField, string>>>({});
  // The API's refusal not about one field (e-mail off, a limit reached …).
  const [formError, setFormError] = useState<string | null>(null);
  const create = useMutation({
    mutationFn: (body: object) =>
      api.request<ReportSchedule>("/api/report-schedules", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      }),
    onSuccess: async () => {
      await qc.invalidateQueries({ queryKey: ["report-schedules", company] });
      onClose();
    },
    onError: (e) => {
      const f = errorField(e);
      if (f && (SCHEDULE_FIELDS as string[]).includes(f)) setErrors({ [f]: reportErrorMessage(e) });
      else setFormError(reportErrorMessage(e));
    },
  });
  const busy = create.isPending;

  const set = <K extends keyof ScheduleForm>(k: K, v: ScheduleForm[K]) => {
    setForm((f) => ({ ...f, [k]: v }));
    const field: ScheduleField | null = k === "recipients" || k === "contacts" ? "to" : k === "cadence" ? "day" : (k as ScheduleField);
    setErrors((e) => (field && e[field] ? { ...e, [field]: undefined } : e));
  };

  function onSubmit(e: FormEvent) {
    e.preventDefault();
    setFormError(null);
    const checked = validateScheduleForm(company, form);
    if (checked.errors) {
      setErrors(checked.errors);
      const first = SCHEDULE_FIELDS.find((f) => checked.errors[f]);
      if (first) document.getElementById(`report-schedule-${first}`)?.focus();
      return;
    }
    setErrors({});
    create.mutate(checked.body);
  }

  const r = parseRecipients(form.recipients);
  const preview = `${ruleText({ ...form, tz })}: ${periodPhrase(form.period)} to ${recipientsPhrase(r.addresses, form.contacts)}.`;
  const zone = tz ? `the tenant's time zone (${tz})` : "the tenant's time zone";
  return (
    <Modal
      title="Schedule the client report"
      description={`${name}'s report, e-mailed as a PDF on a regular day.`}
      onClose={() => !busy && onClose()}
      testId="report-schedule-dialog"
    >
      <form onSubmit={onSubmit} noValidate className="space-y-4 px-5 py-4" data-testid="report-schedule-form">
        <fieldset>
          <legend className={LABEL}>How often</legend>
          <div className="mt-1 grid grid-cols-2 gap-2">
            {(["weekly", "monthly"] as Cadence[]).map((c) => (
              <label
                key={c}
                className={`flex cursor-pointer items-center gap-2 rounded-lg border px-3 py-2 text-sm ${
                  form.cadence === c ? "border-indigo-500 bg-accent-soft text-accent-soft-fg" : "border-line-strong text-fg-soft hover:bg-subtle"
                }`}
              >
                <input
                  type="radio"
                  name="report-schedule-cadence"
                  value={c}
                  checked={form.cadence === c}
                  onChange={() => {
                    setForm((f) => withCadence(f, c));
                    setErrors((e) => ({ ...e, day: undefined, period: undefined }));
                  }}
                  data-testid={`report-schedule-cadence-${c}`}
                  className="accent-indigo-600 dark:accent-indigo-400"
                />
                {c === "weekly" ? "Weekly" : "Monthly"}
              </label>
            ))}
          </div>
        </fieldset>
        <div className="grid gap-4 sm:grid-cols-2">
          <Field id="report-schedule-day" label={form.cadence === "weekly" ? "Day of the week" : "Day of the month"} hint={form.cadence === "monthly" ? "1 to 28, so every month has it." : undefined} error={errors.day}>
            <select
              id="report-schedule-day"
              data-testid="report-schedule-day"
              value={form.day}
              onChange={(e) => set("day", Number(e.target.value))}
              aria-invalid={errors.day ? true : undefined}
              aria-describedby={describedBy("report-schedule-day", form.cadence === "monthly", errors.day)}
              className={input}
            >
              {dayOptions(form.cadence).map((d) => (
                <option key={d.value} value={d.value}>
                  {d.label}
                </option>
              ))}
            </select>
          </Field>
          <Field id="report-schedule-hour" label="At" hint={`In ${zone}.`} error={errors.hour}>
            <select
              id="report-schedule-hour"
              data-testid="report-schedule-hour"
              value={form.hour}
              onChange={(e) => set("hour", Number(e.target.value))}
              aria-invalid={errors.hour ? true : undefined}
              aria-describedby={describedBy("report-schedule-hour", true, errors.hour)}
              className={input}
            >
              {HOURS.map((h) => (
                <option key={h} value={h}>
                  {hourText(h)}
                </option>
              ))}
            </select>
          </Field>
        </div>
        <Field id="report-schedule-period" label="Report on" error={errors.period}>
          <select
            id="report-schedule-period"
            data-testid="report-schedule-period"
            value={form.period}
            onChange={(e) => set("period", e.target.value)}
            aria-invalid={errors.period ? true : undefined}
            aria-describedby={describedBy("report-schedule-period", false, errors.period)}
            className={input}
          >
            {SCHEDULE_PERIODS.map((p) => (
              <option key={p.id} value={p.id}>
                {p.label}
              </option>
            ))}
          </select>
        </Field>
        <RecipientFields
          prefix="report-schedule"
          recipients={form.recipients}
          contacts={form.contacts}
          message={form.message}
          errors={{ to: errors.to, message: errors.message }}
          onRecipients={(v) => set("recipients", v)}
          onContacts={(v) => set("contacts", v)}
          onMessage={(v) => set("message", v)}
        />
        <p className="rounded-lg bg-subtle px-3 py-2 text-sm text-fg-soft" data-testid="report-schedule-preview" aria-live="polite">
          {preview}
        </p>
        <FormError error={formError} testId="report-schedule-error" />
        <div className="flex flex-wrap justify-end gap-2 border-t border-line-soft pt-4">
          <button type="button" disabled={busy} onClick={onClose} className={`${BUTTON} px-3 py-1.5`}>
            Cancel
          </button>
          <button type="submit" data-testid="report-schedule-save" disabled={busy} className={`${BUTTON_PRIMARY} px-4 py-1.5`}>
            {busy ? "Saving…" : "Create schedule"}
          </button>
        </div>
      </form>
    </Modal>
  );
}
