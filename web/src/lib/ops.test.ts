import { describe, expect, it } from "vitest";
import {
  adminPath,
  apiFieldError,
  assignableRoles,
  canSeeOperations,
  describeRefresh,
  describeSchedule,
  tableLabel,
  fieldLabelOf,
  formatAge,
  formatDuration,
  isActive,
  isSecretField,
  isStale,
  plainError,
  progressPct,
  runBadge,
  runDuration,
  runProgress,
  runSummary,
  scheduleIntervalSecs,
  syncBody,
  tableProgress,
  validateBackfill,
  validateCredentials,
  validatePassword,
  validateUser,
  type ChunkRecord,
  type RunDetail,
} from "./ops";

function chunk(table: string, status: ChunkRecord["status"], records: number, started = "2026-01-01T00:00:00Z", service = "connectwise"): ChunkRecord {
  return {
    id: `${table}-${started}-${Math.random()}`,
    run_id: "r",
    key: { tenant_id: "t", service, table },
    status,
    counts: { records, pages: 1, requests: 1, bytes: 10, versions_inserted: Math.floor(records / 2), retries: 0, throttles: 0, millis: 5 },
    started_at: started,
  };
}

function detail(status: RunDetail["run"]["status"], chunks: ChunkRecord[], extra: Partial<RunDetail["run"]> = {}): RunDetail {
  return {
    run: { id: "r", kind: "incremental", status, started_at: "2026-01-01T00:00:00Z", finished_at: status === "running" ? null : "2026-01-01T00:00:12Z", cancel_requested: false, ...extra },
    chunks,
  };
}

describe("who sees operations", () => {
  it("only tenant and platform admins", () => {
    expect(canSeeOperations("tenant_admin")).toBe(true);
    expect(canSeeOperations("platform_admin")).toBe(true);
    expect(canSeeOperations("analyst")).toBe(false);
    expect(canSeeOperations("viewer")).toBe(false);
    expect(canSeeOperations(undefined)).toBe(false);
    expect(canSeeOperations("")).toBe(false);
  });
  it("platform_admin is given only by a platform admin", () => {
    expect(assignableRoles("tenant_admin").map((r) => r.id)).toEqual(["viewer", "analyst", "tenant_admin"]);
    expect(assignableRoles("platform_admin").map((r) => r.id)).toContain("platform_admin");
  });
  it("admin paths name the tenant", () => {
    expect(adminPath("/api/admin/runs", "acme")).toBe("/api/admin/runs?tenant=acme");
    expect(adminPath("/api/admin/runs?limit=5", "a b")).toBe("/api/admin/runs?limit=5&tenant=a%20b");
    expect(adminPath("/api/admin/runs", null)).toBe("/api/admin/runs");
  });
});

describe("badges and durations", () => {
  it("maps statuses to tones", () => {
    expect(runBadge("succeeded")).toEqual({ label: "Succeeded", tone: "green" });
    expect(runBadge("failed").tone).toBe("red");
    expect(runBadge("partially_failed").tone).toBe("amber");
    expect(runBadge("running").tone).toBe("indigo");
    expect(runBadge("weird")).toEqual({ label: "weird", tone: "slate" });
    expect(isActive("running")).toBe(true);
    expect(isActive("queued")).toBe(true);
    expect(isActive("cancelled")).toBe(false);
  });
  it("formats durations", () => {
    expect(formatDuration(null)).toBe("—");
    expect(formatDuration(850)).toBe("850 ms");
    expect(formatDuration(12_400)).toBe("12 s");
    expect(formatDuration(185_000)).toBe("3 min 05 s");
    expect(formatDuration(2 * 3600_000 + 4 * 60_000)).toBe("2 h 04 min");
    expect(formatDuration(3 * 86400_000)).toBe("3 d 0 h");
  });
  it("measures runs, running ones up to now", () => {
    expect(runDuration({ started_at: "2026-01-01T00:00:00Z", finished_at: "2026-01-01T00:00:12Z" })).toBe(12_000);
    expect(runDuration({ started_at: "2026-01-01T00:00:00Z", finished_at: null }, Date.parse("2026-01-01T00:01:00Z"))).toBe(60_000);
    expect(runDuration({ started_at: "nope" })).toBeNull();
  });
  it("formats ages", () => {
    expect(formatAge(null)).toBe("never");
    expect(formatAge(30)).toBe("just now");
    expect(formatAge(600)).toBe("10 min ago");
    expect(formatAge(7200)).toBe("2 h ago");
    expect(formatAge(5 * 86400)).toBe("5 days ago");
  });
});

