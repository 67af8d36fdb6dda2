// The names of records a page knows only by id (a filter's `company=connectwise:250`):
// each fetched once and kept (the same query key everywhere, so a picker, a chip and a
// wall screen's caption share one request).
import { useQueries, useQuery } from "@tanstack/react-query";
import { api } from "./client";
import { apiDetailPath, RESOURCES } from "./resources";
import type { AnyRecord } from "./types";

function nameQuery(resource: string, id: string) {
  return {
    queryKey: ["record-name", resource, id],
    queryFn: () => api.request<AnyRecord>(apiDetailPath(resource, id)),
    staleTime: 10 * 60_000,
    retry: false,
  } as const;
}

/** The name of one record (undefined until it arrives, or when it cannot be read). */
export function useRecordName(resource: string, id: string): string | undefined {
  const q = useQuery({ ...nameQuery(resource, id), enabled: id !== "" && RESOURCES[resource] !== undefined });
  return q.data ? RESOURCES[resource].titleOf(q.data) : undefined;
}

/** The names of several records: a lookup by resource and id. */
export function useRecordNames(refs: { resource: string; id: string }[]): (resource: string, id: string) => string | undefined {
  const known = refs.filter((r) => RESOURCES[r.resource] !== undefined && r.id !== "");
  const results = useQueries({ queries: known.map((r) => nameQuery(r.resource, r.id)) });
  const names = new Map<string, string>();
  known.forEach((r, i) => {
    const data = results[i]?.data;
    if (data) names.set(`${r.resource}\u0000${r.id}`, RESOURCES[r.resource].titleOf(data));
  });
  return (resource, id) => names.get(`${resource}\u0000${id}`);
}
