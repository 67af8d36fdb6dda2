import { Link, useParams } from "react-router";
import { useQuery } from "@tanstack/react-query";
import { api } from "../lib/client";
import { ApiError } from "../lib/api";
import type { AnyRecord } from "../lib/types";
import { fieldLabel, formatValue, isIsoDate } from "../lib/format";
import { apiDetailPath, detailPath, FIELD_LINKS, RESOURCES } from "../lib/resources";
import { Card, ErrorBox, Spinner } from "../components/ui";

function FieldValue({ field, value }: { field: string; value: unknown }) {
  const target = FIELD_LINKS[field];
  if (target && typeof value === "string" && value) {
    return (
      <Link to={detailPath(target, value)} className="font-mono text-indigo-600 hover:text-indigo-500">
        {value}
      </Link>
    );
  }
  if (field === "website" && typeof value === "string" && value) {
    const href = /^https?:\/\//i.test(value) ? value : `https://${value}`;
    return <a href={href} target="_blank" rel="noreferrer noopener" className="text-indigo-600 hover:text-indigo-500">{value}</a>;
  }
  if (field === "email" && typeof value === "string" && value) {
    return <a href={`mailto:${value}`} className="text-indigo-600 hover:text-indigo-500">{value}</a>;
  }
  if (value !== null && typeof value === "object") {
    return <pre className="whitespace-pre-wrap break-all font-mono text-xs">{JSON.stringify(value, null, 2)}</pre>;
  }
  const text = formatValue(value);
  const mono = field === "id" || field.endsWith("_id");
  return (
    <span className={`${mono ? "font-mono" : ""} whitespace-pre-wrap break-words`} title={isIsoDate(value) ? value : undefined}>
      {text}
    </span>
  );
}

export function DetailPage({ resource }: { resource: string }) {
  const cfg = RESOURCES[resource];
  // react-router hands us the decoded id ("connectwise:123"); re-encode for the API.
  const { id = "" } = useParams();
  const query = useQuery({
    queryKey: ["detail", resource, id],
    queryFn: () => api.request<AnyRecord>(apiDetailPath(resource, id)),
    retry: (n, e) => !(e instanceof ApiError && e.status >= 400 && e.status < 500) && n < 1,
  });
  const rec = query.data;
  const keys = rec ? [...cfg.fields.filter((f) => f in rec), ...Object.keys(rec).filter((k) => !cfg.fields.includes(k))] : [];

  return (
    <div className="space-y-4">
      <nav className="text-sm text-slate-500" aria-label="Breadcrumb">
        <Link to={`/${cfg.path}`} className="hover:text-indigo-600">{cfg.title}</Link>
        <span className="mx-2">/</span>
        <span className="font-mono text-slate-700">{id}</span>
      </nav>
      {query.isError ? (
        query.error instanceof ApiError && query.error.status === 404 ? (
          <Card className="p-8 text-center" >
            <h1 className="text-lg font-semibold text-slate-900" data-testid="not-found">{cfg.singular} not found</h1>
            <p className="mt-1 text-sm text-slate-500">No {cfg.singular.toLowerCase()} with ID <span className="font-mono">{id}</span>.</p>
          </Card>
        ) : (
          <ErrorBox error={query.error} />
        )
      ) : query.isLoading || !rec ? (
        <Spinner />
      ) : (
        <Card>
          <div className="border-b border-slate-100 px-5 py-4">
            <div className="text-xs font-medium uppercase tracking-wide text-indigo-600">{cfg.singular}</div>
            <h1 className="mt-1 text-lg font-semibold text-slate-900" data-testid="detail-title">{cfg.titleOf(rec)}</h1>
          </div>
          <dl className="grid grid-cols-1 divide-y divide-slate-100 md:grid-cols-2 md:divide-y-0" data-testid="detail">
            {keys.map((k) => (
              <div key={k} className="grid grid-cols-3 gap-3 border-slate-100 px-5 py-3 md:border-b" data-field={k}>
                <dt className="text-sm font-medium text-slate-500">{fieldLabel(k)}</dt>
                <dd className="col-span-2 text-sm text-slate-900"><FieldValue field={k} value={rec[k]} /></dd>
              </div>
            ))}
          </dl>
        </Card>
      )}
    </div>
  );
}
