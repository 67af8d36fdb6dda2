// Headline figures of a company or technician, from their report route
// (GET /api/analytics/{companies,members}/{id}/report), as KPI cards.
import { useQuery } from "@tanstack/react-query";
import { api } from "../lib/client";
import type { ReportView } from "../lib/analytics";
import { KpiCard } from "./KpiCard";
import { Card, CardHeader, ErrorBox, Spinner } from "./ui";

function periodText(r: ReportView | undefined): string | undefined {
  if (!r) return undefined;
  const from = new Date(r.period.from).toLocaleDateString();
  const to = new Date(r.period.to).toLocaleDateString();
  return `${from} – ${to} (${r.period.tz}), compared with the period before`;
}

export function ReportFigures({
  kind,
  id,
  period,
  metrics,
  title,
  asOf,
}: {
  /** Whose report: `companies` or `members`. */
  kind: "companies" | "members";
  id: string;
  /** A named period (`90d`, `30d`). */
  period: string;
  /** The report's figures to show, in order. */
  metrics: string[];
  title: string;
  asOf?: string | null;
}) {
  const qs = new URLSearchParams({ period });
  if (asOf) qs.set("as_of", asOf);
  const path = `/api/analytics/${kind}/${encodeURIComponent(id)}/report?${qs.toString()}`;
  const q = useQuery({
    queryKey: ["report", path],
    queryFn: () => api.request<ReportView>(path),
  });
  const byId = new Map((q.data?.metrics ?? []).map((m) => [m.metric, m]));
  const shown = metrics.map((m) => byId.get(m)).filter((m) => m !== undefined);
  return (
    <Card>
      <section aria-label={title} data-testid="report-figures">
        <CardHeader title={title} subtitle={periodText(q.data)} />
        {q.isError ? (
          <div className="p-4">
            <ErrorBox error={q.error} />
          </div>
        ) : q.isLoading ? (
          <Spinner label="Loading figures…" />
        ) : (
          <div className="grid grid-cols-2 gap-3 p-4 md:grid-cols-4">
            {shown.map((m) => (
              <KpiCard key={m.metric} m={m} testId="report" />
            ))}
          </div>
        )}
      </section>
    </Card>
  );
}
