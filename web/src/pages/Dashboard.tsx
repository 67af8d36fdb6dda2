// The dashboard: KPI cards and charts for one period and one set of filters, all read
// from the URL (see components/Filters.tsx), each card, bar and slice a link to the list
// of the records behind it.
import { periodRange } from "../lib/reports";
import { Suspense, useEffect, useState } from "react";
import { Link, useSearchParams } from "react-router";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { api } from "../lib/client";
import { analyticsQuery, DASHBOARD_REFRESH_MS, type MetricView } from "../lib/analytics";
import { spanOfPeriod } from "../lib/goals";
import { presentSearch, type ChartId } from "../lib/present";
import { BUTTON, ErrorBox, Spinner } from "../components/ui";
import { FilterBar, PeriodPicker } from "../components/Filters";
import { KpiCard } from "../components/KpiCard";

// The charts library is the biggest part of the app, and drawing ten charts takes the
// browser a while: its code loads while the cards ask for their figures, and the charts
// are drawn (and ask for theirs) once the cards show their numbers.
const Chart = lazyWithPreload(() => import("../components/Charts").then((m) => m.Chart));
import { GoalDialog, useCanEditGoals } from "../components/GoalDialog";
import { SavedViews } from "../components/SavedViews";
import { DASHBOARD_PAGE } from "../lib/views";
import { usePageTitle } from "../lib/title";
import { lazyWithPreload } from "../lib/lazy";

/** The cards, in order. */
export const CARDS = [
  "tickets_opened",
  "tickets_closed",
  "net_ticket_change",
  "open_backlog",
  "first_response_hours_avg",
  "resolution_hours_avg",
  "sla_met_pct",
  "hours_worked",
  "billable_pct",
  "billed_amount",
  "utilisation_pct",
  "effective_hourly_rate",
];

/** The charts, in order (components/Charts.tsx draws them). */
const CHARTS: ChartId[] = ["opened_closed", "ageing", "status", "priority", "billable", "hours_company", "hours_member", "utilisation", "sla_board", "type"];

export function DashboardPage() {
  usePageTitle("Dashboard");
  const [params] = useSearchParams();
  const qs = analyticsQuery(params, { metrics: CARDS.join(",") });
  const kpis = useQuery({
    queryKey: ["kpis", qs],
    queryFn: () => api.request<{ items: MetricView[] }>(`/api/analytics/kpis?${qs}`),
    placeholderData: keepPreviousData,
    refetchInterval: DASHBOARD_REFRESH_MS,
  });
  const period = kpis.data?.items[0]?.period;
  useEffect(() => {
    void Chart.preload().catch(() => {});
  }, []);
  const chartsNow = !kpis.isPending;
  const canEditGoals = useCanEditGoals();
  const [editing, setEditing] = useState<MetricView | null>(null);
  return (
    <div className="space-y-5">
      <div className="flex flex-col gap-3 xl:flex-row xl:items-end xl:justify-between">
        <div>
          <h1 className="text-xl font-semibold text-fg">Dashboard</h1>
          <p className="text-sm text-fg-muted" data-testid="period-label">
            {period ? `${periodRange(period.from, period.to, period.tz)} (${period.tz}), compared with the period before` : "…"}
          </p>
        </div>
        <div className="flex flex-wrap items-center gap-2">
          <PeriodPicker />
          <SavedViews page={DASHBOARD_PAGE} label="the dashboard" />
          <Link
            to={`/present?${presentSearch(params)}`}
            data-testid="present-link"
            title="Full-screen wall display of these figures, rotating between slides"
            className={`${BUTTON} inline-flex items-center gap-1.5 px-3 py-1.5`}
          >
            <svg viewBox="0 0 24 24" className="h-4 w-4" fill="currentColor" aria-hidden="true">
              <path d="M21 3H3c-1.1 0-2 .9-2 2v12c0 1.1.9 2 2 2h5v2h8v-2h5c1.1 0 1.99-.9 1.99-2L23 5c0-1.1-.9-2-2-2zm0 14H3V5h18v12z" />
            </svg>
            Present
          </Link>
        </div>
      </div>
      <FilterBar />

      {kpis.isError ? (
        <ErrorBox error={kpis.error} />
      ) : kpis.isLoading ? (
        <Spinner label="Loading metrics…" />
      ) : (
        <section
          className={`grid grid-cols-2 gap-3 md:grid-cols-3 xl:grid-cols-6 ${kpis.isFetching ? "opacity-70" : ""}`}
          aria-label="Key metrics"
          data-testid="kpis"
        >
          {kpis.data!.items.map((m) => (
            <KpiCard key={m.metric} m={m} onEditGoal={canEditGoals ? setEditing : undefined} />
          ))}
        </section>
      )}

      <div className="grid grid-cols-1 gap-5 lg:grid-cols-3">
        {chartsNow ? (
          <Suspense fallback={<Spinner label="Loading charts…" />}>
            {CHARTS.map((id) => (
              <Chart key={id} id={id} className={id === "opened_closed" ? "lg:col-span-2" : undefined} />
            ))}
          </Suspense>
        ) : (
          <Spinner label="Loading charts…" />
        )}
      </div>

      {editing && (
        <GoalDialog
          target={editing}
          viewing={spanOfPeriod(params.get("period"))}
          onClose={() => setEditing(null)}
        />
      )}
    </div>
  );
}