describe("schedules and freshness", () => {
  it("reads common cron shapes", () => {
    expect(scheduleIntervalSecs(null)).toBe(3600);
    expect(scheduleIntervalSecs("*/15 * * * *")).toBe(900);
    expect(scheduleIntervalSecs("5 * * * *")).toBe(3600);
    expect(scheduleIntervalSecs("0 */6 * * *")).toBe(21600);
    expect(scheduleIntervalSecs("30 2 * * *")).toBe(86400);
    expect(scheduleIntervalSecs("0 0 * * 1")).toBe(7 * 86400);
    expect(scheduleIntervalSecs("bad")).toBeNull();
    expect(describeSchedule(null)).toBe("Per table (default)");
    expect(describeRefresh({ refresh_secs: 240 }, null)).toBe("Every 4 min");
    expect(describeRefresh({ refresh_secs: 3600 }, null)).toBe("Hourly");
    expect(describeRefresh({ refresh_secs: 240 }, "*/15 * * * *")).toBe("Every 15 min");
    expect(describeSchedule("*/15 * * * *")).toBe("Every 15 min");
    expect(describeSchedule("30 2 * * *")).toBe("Daily");
    expect(describeSchedule("0 0 1 * *")).toBe("0 0 1 * *");
  });
  it("marks tables stale after two intervals, or never synced", () => {
    expect(isStale({ age_secs: null })).toBe(true);
    expect(isStale({ age_secs: 3000 })).toBe(false);
    expect(isStale({ age_secs: 3 * 3600 })).toBe(true);
    expect(isStale({ age_secs: 3 * 3600 }, "0 0 * * *")).toBe(false);
    expect(isStale({ age_secs: 3000 }, "*/5 * * * *")).toBe(true);
    // On its refresh interval, the server says.
    expect(isStale({ age_secs: 600, refresh_secs: 240, overdue: true })).toBe(true);
    expect(isStale({ age_secs: 200, refresh_secs: 240, overdue: false })).toBe(false);
    expect(isStale({ age_secs: 600, refresh_secs: 240 })).toBe(true);
  });
});

describe("table labels", () => {
  it("names partitions and backfills", () => {
    expect(tableLabel("service/tickets@part-20261206T014400-2of4")).toBe("service/tickets · part 2 of 4");
    expect(tableLabel("service/tickets@backfill-20240101T000000-20240201T000000")).toBe("service/tickets · backfill");
    expect(tableLabel("time/entries")).toBe("time/entries");
  });
});

describe("run progress", () => {
  const chunks = [
    chunk("service/tickets", "committed", 100, "2026-01-01T00:00:02Z"),
    chunk("service/boards", "committed", 5, "2026-01-01T00:00:01Z"),
    chunk("service/tickets", "running", 0, "2026-01-01T00:00:03Z"),
    chunk("system/members", "failed", 0, "2026-01-01T00:00:04Z"),
  ];
  it("groups chunks per table in start order", () => {
    const t = tableProgress(chunks);
    expect(t.map((x) => x.table)).toEqual(["service/boards", "service/tickets", "system/members"]);
    expect(t[1]).toMatchObject({ chunks: 2, committed: 1, running: 1, records: 100, status: "running" });
    expect(t[2].status).toBe("failed");
    expect(t[0].status).toBe("committed");
  });
  it("computes percentages", () => {
    expect(progressPct(1, 4)).toBe(25);
    expect(progressPct(5, 4)).toBe(100);
    expect(progressPct(0, 0)).toBeNull();
    expect(runProgress(detail("running", chunks))).toEqual({ done: 3, total: 4, pct: 75 });
    expect(runProgress(detail("running", chunks, { tables_planned: 6 }))).toEqual({ done: 2, total: 6, pct: 33 });
    expect(runProgress(detail("succeeded", chunks)).pct).toBe(100);
    expect(runProgress(detail("running", [])).pct).toBeNull();
  });
  it("summarises a run in words", () => {
    expect(runSummary(detail("succeeded", chunks.slice(0, 2)))).toBe("Succeeded in 12 s: 2 tables, 105 records (52 new versions)");
    expect(runSummary(detail("running", [chunk("a", "running", 1)]), Date.parse("2026-01-01T00:00:05Z"))).toBe(
      "Running for 5 s: 1 table, 1 record (0 new versions) so far",
    );
    expect(runSummary(detail("running", [], { cancel_requested: true }), Date.parse("2026-01-01T00:00:05Z"))).toMatch(/stopping$/);
  });
  it("turns errors into plain words", () => {
    expect(plainError(null)).toBe("");
    expect(plainError("HTTP 401 from https://api.example/v4/x?page=2&token=abc\nstack")).toBe("HTTP 401 from https://api.example/v4/x");
  });
});

