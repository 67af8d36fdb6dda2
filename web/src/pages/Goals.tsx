// Every goal of the tenant (`GET /api/analytics/goals`) with where its metric stands now:
// over the goal's own span so far (this month for a monthly goal, on pace), or the last
// 30 days for a goal for any period. Admins add, change and remove goals here too.
import { useState } from "react";
import { useQueries, useQuery } from "@tanstack/react-query";
import { api } from "../lib/client";
import { GOAL_LABEL, formatMetric, goalTone, type MetricView } from "../lib/analytics";
import {
  describeBand,
  describeTarget,
  periodLabel,
  statusPeriodLabel,
  statusRequests,
  type GoalEntry,
  type MetricInfo,
} from "../lib/goals";
import { BUTTON, BUTTON_PRIMARY, Badge, CONTROL, Card, CardHeader, ErrorBox, Spinner } from "../components/ui";
import { GoalDialog, useCanEditGoals, type GoalTarget } from "../components/GoalDialog";
import { usePageTitle } from "../lib/title";

interface Catalogue {
  metrics: MetricInfo[];
}

export function GoalsPage() {
  usePageTitle("Goals");
  const canEdit = useCanEditGoals();
  const [editing, setEditing] = useState<GoalTarget | null>(null);
  const [adding, setAdding] = useState("");

  const goals = useQuery({
    queryKey: ["goals"],
    queryFn: () => api.request<{ items: GoalEntry[] }>("/api/analytics/goals"),
  });
  const catalogue = useQuery({
    queryKey: ["metrics-catalogue"],
    queryFn: () => api.request<Catalogue>("/api/analytics/metrics"),
    staleTime: 5 * 60_000,
  });
  const items = goals.data?.items ?? [];
  const requests = statusRequests(items);
  const statuses = useQueries({
    queries: requests.map((r) => {
      const qs = new URLSearchParams({ period: r.period, metrics: r.metrics.join(",") }).toString();
      return {
        queryKey: ["kpis", qs],
        queryFn: () => api.request<{ items: MetricView[] }>(`/api/analytics/kpis?${qs}`),
      };
    }),
  });
  const now = new Map<string, MetricView>();
  requests.forEach((r, i) => {
    // Each metric is asked for once, over its goal's period.
    for (const m of statuses[i]?.data?.items ?? []) if (r.metrics.includes(m.metric)) now.set(m.metric, m);
  });
  const statusError = statuses.find((s) => s.isError)?.error;
  const info = new Map((catalogue.data?.metrics ?? []).map((m) => [m.id, m]));
  const withoutGoal = (catalogue.data?.metrics ?? []).filter((m) => !items.some((g) => g.metric === m.id));

  const targetOf = (g: GoalEntry): GoalTarget => {
    const m = info.get(g.metric) ?? now.get(g.metric);
    return {
      metric: g.metric,
      label: g.label,
      unit: m?.unit ?? "count",
      better: m?.better ?? (g.goal.direction === "at_least" ? "higher" : "lower"),
      goal: g.goal,
    };
  };

  return (
    <div className="space-y-5">
      <div className="flex flex-col gap-3 sm:flex-row sm:items-end sm:justify-between">
        <div>
          <h1 className="text-xl font-semibold text-fg">Goals</h1>
          <p className="text-sm text-fg-muted">
            Targets on the tenant's metrics. Cards everywhere show whether their figure meets its goal.
            {!canEdit && " Tenant admins set them."}
          </p>
        </div>
        {canEdit && (
          <form
            className="flex items-end gap-2"
            onSubmit={(e) => {
              e.preventDefault();
              const m = info.get(adding);
              if (m) setEditing({ metric: m.id, label: m.label, unit: m.unit, better: m.better, goal: null });
            }}
          >
            <label className="flex flex-col gap-0.5 text-xs font-medium text-fg-muted">
              Metric
              <select
                value={adding}
                onChange={(e) => setAdding(e.target.value)}
                data-testid="goal-add-metric"
                className={`${CONTROL} min-w-56 px-2.5 py-1.5`}
              >
                <option value="">Choose a metric…</option>
                {withoutGoal.map((m) => (
                  <option key={m.id} value={m.id}>
                    {m.label}
                  </option>
                ))}
              </select>
            </label>
            <button
              type="submit"
              disabled={!adding}
              data-testid="goal-add"
              className={`${BUTTON_PRIMARY} px-3 py-1.5`}
            >
              Add goal
            </button>
          </form>
        )}
      </div>

      <Card>
        <CardHeader title="All goals" subtitle="A goal for a span is read over that span so far, against the share of the target the time passed calls for." />
        {goals.isError ? (
          <div className="p-4">
            <ErrorBox error={goals.error} />
          </div>
        ) : goals.isLoading ? (
          <Spinner label="Loading goals…" />
        ) : items.length === 0 ? (
          <p className="p-6 text-sm text-fg-muted" data-testid="goals-empty">
            No goals yet.{canEdit ? " Set one here, or with “Set goal” on a dashboard card." : ""}
          </p>
        ) : (
          <div className="overflow-x-auto">
            {statusError != null && (
              <div className="p-4">
                <ErrorBox error={statusError} />
              </div>
            )}
            <table className="min-w-full text-sm" data-testid="goals-table">
              <thead className="bg-subtle text-left text-xs font-medium tracking-wide text-fg-muted uppercase">
                <tr>
                  <th scope="col" className="px-4 py-2">Metric</th>
                  <th scope="col" className="px-4 py-2">Target</th>
                  <th scope="col" className="px-4 py-2">Period</th>
                  <th scope="col" className="px-4 py-2">Warning band</th>
                  <th scope="col" className="px-4 py-2">Now</th>
                  <th scope="col" className="px-4 py-2">Status</th>
                  {canEdit && <th scope="col" className="px-4 py-2"><span className="sr-only">Actions</span></th>}
                </tr>
              </thead>
              <tbody className="divide-y divide-line-soft">
                {items.map((g) => {
                  const t = targetOf(g);
                  const m = now.get(g.metric);
                  const status = m?.goal?.status ?? null;
                  const pace = m?.goal?.pace_target;
                  return (
                    <tr key={g.metric} data-testid={`goal-row-${g.metric}`} data-target={g.goal.target}>
                      <th scope="row" className="px-4 py-2.5 text-left font-medium text-fg">
                        {g.label}
                        <div className="font-mono text-xs font-normal text-fg-muted">{g.metric}</div>
                      </th>
                      <td className="px-4 py-2.5 whitespace-nowrap tabular-nums" data-testid={`goal-row-${g.metric}-target`}>
                        {describeTarget({ ...g.goal, period: null }, t.unit)}
                      </td>
                      <td className="px-4 py-2.5 whitespace-nowrap">{periodLabel(g.goal.period)}</td>
                      <td className="px-4 py-2.5 whitespace-nowrap tabular-nums">{describeBand(g.goal, t.unit)}</td>
                      <td className="px-4 py-2.5 tabular-nums" data-testid={`goal-row-${g.metric}-value`} data-value={m ? (m.value ?? "null") : ""}>
                        {m ? (
                          <>
                            <span className="font-medium text-fg">{formatMetric(t.unit, m.value)}</span>
                            <span className="block text-xs text-fg-muted">
                              {statusPeriodLabel(g.goal.period)}
                              {pace !== null && pace !== undefined && pace !== g.goal.target ? ` · on pace: ${formatMetric(t.unit, pace)}` : ""}
                            </span>
                          </>
                        ) : (
                          <span className="text-fg-muted">…</span>
                        )}
                      </td>
                      <td className="px-4 py-2.5" data-testid={`goal-row-${g.metric}-status`} data-status={m ? (status ?? "none") : ""}>
                        {status ? (
                          <Badge tone={goalTone(status) === "slate" ? "slate" : goalTone(status)}>{GOAL_LABEL[status]}</Badge>
                        ) : m ? (
                          <Badge>{m.available ? "No figure" : "Not available"}</Badge>
                        ) : null}
                      </td>
                      {canEdit && (
                        <td className="px-4 py-2.5 text-right">
                          <button
                            type="button"
                            data-testid={`goal-row-${g.metric}-edit`}
                            onClick={() => setEditing(t)}
                            aria-label={`Edit the goal for ${g.label}`}
                            className={`${BUTTON} px-2.5 py-1 text-xs`}
                          >
                            Edit
                          </button>
                        </td>
                      )}
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
      </Card>

      {editing && (
        <GoalDialog
          target={editing}
          onClose={() => setEditing(null)}
          onSaved={() => setAdding("")}
        />
      )}
    </div>
  );
}
