import { Link } from "react-router";
import { useQuery } from "@tanstack/react-query";
import { Bar, BarChart, CartesianGrid, Cell, LabelList, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { api } from "../lib/client";
import type { Dashboard, Items, StatusCount, TopCompany } from "../lib/types";
import { formatHours, formatInt } from "../lib/format";
import { detailPath } from "../lib/resources";
import { Card, CardHeader, ErrorBox, Spinner } from "../components/ui";

const PALETTE = ["#4f46e5", "#0ea5e9", "#10b981", "#f59e0b", "#ef4444", "#8b5cf6", "#14b8a6", "#f97316", "#64748b", "#ec4899"];

interface Kpi {
  testId: string;
  label: string;
  value: number | undefined;
  kind: "int" | "hours";
  hint?: string;
  span: string;
}

function KpiCard({ kpi }: { kpi: Kpi }) {
  const text = kpi.kind === "hours" ? formatHours(kpi.value) : formatInt(kpi.value);
  return (
    <Card className={`px-4 py-3 sm:px-5 sm:py-4 ${kpi.span}`}>
      <div className="text-xs font-medium uppercase tracking-wide text-slate-500">{kpi.label}</div>
      <div
        className="mt-2 text-xl font-semibold sm:text-2xl tabular-nums text-slate-900"
        data-testid={kpi.testId}
        data-value={kpi.value ?? ""}
      >
        {text}
      </div>
      {kpi.hint && <div className="mt-1 text-xs text-slate-500">{kpi.hint}</div>}
    </Card>
  );
}

function pct(part: number, whole: number): string {
  if (!whole) return "0%";
  return `${((part / whole) * 100).toFixed(1)}%`;
}

export function DashboardPage() {
  const dash = useQuery({
    queryKey: ["dashboard"],
    queryFn: () => api.request<Dashboard>("/api/analytics/dashboard"),
  });
  const status = useQuery({
    queryKey: ["tickets-status"],
    queryFn: () => api.request<Items<StatusCount>>("/api/analytics/tickets/status"),
  });
  const top = useQuery({
    queryKey: ["companies-top", 10],
    queryFn: () => api.request<Items<TopCompany>>("/api/analytics/companies/top?limit=10"),
  });

  const d = dash.data;
  const kpis: Kpi[] = [
    { testId: "kpi-companies", label: "Companies", value: d?.companies, kind: "int", span: "lg:col-span-3" },
    { testId: "kpi-contacts", label: "Contacts", value: d?.contacts, kind: "int", span: "lg:col-span-3" },
    { testId: "kpi-tickets", label: "Tickets", value: d?.tickets, kind: "int", hint: d ? `${formatInt(d.closed_tickets)} closed` : undefined, span: "lg:col-span-3" },
    { testId: "kpi-open-tickets", label: "Open tickets", value: d?.open_tickets, kind: "int", hint: d ? `${pct(d.open_tickets, d.tickets)} of all tickets` : undefined, span: "lg:col-span-3" },
    { testId: "kpi-time-entries", label: "Time entries", value: d?.time_entries, kind: "int", span: "lg:col-span-4" },
    { testId: "kpi-total-hours", label: "Total hours", value: d?.total_hours, kind: "hours", span: "lg:col-span-4" },
    { testId: "kpi-billable-hours", label: "Billable hours", value: d?.billable_hours, kind: "hours", hint: d ? `${pct(d.billable_hours, d.total_hours)} of total` : undefined, span: "col-span-2 lg:col-span-4" },
  ];
  const statusItems = status.data?.items ?? [];

  return (
    <div className="space-y-6">
      <div>
        <h1 className="text-xl font-semibold text-slate-900">Dashboard</h1>
        <p className="text-sm text-slate-500">Overview of your synced PSA data.</p>
      </div>

      {dash.isError ? (
        <ErrorBox error={dash.error} />
      ) : dash.isLoading ? (
        <Spinner label="Loading metrics…" />
      ) : (
        <section className="grid grid-cols-2 gap-3 sm:gap-4 lg:grid-cols-12" aria-label="Key metrics" data-testid="kpis">
          {kpis.map((k) => (
            <KpiCard key={k.testId} kpi={k} />
          ))}
        </section>
      )}

      <div className="grid grid-cols-1 gap-6 xl:grid-cols-5">
        <Card className="xl:col-span-2">
          <CardHeader title="Tickets by status" subtitle="Current status of all tickets" />
          <div className="p-4" data-testid="status-chart">
            {status.isError ? (
              <ErrorBox error={status.error} />
            ) : status.isLoading ? (
              <Spinner />
            ) : statusItems.length === 0 ? (
              <p className="p-6 text-sm text-slate-500">No tickets yet.</p>
            ) : (
              <ResponsiveContainer width="100%" height={Math.max(380, statusItems.length * 36)}>
                <BarChart data={statusItems} layout="vertical" margin={{ top: 4, right: 56, bottom: 4, left: 8 }}>
                  <CartesianGrid strokeDasharray="3 3" horizontal={false} stroke="#e2e8f0" />
                  <XAxis type="number" allowDecimals={false} tick={{ fontSize: 12, fill: "#64748b" }}
                    tickFormatter={(v: number) => formatInt(v)} />
                  <YAxis type="category" dataKey="status" width={110} tick={{ fontSize: 12, fill: "#334155" }} />
                  <Tooltip formatter={(v) => [formatInt(Number(v)), "Tickets"]} cursor={{ fill: "#f1f5f9" }} />
                  <Bar dataKey="count" radius={[0, 4, 4, 0]} maxBarSize={28} isAnimationActive={false}>
                    {statusItems.map((s, i) => (
                      <Cell key={s.status} fill={PALETTE[i % PALETTE.length]} />
                    ))}
                    <LabelList dataKey="count" position="right" formatter={(v) => formatInt(Number(v))}
                      style={{ fontSize: 11, fill: "#475569" }} />
                  </Bar>
                </BarChart>
              </ResponsiveContainer>
            )}
          </div>
        </Card>

        <Card className="xl:col-span-3">
          <CardHeader title="Top companies" subtitle="By ticket volume" right={<Link to="/companies" className="text-sm font-medium text-indigo-600 hover:text-indigo-500">View all</Link>} />
          {top.isError ? (
            <div className="p-4"><ErrorBox error={top.error} /></div>
          ) : top.isLoading ? (
            <Spinner />
          ) : (
            <div className="overflow-x-auto">
              <table className="min-w-full text-sm" data-testid="top-companies">
                <thead className="bg-slate-50 text-left text-xs font-medium uppercase tracking-wide text-slate-500">
                  <tr>
                    <th className="px-3 sm:px-5 py-2.5">Company</th>
                    <th className="px-3 sm:px-5 py-2.5 text-right">Tickets</th>
                    <th className="px-3 sm:px-5 py-2.5 text-right">Open</th>
                    <th className="px-3 sm:px-5 py-2.5 text-right">Hours</th>
                  </tr>
                </thead>
                <tbody className="divide-y divide-slate-100">
                  {(top.data?.items ?? []).map((c) => (
                    <tr key={c.id} className="hover:bg-slate-50">
                      <td className="px-3 sm:px-5 py-2.5">
                        <Link to={detailPath("companies", c.id)} className="font-medium text-slate-900 hover:text-indigo-600">
                          {c.name}
                        </Link>
                      </td>
                      <td className="px-3 sm:px-5 py-2.5 text-right tabular-nums">{formatInt(c.tickets)}</td>
                      <td className="px-3 sm:px-5 py-2.5 text-right tabular-nums">{formatInt(c.open_tickets)}</td>
                      <td className="px-3 sm:px-5 py-2.5 text-right tabular-nums">{formatHours(c.hours)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {(top.data?.items ?? []).length === 0 && <p className="p-6 text-sm text-slate-500">No companies yet.</p>}
            </div>
          )}
        </Card>
      </div>
    </div>
  );
}
