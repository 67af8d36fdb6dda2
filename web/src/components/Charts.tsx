// The dashboard's charts, shared with present mode (pages/Present.tsx). Each reads the
// period and filters from the URL. A ChartTheme (React context) decides how they look:
// the dashboard's cards whose bars and slices open their records, or present mode's
// large dark panels, sized to the screen and read again every minute. Their colours are
// index.css's variables (axes and grid from the text and line roles, marks from the
// --chart-* palette), so they follow the light or dark theme without a re-render.
import { createContext, useContext, type ReactNode } from "react";
import { Link, useNavigate, useSearchParams } from "react-router";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import {
  Bar,
  BarChart,
  CartesianGrid,
  Cell,
  LabelList,
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
import { ApiError } from "../lib/api";
import {
  ageColor,
  analyticsQuery,
  drillPath,
  formatMetric,
  priorityColor,
  statusColor,
  type GroupView,
  type MetricView,
  type SeriesView,
  type Unit,
} from "../lib/analytics";
import { billableLabel } from "../lib/format";
import type { ChartId } from "../lib/present";
import { DASHBOARD_REFRESH_MS, ignoredNote } from "../lib/analytics";

/** A chart's subtitle and, where the filters do not apply to its records, a note. */
function withIgnored(subtitle: string | undefined, ignored: readonly string[] | undefined): string | undefined {
  const note = ignoredNote(ignored);
  return note ? (subtitle ? `${subtitle} · ${note}` : note) : subtitle;
}
import { Card, CardHeader, ErrorBox, Spinner } from "./ui";

export interface ChartTheme {
  /** Present mode: dark panels filling their grid cell, no tooltips, values on bars. */
  present: boolean;
  /** Axis ticks and legends (px). */
  font: number;
  /** Category axis labels (px). */
  labelFont: number;
  categoryWidth: number;
  /** Characters of a category label before it is cut. */
  labelChars: number;
  stroke: number;
  margin: number;
  barSize: number;
  grid: string;
  tick: string;
  label: string;
  /** Bars and slices open the records behind them. */
  interactive: boolean;
  /** Read the figures again every so many ms (false: only when they go stale). */
  refetchInterval: number | false;
}


export const DASHBOARD_THEME: ChartTheme = {
  present: false,
  font: 11,
  labelFont: 12,
  categoryWidth: 150,
  labelChars: 24,
  stroke: 2,
  margin: 0,
  barSize: 22,
  grid: "var(--color-line)",
  tick: "var(--color-fg-muted)",
  label: "var(--color-fg-soft)",
  interactive: true,
  // An open dashboard keeps itself current (syncs land every few minutes); a hidden
  // tab waits until it is shown again.
  refetchInterval: DASHBOARD_REFRESH_MS,
};

const ThemeContext = createContext<ChartTheme>(DASHBOARD_THEME);
export const ChartThemeProvider = ThemeContext.Provider;
export function useChartTheme(): ChartTheme {
  return useContext(ThemeContext);
}

/** The dashboard's tooltips: the surface and text of the theme, not recharts' white box. */
export const TOOLTIP = {
  contentStyle: {
    backgroundColor: "var(--color-surface)",
    border: "1px solid var(--color-line)",
    borderRadius: 8,
    boxShadow: "0 4px 6px -1px rgb(0 0 0 / 0.1)",
    fontSize: 12,
  },
  labelStyle: { color: "var(--color-fg)", fontWeight: 600 },
  itemStyle: { color: "var(--color-fg-soft)" },
  cursor: { fill: "var(--color-subtle)" },
} as const;

/** Legend entries in the theme's text colour (recharts colours them as their series,
 *  which is too faint to read on either background); the icon keeps the colour. */
function legendText(value: unknown) {
  return <span style={{ color: "var(--color-fg-soft)" }}>{String(value)}</span>;
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

/** A metric for the URL's period and filters, with `extra` parameters (group_by …). */
export function useMetric(metric: string, extra: Record<string, string>) {
  const [params] = useSearchParams();
  const t = useChartTheme();
  const qs = analyticsQuery(params, extra);
  return useQuery({
    queryKey: ["metric", metric, qs],
    queryFn: () => api.request<MetricView>(`/api/analytics/metrics/${metric}?${qs}`),
    placeholderData: keepPreviousData,
    refetchInterval: t.refetchInterval,
    refetchIntervalInBackground: t.present,
  });
}

export function useSeries(metric: string) {
  const [params] = useSearchParams();
  const t = useChartTheme();
  const qs = analyticsQuery(params, { compare: "none" });
  return useQuery({
    queryKey: ["series", metric, qs],
    queryFn: () => api.request<SeriesView>(`/api/analytics/metrics/${metric}/series?${qs}`),
    placeholderData: keepPreviousData,
    refetchInterval: t.refetchInterval,
    refetchIntervalInBackground: t.present,
  });
}

/** A chart's frame: a card with a header on the dashboard, a dark panel in present mode.
 *  In present mode the chart fills what the panel has left (`fill`). */
function ChartPanel({
  title,
  subtitle,
  testId,
  label,
  className = "",
  children,
}: {
  title: string;
  subtitle?: string;
  testId: string;
  label?: string;
  className?: string;
  children: ReactNode;
}) {
  const t = useChartTheme();
  if (!t.present) {
    return (
      <Card className={`flex flex-col ${className}`}>
        <CardHeader title={title} subtitle={subtitle} />
        <figure className="flex-1 p-3" data-testid={testId} aria-label={label ?? title}>
          {children}
        </figure>
      </Card>
    );
  }
  return (
    <section
      className={`flex min-h-0 min-w-0 flex-col rounded-[1.2vh] border border-slate-800 bg-slate-900 px-[1.8vh] pt-[1.4vh] pb-[1vh] ${className}`}
      aria-label={title}
    >
      <h2 className="truncate text-[length:2.8vh] leading-tight font-semibold text-slate-100">{title}</h2>
      {subtitle && <p className="truncate text-[length:2.2vh] leading-tight text-slate-400">{subtitle}</p>}
      <figure className="relative mt-[1vh] min-h-0 flex-1" data-testid={testId} aria-label={label ?? title}>
        {children}
      </figure>
    </section>
  );
}

/** In present mode the chart takes the whole figure; on the dashboard it flows. */
function Fill({ children }: { children: ReactNode }) {
  const t = useChartTheme();
  return t.present ? <div className="absolute inset-0">{children}</div> : <>{children}</>;
}

function ChartMessage({ children }: { children: ReactNode }) {
  const t = useChartTheme();
  return <p className={t.present ? "p-[2vh] text-[length:2.4vh] text-slate-400" : "p-6 text-sm text-fg-muted"}>{children}</p>;
}

function ChartLoading() {
  const t = useChartTheme();
  return t.present ? <ChartMessage>Loading…</ChartMessage> : <Spinner />;
}

function ChartError({ error }: { error: unknown }) {
  const t = useChartTheme();
  if (!t.present) return <ErrorBox error={error} />;
  const message = error instanceof ApiError || error instanceof Error ? error.message : "Something went wrong.";
  return (
    <p role="alert" data-testid="error" className="p-[2vh] text-[length:2.4vh] text-red-300">
      {message}
    </p>
  );
}

function cut(v: string, n: number): string {
  return v.length > n ? `${v.slice(0, n - 1)}…` : v;
}

/** "2026-11-03" as "Nov 3" (present mode's date axis). */
function shortDate(v: string): string {
  const d = new Date(`${v.slice(0, 10)}T12:00:00`);
  return Number.isNaN(d.getTime()) ? v : d.toLocaleDateString(undefined, { month: "short", day: "numeric" });
}

/** A breakdown as horizontal bars; on the dashboard each bar opens its records. */
export function Breakdown({
  title,
  subtitle,
  metric,
  by,
  colour,
  testId,
  limit = 10,
  className,
}: {
  title: string;
  subtitle?: string;
  metric: string;
  by: string;
  /** A bar's colour, by its group's key and label. */
  colour?: (key: string | null, label: string) => string;
  testId: string;
  limit?: number;
  className?: string;
}) {
  const navigate = useNavigate();
  const t = useChartTheme();
  const q = useMetric(metric, { group_by: by, compare: "none", limit: String(limit) });
  const groups: GroupView[] = q.data?.groups ?? [];
  const unit = q.data?.unit ?? "count";
  // In present mode the label column and the room for the values on the bars fit what
  // they hold (~0.6 em a character), so the bars get the rest.
  const longest = (f: (g: GroupView) => string) => Math.max(1, ...groups.map((g) => f(g).length));
  const categoryWidth = t.present
    ? Math.min(t.categoryWidth, Math.ceil(longest((g) => cut(g.label, t.labelChars)) * t.labelFont * 0.6) + 2 * t.font)
    : t.categoryWidth;
  const right = t.present ? Math.ceil(longest((g) => formatMetric(unit, g.value)) * t.font * 0.6) + 2 * t.font : 24;
  return (
    <ChartPanel title={title} subtitle={withIgnored(subtitle, q.data?.ignored_filters)} testId={testId} className={className}>
      {q.isError && (!t.present || !q.data) ? (
        <ChartError error={q.error} />
      ) : q.isLoading ? (
        <ChartLoading />
      ) : !q.data?.available ? (
        <ChartMessage>Not available: no connected service records this.</ChartMessage>
      ) : groups.length === 0 ? (
        <ChartMessage>Nothing in this period.</ChartMessage>
      ) : (
        <>
          <Fill>
            <ResponsiveContainer width="100%" height={t.present ? "100%" : Math.max(160, groups.length * 30 + 20)}>
              <BarChart data={groups} layout="vertical" margin={{ top: 0, right, bottom: 0, left: 4 }}>
                <CartesianGrid strokeDasharray="3 3" horizontal={false} stroke={t.grid} />
                <XAxis
                  type="number"
                  tick={{ fontSize: t.font, fill: t.tick }}
                  tickFormatter={(v: number) => formatMetric(unit, v)}
                  hide={t.present}
                />
                <YAxis
                  type="category"
                  dataKey="label"
                  width={categoryWidth}
                  tick={{ fontSize: t.labelFont, fill: t.label }}
                  tickMargin={t.present ? Math.round(t.font / 3) : undefined}
                  interval={0}
                  tickFormatter={(v: string) => cut(v, t.labelChars)}
                />
                {!t.present && <Tooltip {...TOOLTIP} formatter={(v) => [formatMetric(unit, Number(v)), q.data?.label]} />}
                <Bar
                  dataKey="value"
                  radius={[0, 4, 4, 0]}
                  maxBarSize={t.barSize}
                  isAnimationActive={false}
                  cursor={t.interactive ? "pointer" : undefined}
                  onClick={
                    t.interactive
                      ? (d: { payload?: GroupView }) => {
                          const to = drillPath(d.payload?.drill);
                          if (to) navigate(to);
                        }
                      : undefined
                  }
                >
                  {groups.map((g, i) => (
                    <Cell key={i} fill={colour ? colour(g.key, g.label) : "var(--chart-indigo)"} />
                  ))}
                  {t.present && (
                    <LabelList
                      dataKey="value"
                      position="right"
                      fill="#e2e8f0"
                      fontSize={t.font}
                      offset={Math.round(t.font / 3)}
                      formatter={(v) => formatMetric(unit, typeof v === "number" ? v : Number(v))}
                    />
                  )}
                </Bar>
              </BarChart>
            </ResponsiveContainer>
          </Fill>
          <ChartTable caption={title} rows={groups} unit={unit} />
          {t.interactive && (
            <ul className="sr-only">
              {groups.map((g, i) =>
                g.drill ? (
                  <li key={i}>
                    <Link to={drillPath(g.drill)!}>{g.label}</Link>
                  </li>
                ) : null,
              )}
            </ul>
          )}
        </>
      )}
    </ChartPanel>
  );
}

export function OpenedVsClosed({ className }: { className?: string }) {
  const t = useChartTheme();
  const opened = useSeries("tickets_opened");
  const closed = useSeries("tickets_closed");
  // A wall screen keeps showing the last figures when a refresh fails.
  const err = t.present && opened.data && closed.data ? null : (opened.error ?? closed.error);
  const rows = (opened.data?.current.points ?? []).map((p, i) => ({
    start: p.start,
    opened: p.value,
    closed: closed.data?.current.points[i]?.value ?? null,
  }));
  return (
    <ChartPanel
      title="Opened vs closed"
      subtitle={opened.data ? `Tickets per ${opened.data.interval}` : undefined}
      testId="opened-closed-chart"
      label="Tickets opened and closed over time"
      className={className}
    >
      {err ? (
        <ChartError error={err} />
      ) : opened.isLoading || closed.isLoading ? (
        <ChartLoading />
      ) : rows.length === 0 || rows.every((r) => r.opened === null && r.closed === null) ? (
        <ChartMessage>Not available: no connected service records tickets.</ChartMessage>
      ) : (
        <>
          <Fill>
            <ResponsiveContainer width="100%" height={t.present ? "100%" : 260}>
              <LineChart data={rows} margin={{ top: 8 + t.margin, right: 16 + t.margin, bottom: 0, left: t.margin }}>
                <CartesianGrid strokeDasharray="3 3" stroke={t.grid} />
                <XAxis
                  dataKey="start"
                  tick={{ fontSize: t.font, fill: t.tick }}
                  minTickGap={t.present ? t.font * 3 : 24}
                  tickFormatter={t.present ? shortDate : undefined}
                  height={t.present ? t.font * 2 : undefined}
                />
                <YAxis allowDecimals={false} tick={{ fontSize: t.font, fill: t.tick }} width={t.present ? t.font * 3 : 44} />
                {!t.present && <Tooltip {...TOOLTIP} cursor={{ stroke: "var(--color-line-strong)" }} />}
                <Legend
                  wrapperStyle={t.present ? { fontSize: t.font, color: t.label } : undefined}
                  iconSize={t.present ? t.font : undefined}
                  formatter={t.present ? undefined : legendText}
                />
                <Line type="monotone" dataKey="opened" name="Opened" stroke="var(--chart-sky)" strokeWidth={t.stroke} dot={false} activeDot={{ stroke: "var(--color-surface)" }} isAnimationActive={false} />
                <Line type="monotone" dataKey="closed" name="Closed" stroke="var(--chart-emerald)" strokeWidth={t.stroke} dot={false} activeDot={{ stroke: "var(--color-surface)" }} isAnimationActive={false} />
              </LineChart>
            </ResponsiveContainer>
          </Fill>
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
    </ChartPanel>
  );
}

/** Each billable option keeps its colour whichever slices a period has. */
const BILLABLE_COLOURS: Record<string, string> = {
  Billable: "var(--chart-indigo)",
  DoNotBill: "var(--chart-grey)",
  NoCharge: "var(--chart-amber)",
  NoDefault: "var(--chart-sky)",
};
const billableColour = (key: string | null) => (key && BILLABLE_COLOURS[key]) || "var(--chart-pink)";

export function BillableSplit({ className }: { className?: string }) {
  const navigate = useNavigate();
  const t = useChartTheme();
  const q = useMetric("hours_worked", { group_by: "billable", compare: "none" });
  const groups = (q.data?.groups ?? [])
    .filter((g) => (g.value ?? 0) > 0)
    .map((g) => ({ ...g, label: billableLabel(g.key ?? g.label) }));
  return (
    <ChartPanel title="Billable split" subtitle={withIgnored("Hours by billable option", q.data?.ignored_filters)} testId="billable-chart" className={className}>
      {q.isError && (!t.present || !q.data) ? (
        <ChartError error={q.error} />
      ) : q.isLoading ? (
        <ChartLoading />
      ) : !q.data?.available ? (
        <ChartMessage>Not available: no connected service records time.</ChartMessage>
      ) : groups.length === 0 ? (
        <ChartMessage>No hours in this period.</ChartMessage>
      ) : (
        <>
          <Fill>
            <ResponsiveContainer width="100%" height={t.present ? "100%" : 220}>
              <PieChart>
                <Pie
                  data={groups}
                  dataKey="value"
                  nameKey="label"
                  innerRadius={t.present ? "45%" : 50}
                  outerRadius={t.present ? "90%" : 85}
                  isAnimationActive={false}
                  stroke="var(--color-surface)"
                  cursor={t.interactive ? "pointer" : undefined}
                  onClick={
                    t.interactive
                      ? (d: { payload?: GroupView }) => {
                          const to = drillPath(d.payload?.drill);
                          if (to) navigate(to);
                        }
                      : undefined
                  }
                >
                  {groups.map((g, i) => (
                    <Cell key={i} fill={billableColour(g.key)} />
                  ))}
                </Pie>
                {!t.present && <Tooltip {...TOOLTIP} formatter={(v) => formatMetric("hours", Number(v))} />}
                {t.present ? (
                  <Legend
                    layout="vertical"
                    align="right"
                    verticalAlign="middle"
                    iconSize={t.font}
                    wrapperStyle={{ fontSize: t.font, color: t.label, lineHeight: 1.5 }}
                    formatter={(name, entry) => {
                      const v = (entry?.payload as { value?: number } | undefined)?.value;
                      return `${name} · ${formatMetric("hours", v ?? null)}`;
                    }}
                  />
                ) : (
                  <Legend formatter={legendText} />
                )}
              </PieChart>
            </ResponsiveContainer>
          </Fill>
          <ChartTable caption="Hours by billable option" rows={groups} unit="hours" />
        </>
      )}
    </ChartPanel>
  );
}

/** Every chart by id, as the dashboard and present mode show it. */
export function Chart({ id, className }: { id: ChartId; className?: string }) {
  const t = useChartTheme();
  // Fewer bars on a wall screen, so each label stays large.
  const top = t.present ? 8 : 10;
  switch (id) {
    case "opened_closed":
      return <OpenedVsClosed className={className} />;
    case "ageing":
      return (
        <Breakdown title="Backlog ageing" subtitle="Open tickets by age at the period's end" metric="open_backlog" by="age"
          testId="ageing-chart" colour={(_, label) => ageColor(label)} className={className} />
      );
    case "status":
      return <Breakdown title="Backlog by status" metric="open_backlog" by="status" testId="status-chart" colour={statusColor} className={className} />;
    case "priority":
      return <Breakdown title="Backlog by priority" metric="open_backlog" by="priority" testId="priority-chart" colour={priorityColor} className={className} />;
    case "billable":
      return <BillableSplit className={className} />;
    case "hours_company":
      return <Breakdown title="Hours by client" subtitle={`Top ${top}`} metric="hours_worked" by="company" testId="hours-company-chart" limit={top} className={className} />;
    case "hours_member":
      return (
        <Breakdown title="Hours by technician" subtitle={`Top ${top}`} metric="hours_worked" by="member" testId="hours-member-chart" limit={top}
          colour={() => "var(--chart-sky)"} className={className} />
      );
    case "utilisation":
      return (
        <Breakdown title="Utilisation by technician" subtitle="Billable hours over capacity" metric="utilisation_pct" by="member"
          testId="utilisation-chart" limit={top} colour={() => "var(--chart-violet)"} className={className} />
      );
    case "sla_board":
      return (
        <Breakdown title="SLA met by board" subtitle="Resolution SLA, tickets closed in the period" metric="sla_met_pct" by="board"
          testId="sla-chart" limit={top} colour={() => "var(--chart-emerald)"} className={className} />
      );
    case "type":
      return <Breakdown title="Tickets opened by type" metric="tickets_opened" by="type" testId="type-chart" limit={top} colour={() => "var(--chart-sky)"} className={className} />;
  }
}
