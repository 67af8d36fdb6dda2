// Headline figures of a company or technician, from their report route
// (GET /api/analytics/{companies,members}/{id}/report), as KPI cards.
import { lazy, Suspense } from "react";
import { useSearchParams } from "react-router";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { api } from "../lib/client";
import type { ReportView } from "../lib/analytics";
import { periodRange } from "../lib/reports";
import { KpiCard } from "./KpiCard";
import { Card, CardHeader, CONTROL, ErrorBox, Spinner } from "./ui";

const ReportTrend = lazy(() => import("./ReportTrend"));

/** The periods a record's figures can be shown for (the URL's `period`). */
export const REPORT_PERIODS: { id: string; label: string; interval: "day" | "week" | "month" }[] = [
  { id: "7d", label: "Last 7 days", interval: "day" },
  { id: "30d", label: "Last 30 days", interval: "day" },
  { id: "90d", label: "Last 90 days", interval: "week" },
  { id: "this_month", label: "This month", interval: "day" },
  { id: "this_quarter", label: "This quarter", interval: "week" },
  { id: "this_year", label: "This year", interval: "month" },
  { id: "last_year", label: "Last year", interval: "month" },
];

function periodText(r: ReportView | undefined): string | undefined {
  if (!r) return undefined;
  // The period's end is exclusive: its last day is the one before.
  return `${periodRange(r.period.from, r.period.to, r.period.tz)} (${r.period.tz}), compared with the period before`;
}

export function ReportFigures({
  kind,
  id,
  period: defaultPeriod,
  metrics,
  asOf,
}: {
  /** Whose report: `companies` or `members`. */
  kind: "companies" | "members";
  id: string;
  /** The named period shown unless the URL names another (`90d`, `30d`). */
  period: string;
  /** The report's figures to show, in order. */
  metrics: string[];
  asOf?: string | null;
}) {
  const [params, setParams] = useSearchParams();
  const named = params.get("period");
  const period = named && REPORT_PERIODS.some((p) => p.id === named) ? named : defaultPeriod;
  const chosen = REPORT_PERIODS.find((p) => p.id === period);
  const title = chosen?.label ?? period;
  // The trend's steps: days for a month, weeks for a quarter, months for a year.
  const qs = new URLSearchParams({ period, interval: chosen?.interval ?? "day" });
  if (asOf) qs.set("as_of", asOf);
  const path = `/api/analytics/${kind}/${encodeURIComponent(id)}/report?${qs.toString()}`;
  const q = useQuery({
    queryKey: ["report", path],
    queryFn: () => api.request<ReportView>(path),
    placeholderData: keepPreviousData,
  });
  const picker = (
    <label className="flex items-center gap-2 text-xs font-medium text-fg-muted">
      <span className="sr-only">Period</span>
      <select
        data-testid="report-period"
        value={period}
        onChange={(e) =>
          setParams(
            (prev) => {
              const next = new URLSearchParams(prev);
              if (e.target.value === defaultPeriod) next.delete("period");
              else next.set("period", e.target.value);
              return next;
            },
            { replace: true },
          )
        }
        className={`${CONTROL} px-2 py-1`}
      >
        {REPORT_PERIODS.map((p) => (
          <option key={p.id} value={p.id}>
            {p.label}
          </option>
        ))}
      </select>
    </label>
  );
  const byId = new Map((q.data?.metrics ?? []).map((m) => [m.metric, m]));
  const shown = metrics.map((m) => byId.get(m)).filter((m) => m !== undefined);
  return (
    <Card>
      <section aria-label={title} data-testid="report-figures">
        <CardHeader title={title} subtitle={periodText(q.data)} right={picker} />
        {q.isError ? (
          <div className="p-4">
            <ErrorBox error={q.error} />
          </div>
        ) : q.isLoading ? (
          <Spinner label="Loading figures…" />
        ) : (
          <div className={`transition-opacity ${q.isFetching ? "opacity-60" : ""}`}>
            <div className="grid grid-cols-2 gap-3 p-4 md:grid-cols-4">
              {shown.map((m) => (
                <KpiCard key={m.metric} m={m} testId="report" />
              ))}
            </div>
            {(q.data?.series.length ?? 0) > 0 && (
              <Suspense fallback={<Spinner label="Loading the trend…" />}>
                <ReportTrend series={q.data!.series} />
              </Suspense>
            )}
          </div>
        )}
      </section>
    </Card>
  );
}
