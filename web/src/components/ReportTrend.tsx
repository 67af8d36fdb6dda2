// A company's or technician's trend over its report's period (the report route's
// `series`): counts (tickets opened, closed) as lines on the left axis, hours as bars on
// the right, one point per day, week or month; the same figures as a table for screen
// readers.
import {
  Bar,
  CartesianGrid,
  ComposedChart,
  Legend,
  Line,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from "recharts";
import { formatMetric, type SeriesView } from "../lib/analytics";
import { TOOLTIP } from "./Charts";

const COLOURS: Record<string, string> = {
  tickets_opened: "var(--chart-sky)",
  tickets_closed: "var(--chart-emerald)",
  hours_worked: "var(--chart-indigo)",
};


export default function ReportTrend({ series }: { series: SeriesView[] }) {
  const points = series[0]?.current.points ?? [];
  const rows = points.map((p, i) => {
    const row: Record<string, string | number | null> = { start: p.start };
    for (const s of series) row[s.metric] = s.current.points[i]?.value ?? null;
    return row;
  });
  const empty = series.every((s) => s.current.points.every((p) => p.value === null));
  if (rows.length === 0 || empty) {
    return <p className="p-6 text-sm text-fg-muted">Not available: no connected service records this.</p>;
  }
  const hasHours = series.some((s) => s.unit === "hours");
  return (
    <figure data-testid="report-trend" aria-label={`Trend per ${series[0].interval}`} className="px-2 pb-3">
      <ResponsiveContainer width="100%" height={240}>
        <ComposedChart data={rows} margin={{ top: 8, right: hasHours ? 4 : 16, bottom: 0, left: 0 }}>
          <CartesianGrid strokeDasharray="3 3" stroke="var(--color-line)" />
          <XAxis dataKey="start" tick={{ fontSize: 12, fill: "var(--color-fg-muted)" }} minTickGap={24} />
          <YAxis yAxisId="count" allowDecimals={false} tick={{ fontSize: 12, fill: "var(--color-fg-muted)" }} width={40} />
          {hasHours && (
            <YAxis yAxisId="hours" orientation="right" tick={{ fontSize: 12, fill: "var(--color-fg-muted)" }} width={48}
              tickFormatter={(v: number) => `${v} h`} />
          )}
          <Tooltip {...TOOLTIP} formatter={(v, name, item) => {
            const s = series.find((x) => x.metric === item.dataKey);
            return [formatMetric(s?.unit ?? "count", v === null || v === undefined ? null : Number(v)), name];
          }} />
          <Legend wrapperStyle={{ fontSize: 12 }} />
          {series.map((s) =>
            s.unit === "hours" ? (
              <Bar key={s.metric} yAxisId="hours" dataKey={s.metric} name={s.label} fill={COLOURS[s.metric] ?? "var(--chart-violet)"}
                fillOpacity={0.55} isAnimationActive={false} />
            ) : (
              <Line key={s.metric} yAxisId="count" type="monotone" dataKey={s.metric} name={s.label} dot={false} strokeWidth={2}
                stroke={COLOURS[s.metric] ?? "var(--chart-violet)"} isAnimationActive={false} />
            ),
          )}
        </ComposedChart>
      </ResponsiveContainer>
      <table className="sr-only">
        <caption>Per {series[0].interval}</caption>
        <thead>
          <tr>
            <th>Starting</th>
            {series.map((s) => (
              <th key={s.metric}>{s.label}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={String(r.start)}>
              <td>{r.start}</td>
              {series.map((s) => (
                <td key={s.metric}>{formatMetric(s.unit, r[s.metric] as number | null)}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}