describe("forms", () => {
  const fields = [
    { name: "api_url", optional: false },
    { name: "private_key", optional: false },
    { name: "codebase", optional: true },
    { name: "requests_per_second", optional: true },
  ];
  it("credentials: required fields, URLs, only filled ones sent", () => {
    const bad = validateCredentials(fields, { api_url: "ftp:x", requests_per_second: "0" });
    expect(bad.errors).toMatchObject({ private_key: "Private key is required." });
    expect(bad.errors?.api_url).toMatch(/URL/);
    expect(bad.errors?.requests_per_second).toMatch(/above 0/);
    const ok = validateCredentials(fields, { api_url: " https://cw.example ", private_key: "s3cret", codebase: "" });
    expect(ok).toEqual({ errors: null, credentials: { api_url: "https://cw.example", private_key: "s3cret" } });
    expect(isSecretField("private_key")).toBe(true);
    expect(isSecretField("client_secret")).toBe(true);
    expect(isSecretField("password")).toBe(true);
    expect(isSecretField("api_url")).toBe(false);
    expect(isSecretField("company_id")).toBe(false);
    expect(fieldLabelOf("api_url")).toBe("API URL");
    expect(fieldLabelOf("client_id")).toBe("Client ID");
    expect(fieldLabelOf("requests_per_second")).toBe("Requests per second");
  });
  it("sync bodies", () => {
    expect(syncBody({ service: "", table: "x", full: false })).toEqual({});
    expect(syncBody({ service: "cw", table: "", full: true })).toEqual({ service: "cw", full: true });
    expect(syncBody({ service: "cw", table: "t", full: false })).toEqual({ service: "cw", table: "t" });
  });
  it("backfills", () => {
    expect(validateBackfill({ service: "", table: "", from: "", to: "" }).errors).toMatchObject({ service: expect.any(String), from: expect.any(String), to: expect.any(String) });
    expect(validateBackfill({ service: "cw", table: "", from: "2026-02-01", to: "2026-01-01" }).errors?.to).toMatch(/after/);
    expect(validateBackfill({ service: "cw", table: "", from: "2024-01-01", to: "2026-01-01" }).errors?.to).toMatch(/366/);
    expect(validateBackfill({ service: "cw", table: "t", from: "2026-01-01", to: "2026-02-01" })).toEqual({
      errors: null,
      body: { service: "cw", table: "t", from: "2026-01-01", to: "2026-02-01" },
    });
  });
  it("users", () => {
    expect(validatePassword("short")).toMatch(/12/);
    expect(validatePassword("long-enough-pw")).toBeUndefined();
    const bad = validateUser({ email: "nope", name: "", role: "boss", password: "x" });
    expect(Object.keys(bad.errors ?? {}).sort()).toEqual(["email", "password", "role"]);
    expect(validateUser({ email: " a@b.co ", name: " ", role: "analyst", password: "twelve-chars" })).toEqual({
      errors: null,
      body: { email: "a@b.co", role: "analyst", password: "twelve-chars" },
    });
  });
  it("maps API errors onto fields", () => {
    expect(apiFieldError({ message: "bad", details: { param: "to" } }, ["from", "to"])).toEqual({ field: "to", message: "bad" });
    expect(apiFieldError({ message: 'from "2026-13-01": expected YYYY-MM-DD' }, ["from", "to"])?.field).toBe("from");
    expect(apiFieldError({ message: "you cannot disable yourself" }, ["from"])?.field).toBeNull();
    expect(apiFieldError(null, [])).toBeNull();
  });
});
