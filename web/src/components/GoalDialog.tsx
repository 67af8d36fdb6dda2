// The goal dialog: an admin sets, changes or removes a metric's goal. Its checks and
// the body it sends are lib/goals.ts; the API's own refusals show beside their field.
import { useState, type FormEvent } from "react";
import { useMutation, useQueryClient, type QueryClient } from "@tanstack/react-query";
import { api } from "../lib/client";
import { useCurrentUser } from "../lib/auth";
import type { GoalView, Unit } from "../lib/analytics";
import {
  apiGoalErrors,
  canEditGoals,
  goalForm,
  goalPath,
  SPANS,
  unitSuffix,
  validateGoalForm,
  type Goal,
  type GoalEntry,
  type GoalErrors,
  type GoalField,
  type GoalForm,
  type Span,
} from "../lib/goals";
import { Modal } from "./Modal";
import { ALERT, BUTTON, BUTTON_PRIMARY, CONTROL } from "./ui";

/** Whether the signed-in user may change goals (tenant and platform admins). */
export function useCanEditGoals(): boolean {
  return canEditGoals(useCurrentUser()?.role);
}

/** Every answer that carries a goal or its status, read again. */
export function refreshGoals(qc: QueryClient): Promise<void> {
  const keys = new Set(["kpis", "metric", "goals", "metrics-catalogue", "report"]);
  return qc.invalidateQueries({ predicate: (q) => keys.has(String(q.queryKey[0])) });
}

export interface GoalTarget {
  metric: string;
  label: string;
  unit: Unit;
  better: "higher" | "lower";
  goal?: Goal | GoalView | null;
}

const input = `${CONTROL} block w-full px-3 py-2 aria-[invalid=true]:border-red-400 aria-[invalid=true]:focus:ring-red-500/30`;

function FieldError({ field, errors }: { field: GoalField; errors: GoalErrors }) {
  const e = errors[field];
  if (!e) return null;
  return (
    <p id={`goal-${field}-error`} className="mt-1 text-sm text-danger" data-testid={`goal-${field}-error`}>
      {e}
    </p>
  );
}

function describedBy(field: GoalField, errors: GoalErrors, hint = true): string | undefined {
  return [hint ? `goal-${field}-hint` : "", errors[field] ? `goal-${field}-error` : ""].filter(Boolean).join(" ") || undefined;
}

