// The dashboard: KPI cards and charts for one period and one set of filters, all read
// from the URL (see components/Filters.tsx), each card, bar and slice a link to the list
// of the records behind it.
import { Link, useNavigate, useSearchParams } from "react-router";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import {
  Bar,
  BarChart,
  CartesianGrid,
  Cell,
  Legend,
  Line,
  LineChart,
  Pie,
  PieChart,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from "recharts";
import { api } from "../lib/client";
import {
  analyticsQuery,
  drillPath,
  formatChange,
  formatMetric,
  GOAL_LABEL,
  goalTone,
  priorityColor,
  statusColor,
  type GroupView,
  type MetricView,
  type SeriesView,
  type Unit,
} from "../lib/analytics";
import { Card, CardHeader, ErrorBox, Spinner } from "../components/ui";
import { billableLabel } from "../lib/format";
import { FilterBar, PeriodPicker } from "../components/Filters";

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

const TONE_BORDER = {
  green: "border-l-emerald-500",
  amber: "border-l-amber-500",
  red: "border-l-red-500",
  slate: "border-l-transparent",
} as const;
const TONE_TEXT = {
  green: "text-emerald-700 bg-emerald-50 dark:bg-emerald-950 dark:text-emerald-300",
  amber: "text-amber-700 bg-amber-50 dark:bg-amber-950 dark:text-amber-300",
  red: "text-red-700 bg-red-50 dark:bg-red-950 dark:text-red-300",
  slate: "text-slate-600 bg-slate-100",
} as const;

export function KpiCard({ m }: { m: MetricView }) {
  const tone = goalTone(m.goal?.status);
  const change = formatChange(m.unit, m.previous);
  const a = m.previous?.assessment;
  const arrow = m.previous?.trend === "up" ? "▲" : m.previous?.trend === "down" ? "▼" : "";
  const changeColour = a === "better" ? "text-emerald-600" : a === "worse" ? "text-red-600" : "text-slate-500";
  const to = drillPath(m.drill);
  const body = (
    <>
      <div className="text-xs font-medium uppercase tracking-wide text-slate-500 dark:text-slate-400">{m.label}</div>
      <div
        className="mt-1.5 text-2xl font-semibold tabular-nums text-slate-900 dark:text-white"
        data-testid={`kpi-${m.metric}`}
        data-value={m.value ?? "null"}
        title={m.available ? undefined : "Not available: no connected service records this"}
      >
        {formatMetric(m.unit, m.value)}
      </div>
      <div className="mt-1 flex flex-wrap items-center gap-x-2 gap-y-1 text-xs">
        {change && (
          <span className={`font-medium ${changeColour}`} data-testid={`kpi-${m.metric}-change`}>
            {arrow} {change}
          </span>
        )}
        {m.previous && <span className="text-slate-400">vs {formatMetric(m.unit, m.previous.value)}</span>}
        {m.goal?.status && (
          <span className={`rounded-full px-1.5 py-0.5 font-medium ${TONE_TEXT[tone]}`} data-testid={`kpi-${m.metric}-goal`} data-status={m.goal.status}>
            {GOAL_LABEL[m.goal.status]} · {formatMetric(m.unit, m.goal.pace_target ?? m.goal.target)}
          </span>
        )}
      </div>
    </>
  );
  const cls = `block h-full rounded-xl border border-l-4 border-slate-200 bg-white px-4 py-3 shadow-sm dark:border-slate-700 dark:bg-slate-900 ${TONE_BORDER[tone]}`;
  return to ? (
    <Link to={to} className={`${cls} hover:border-indigo-300 hover:shadow`} aria-label={`${m.label}: ${formatMetric(m.unit, m.value)}. Show the records`}>
      {body}
    </Link>
  ) : (
    <div className={cls}>{body}</div>
  );
}

/** A chart's text alternative: its figures as a table for screen readers. */
function ChartTable({ caption, rows, unit }: { caption: string; rows: { label: string; value: number | null }[]; unit: Unit }) {
  return (
    <table className="sr-only">
      <caption>{caption}</caption>
      <tbody>
        {rows.map((r, i) => (
          <tr key={i}>
            <th scope="row">{r.label}</th>
            <td>{formatMetric(unit, r.value)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function useMetric(metric: string, extra: Record<string, string>) {
  const [params] = useSearchParams();
  const qs = analyticsQuery(params, extra);
  return useQuery({
    queryKey: ["metric", metric, qs],
    queryFn: () => api.request<MetricView>(`/api/analytics/metrics/${metric}?${qs}`),
    placeholderData: keepPreviousData,
  });
}

/** A breakdown as horizontal bars; each bar opens its records. */
function Breakdown({
  title,
  subtitle,
  metric,
  by,
  colour,
  testId,
  limit = 10,
}: {
  title: string;
  subtitle?: string;
  metric: string;
  by: string;
  colour?: (key: string | null) => string;
  testId: string;
  limit?: number;
}) {
  const navigate = useNavigate();
  const q = useMetric(metric, { group_by: by, compare: "none", limit: String(limit) });
  const groups: GroupView[] = q.data?.groups ?? [];
  const unit = q.data?.unit ?? "count";
  return (
    <Card className="flex flex-col">
      <CardHeader title={title} subtitle={subtitle} />
      <figure className="flex-1 p-3" data-testid={testId} aria-label={title}>
        {q.isError ? (
          <ErrorBox error={q.error} />
        ) : q.isLoading ? (
          <Spinner />
        ) : !q.data?.available ? (
          <p className="p-6 text-sm text-slate-500">Not available: no connected service records this.</p>
        ) : groups.length === 0 ? (
          <p className="p-6 text-sm text-slate-500">Nothing in this period.</p>
        ) : (
          <>
            <ResponsiveContainer width="100%" height={Math.max(160, groups.length * 30 + 20)}>
              <BarChart data={groups} layout="vertical" margin={{ top: 0, right: 24, bottom: 0, left: 4 }}>
                <CartesianGrid strokeDasharray="3 3" horizontal={false} stroke="#e2e8f0" />
                <XAxis type="number" tick={{ fontSize: 11, fill: "#64748b" }} tickFormatter={(v: number) => formatMetric(unit, v)} />
                <YAxis type="category" dataKey="label" width={150} tick={{ fontSize: 12, fill: "#334155" }} interval={0}
                  tickFormatter={(v: string) => (v.length > 24 ? `${v.slice(0, 23)}…` : v)} />
                <Tooltip formatter={(v) => [formatMetric(unit, Number(v)), q.data?.label]} cursor={{ fill: "#f1f5f9" }} />
                <Bar
                  dataKey="value"
                  radius={[0, 4, 4, 0]}
                  maxBarSize={22}
                  isAnimationActive={false}
                  cursor="pointer"
                  onClick={(d: { payload?: GroupView }) => {
                    const to = drillPath(d.payload?.drill);
                    if (to) navigate(to);
                  }}
                >
                  {groups.map((g, i) => (
                    <Cell key={i} fill={colour ? colour(g.key) : "#6366f1"} />
                  ))}
                </Bar>
              </BarChart>
            </ResponsiveContainer>
            <ChartTable caption={title} rows={groups} unit={unit} />
            <ul className="sr-only">
              {groups.map((g, i) =>
                g.drill ? (
                  <li key={i}>
                    <Link to={drillPath(g.drill)!}>{g.label}</Link>
                  </li>
                ) : null,
              )}
            </ul>
          </>
        )}
      </figure>
    </Card>
  );
}

/** Ageing buckets from fresh (green) to old (dark red); keyed by the API's labels. */
function ageColour(key: string | null): string {
  const from = parseInt(key ?? "", 10);
  if (!Number.isFinite(from)) return "#64748b";
  if (key?.includes("+")) return "#991b1b";
  return from <= 1 ? "#10b981" : from <= 3 ? "#84cc16" : from <= 7 ? "#f59e0b" : from <= 14 ? "#f97316" : from <= 30 ? "#ef4444" : "#991b1b";
}

function useSeries(metric: string) {
  const [params] = useSearchParams();
  const qs = analyticsQuery(params, { compare: "none" });
  return useQuery({
    queryKey: ["series", metric, qs],
    queryFn: () => api.request<SeriesView>(`/api/analytics/metrics/${metric}/series?${qs}`),
    placeholderData: keepPreviousData,
  });
}

function OpenedVsClosed() {
  const opened = useSeries("tickets_opened");
  const closed = useSeries("tickets_closed");
  const err = opened.error ?? closed.error;
  const rows = (opened.data?.current.points ?? []).map((p, i) => ({
    start: p.start,
    opened: p.value,
    closed: closed.data?.current.points[i]?.value ?? null,
  }));
  return (
    <Card className="flex flex-col lg:col-span-2">
      <CardHeader title="Opened vs closed" subtitle={opened.data ? `Tickets per ${opened.data.interval}` : undefined} />
      <figure className="flex-1 p-3" data-testid="opened-closed-chart" aria-label="Tickets opened and closed over time">
        {err ? (
          <ErrorBox error={err} />
        ) : opened.isLoading || closed.isLoading ? (
          <Spinner />
        ) : (
          <>
            <ResponsiveContainer width="100%" height={260}>
              <LineChart data={rows} margin={{ top: 8, right: 16, bottom: 0, left: 0 }}>
                <CartesianGrid strokeDasharray="3 3" stroke="#e2e8f0" />
                <XAxis dataKey="start" tick={{ fontSize: 11, fill: "#64748b" }} minTickGap={24} />
                <YAxis allowDecimals={false} tick={{ fontSize: 11, fill: "#64748b" }} width={44} />
                <Tooltip />
                <Legend />
                <Line type="monotone" dataKey="opened" name="Opened" stroke="#0ea5e9" strokeWidth={2} dot={false} isAnimationActive={false} />
                <Line type="monotone" dataKey="closed" name="Closed" stroke="#10b981" strokeWidth={2} dot={false} isAnimationActive={false} />
              </LineChart>
            </ResponsiveContainer>
            <table className="sr-only">
              <caption>Tickets opened and closed per {opened.data?.interval}</caption>
              <thead>
                <tr>
                  <th>Starting</th>
                  <th>Opened</th>
                  <th>Closed</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((r) => (
                  <tr key={r.start}>
                    <td>{r.start}</td>
                    <td>{r.opened}</td>
                    <td>{r.closed}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        )}
      </figure>
    </Card>
  );
}

const BILLABLE_COLOURS = ["#6366f1", "#94a3b8", "#f59e0b", "#0ea5e9", "#ec4899"];

function BillableSplit() {
  const navigate = useNavigate();
  const q = useMetric("hours_worked", { group_by: "billable", compare: "none" });
  const groups = (q.data?.groups ?? [])
    .filter((g) => (g.value ?? 0) > 0)
    .map((g) => ({ ...g, label: billableLabel(g.key ?? g.label) }));
  return (
    <Card className="flex flex-col">
      <CardHeader title="Billable split" subtitle="Hours by billable option" />
      <figure className="flex-1 p-3" data-testid="billable-chart" aria-label="Hours by billable option">
        {q.isError ? (
          <ErrorBox error={q.error} />
        ) : q.isLoading ? (
          <Spinner />
        ) : groups.length === 0 ? (
          <p className="p-6 text-sm text-slate-500">No hours in this period.</p>
        ) : (
          <>
            <ResponsiveContainer width="100%" height={220}>
              <PieChart>
                <Pie
                  data={groups}
                  dataKey="value"
                  nameKey="label"
                  innerRadius={50}
                  outerRadius={85}
                  isAnimationActive={false}
                  cursor="pointer"
                  onClick={(d: { payload?: GroupView }) => {
                    const to = drillPath(d.payload?.drill);
                    if (to) navigate(to);
                  }}
                >
                  {groups.map((_, i) => (
                    <Cell key={i} fill={BILLABLE_COLOURS[i % BILLABLE_COLOURS.length]} />
                  ))}
                </Pie>
                <Tooltip formatter={(v) => formatMetric("hours", Number(v))} />
                <Legend />
              </PieChart>
            </ResponsiveContainer>
            <ChartTable caption="Hours by billable option" rows={groups} unit="hours" />
          </>
        )}
      </figure>
    </Card>
  );
}

export function DashboardPage() {
  const [params] = useSearchParams();
  const qs = analyticsQuery(params, { metrics: CARDS.join(",") });
  const kpis = useQuery({
    queryKey: ["kpis", qs],
    queryFn: () => api.request<{ items: MetricView[] }>(`/api/analytics/kpis?${qs}`),
    placeholderData: keepPreviousData,
  });
  const period = kpis.data?.items[0]?.period;
  return (
    <div className="space-y-5">
      <div className="flex flex-col gap-3 xl:flex-row xl:items-end xl:justify-between">
        <div>
          <h1 className="text-xl font-semibold text-slate-900 dark:text-white">Dashboard</h1>
          <p className="text-sm text-slate-500" data-testid="period-label">
            {period ? `${new Date(period.from).toLocaleDateString()} – ${new Date(period.to).toLocaleString()} (${period.tz}), compared with the period before` : "…"}
          </p>
        </div>
        <PeriodPicker />
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
            <KpiCard key={m.metric} m={m} />
          ))}
        </section>
      )}

      <div className="grid grid-cols-1 gap-5 lg:grid-cols-3">
        <OpenedVsClosed />
        <Breakdown title="Backlog ageing" subtitle="Open tickets by age at the period's end" metric="open_backlog" by="age" testId="ageing-chart"
          colour={ageColour} />
        <Breakdown title="Backlog by status" metric="open_backlog" by="status" testId="status-chart" colour={statusColor} />
        <Breakdown title="Backlog by priority" metric="open_backlog" by="priority" testId="priority-chart" colour={priorityColor} />
        <BillableSplit />
        <Breakdown title="Hours by client" subtitle="Top 10" metric="hours_worked" by="company" testId="hours-company-chart" />
        <Breakdown title="Hours by technician" subtitle="Top 10" metric="hours_worked" by="member" testId="hours-member-chart" colour={() => "#0ea5e9"} />
        <Breakdown title="Utilisation by technician" subtitle="Billable hours over capacity" metric="utilisation_pct" by="member" testId="utilisation-chart" colour={() => "#8b5cf6"} />
        <Breakdown title="SLA met by board" subtitle="Resolution SLA, tickets closed in the period" metric="sla_met_pct" by="board" testId="sla-chart" colour={() => "#10b981"} />
        <Breakdown title="Tickets opened by type" metric="tickets_opened" by="type" testId="type-chart" colour={() => "#0ea5e9"} />
      </div>
    </div>
  );
}