/** `viewing`: the span of the period on screen, which a new goal on a count is for. */
export function GoalDialog({
  target,
  viewing,
  onClose,
  onSaved,
}: {
  target: GoalTarget;
  viewing?: Span | null;
  onClose: () => void;
  onSaved?: (entry: GoalEntry | null) => void;
}) {
  const qc = useQueryClient();
  const user = useCurrentUser();
  const existing = target.goal ?? null;
  const [form, setForm] = useState<GoalForm>(() => goalForm(target, existing, viewing));
  const [errors, setErrors] = useState<GoalErrors>({});
  const suffix = unitSuffix(target.unit);

  const save = useMutation({
    mutationFn: (body: object) =>
      api.request<GoalEntry>(goalPath(target.metric, user?.tenant_id), {
        method: "PUT",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      }),
    onSuccess: async (entry) => {
      await refreshGoals(qc);
      onSaved?.(entry);
      onClose();
    },
    onError: (e) => setErrors(apiGoalErrors(e)),
  });
  const remove = useMutation({
    mutationFn: () => api.request<void>(goalPath(target.metric, user?.tenant_id), { method: "DELETE" }),
    onSuccess: async () => {
      await refreshGoals(qc);
      onSaved?.(null);
      onClose();
    },
    onError: (e) => setErrors(apiGoalErrors(e)),
  });
  const busy = save.isPending || remove.isPending;

  const set = <K extends GoalField>(k: K, v: GoalForm[K]) => {
    setForm((f) => ({ ...f, [k]: v }));
    setErrors((e) => (e[k] || e.form ? { ...e, [k]: undefined, form: undefined } : e));
  };

  function onSubmit(e: FormEvent) {
    e.preventDefault();
    const checked = validateGoalForm(form);
    if (checked.errors) {
      setErrors(checked.errors);
      // Focus the first field in error, so a screen reader reads its message.
      const first = (["target", "direction", "period", "warning_band"] as GoalField[]).find((f) => checked.errors[f]);
      if (first) document.getElementById(`goal-${first}`)?.focus();
      return;
    }
    setErrors({});
    save.mutate(checked.body);
  }

  const per = form.period ? SPANS.find((s) => s.id === form.period)?.per : undefined;
  return (
    <Modal
      title={`${existing ? "Edit the goal" : "Set a goal"}: ${target.label}`}
      description={`Cards show whether the figure meets it: met, at risk or missed.`}
      onClose={() => !busy && onClose()}
      testId="goal-dialog"
    >
      <form onSubmit={onSubmit} noValidate className="space-y-4 px-5 py-4" data-testid="goal-form">
        <div>
          <label htmlFor="goal-target" className="block text-sm font-medium text-fg-soft">
            Target
          </label>
          <div className="mt-1 flex items-center gap-2">
            {suffix === "$" && <span className="text-sm text-fg-muted">$</span>}
            <input
              id="goal-target"
              data-testid="goal-target"
              data-autofocus
              type="number"
              inputMode="decimal"
              step="any"
              required
              value={form.target}
              onChange={(e) => set("target", e.target.value)}
              aria-invalid={errors.target ? true : undefined}
              aria-describedby={describedBy("target", errors)}
              className={input}
            />
            {suffix && suffix !== "$" && <span className="shrink-0 text-sm text-fg-muted">{suffix}</span>}
          </div>
          <p id="goal-target-hint" className="mt-1 text-xs text-fg-muted">
            {per ? `The figure for ${per}; while one runs, the card holds it to the share of the target the time passed calls for.` : "The value the figure should reach, or stay under."}
          </p>
          <FieldError field="target" errors={errors} />
        </div>

        <fieldset aria-describedby={describedBy("direction", errors, false)}>
          <legend className="text-sm font-medium text-fg-soft">Direction</legend>
          <div className="mt-1 grid gap-2 sm:grid-cols-2">
            {(
              [
                ["at_least", "Higher is better", "At least the target"],
                ["at_most", "Lower is better", "At most the target"],
              ] as const
            ).map(([id, label, help]) => (
              <label
                key={id}
                className={`flex cursor-pointer items-start gap-2 rounded-lg border px-3 py-2 text-sm ${
                  form.direction === id ? "border-indigo-500 bg-accent-soft" : "border-line-strong hover:bg-subtle"
                }`}
              >
                <input
                  type="radio"
                  name="goal-direction"
                  id={id === "at_least" ? "goal-direction" : undefined}
                  value={id}
                  checked={form.direction === id}
                  onChange={() => set("direction", id)}
                  data-testid={`goal-direction-${id}`}
                  className="mt-0.5 accent-indigo-600 dark:accent-indigo-400"
                />
                <span>
                  <span className="block font-medium text-fg">{label}</span>
                  <span className="block text-xs text-fg-muted">
                    {help}
                    {(target.better === "higher") === (id === "at_least") ? " (this metric's own)" : ""}
                  </span>
                </span>
              </label>
            ))}
          </div>
          <FieldError field="direction" errors={errors} />
        </fieldset>

        <div className="grid gap-4 sm:grid-cols-2">
          <div>
            <label htmlFor="goal-period" className="block text-sm font-medium text-fg-soft">
              Period
            </label>
            <select
              id="goal-period"
              data-testid="goal-period"
              value={form.period}
              onChange={(e) => set("period", e.target.value as Span | "")}
              aria-invalid={errors.period ? true : undefined}
              aria-describedby={describedBy("period", errors)}
              className={`${input} mt-1`}
            >
              <option value="">Any period</option>
              {SPANS.map((s) => (
                <option key={s.id} value={s.id}>
                  {s.label}
                </option>
              ))}
            </select>
            <p id="goal-period-hint" className="mt-1 text-xs text-fg-muted">
              {form.period ? "Holds for views of that length (30 days count as a month)." : "For a percentage or an average."}
            </p>
            <FieldError field="period" errors={errors} />
          </div>
          <div>
            <label htmlFor="goal-warning_band" className="block text-sm font-medium text-fg-soft">
              Warning band
            </label>
            <div className="mt-1 flex items-center gap-2">
              <input
                id="goal-warning_band"
                data-testid="goal-warning_band"
                type="number"
                inputMode="decimal"
                step="any"
                min={0}
                placeholder="0"
                value={form.warning_band}
                onChange={(e) => set("warning_band", e.target.value)}
                aria-invalid={errors.warning_band ? true : undefined}
                aria-describedby={describedBy("warning_band", errors)}
                className={input}
              />
              {suffix && <span className="shrink-0 text-sm text-fg-muted">{suffix === "%" ? "pts" : suffix}</span>}
            </div>
            <p id="goal-warning_band-hint" className="mt-1 text-xs text-fg-muted">
              How far on the wrong side still counts as at risk, not missed.
            </p>
            <FieldError field="warning_band" errors={errors} />
          </div>
        </div>

        {errors.form && (
          <p role="alert" className={`${ALERT.red} px-3 py-2 text-sm`} data-testid="goal-form-error">
            {errors.form}
          </p>
        )}
        {/* Field messages announced as they appear. */}
        <p className="sr-only" aria-live="polite">
          {(["target", "direction", "period", "warning_band"] as GoalField[])
            .filter((f) => errors[f])
            .map((f) => errors[f])
            .join(" ")}
        </p>

        <div className="flex flex-wrap items-center gap-2 border-t border-line-soft pt-4">
          {existing && (
            <button
              type="button"
              data-testid="goal-remove"
              disabled={busy}
              onClick={() => {
                setErrors({});
                remove.mutate();
              }}
              className="rounded-lg border border-red-200 px-3 py-1.5 text-sm font-medium text-red-700 hover:bg-red-50 disabled:opacity-50 dark:border-red-900 dark:text-red-300 dark:hover:bg-red-950/60"
            >
              {remove.isPending ? "Removing…" : "Remove goal"}
            </button>
          )}
          <div className="ml-auto flex gap-2">
            <button
              type="button"
              data-testid="goal-cancel"
              disabled={busy}
              onClick={onClose}
              className={`${BUTTON} px-3 py-1.5`}
            >
              Cancel
            </button>
            <button
              type="submit"
              data-testid="goal-save"
              disabled={busy}
              className={`${BUTTON_PRIMARY} px-4 py-1.5`}
            >
              {save.isPending ? "Saving…" : "Save"}
            </button>
          </div>
        </div>
      </form>
    </Modal>
  );
}
