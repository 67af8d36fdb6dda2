import { describe, expect, it } from "vitest";
import { ageColor, analyticsQuery, drillPath, formatChange, formatMetric, goalTone, ignoredNote, statusColor, type Comparison } from "./analytics";
import { apiExportPath, apiListPath, listFilters } from "./resources";

const url = (s: string) => new URLSearchParams(s);

describe("analyticsQuery", () => {
  it("defaults to 30 days", () => {
    expect(analyticsQuery(url(""))).toBe("period=30d");
  });
  it("passes a named period, the filters and as_of, and drops what is not the dashboard's", () => {
    expect(analyticsQuery(url("period=90d&status=New&member=connectwise%3A7&page=3&as_of=2026-11-01T00:00:00Z"))).toBe(
      "period=90d&status=New&member=connectwise%3A7&as_of=2026-11-01T00%3A00%3A00Z",
    );
  });
  it("sends a custom period as dates, and falls back to the default without a start", () => {
    expect(analyticsQuery(url("period=custom&from=2026-10-01&to=2026-10-31"))).toBe("from=2026-10-01&to=2026-10-31");
    expect(analyticsQuery(url("period=custom"))).toBe("period=30d");
  });
  it("adds the caller's parameters last", () => {
    expect(analyticsQuery(url("period=7d"), { group_by: "age", compare: "none" })).toBe("period=7d&group_by=age&compare=none");
  });
});

describe("drill paths and list filters", () => {
  it("turns an API list into the UI's", () => {
    expect(drillPath("/api/tickets?status=New&open=true")).toBe("/tickets?status=New&open=true");
    expect(drillPath(undefined)).toBeUndefined();
    expect(drillPath("https://elsewhere.example/api/x")).toBeUndefined();
  });
  it("keeps a drill's filters through the list page to the API", () => {
    const u = url("status=New&opened_from=2026-10-01T00%3A00%3A00Z&page=2&q=vpn&sort=summary&order=desc");
    const filters = listFilters(u);
    expect(filters).toEqual([
      ["status", "New"],
      ["opened_from", "2026-10-01T00:00:00Z"],
    ]);
    expect(apiListPath("tickets", { page: 2, pageSize: 50, q: "vpn", sort: "summary", order: "desc", filters })).toBe(
      "/api/tickets?page=2&page_size=50&q=vpn&sort=summary&order=desc&status=New&opened_from=2026-10-01T00%3A00%3A00Z",
    );
    // The export is the same view, every page.
    expect(apiExportPath("tickets", { q: "vpn", sort: "summary", order: "desc", filters })).toBe(
      "/api/tickets/export.csv?q=vpn&sort=summary&order=desc&status=New&opened_from=2026-10-01T00%3A00%3A00Z",
    );
    expect(apiExportPath("companies", {})).toBe("/api/companies/export.csv");
  });
});

describe("formatting", () => {
  it("shows a missing figure as n/a, never as zero", () => {
    expect(formatMetric("percent", null)).toBe("n/a");
    expect(formatMetric("count", undefined)).toBe("n/a");
    expect(formatMetric("count", 0)).toBe("0");
  });
  it("keeps hours exact to the hundredth", () => {
    expect(formatMetric("hours", 2.25)).toBe("2.25 h");
    expect(formatMetric("hours", 1234.5)).toBe("1,234.5 h");
  });
  it("formats money, rates and percentages", () => {
    expect(formatMetric("money", 12345.6)).toBe("$12,346");
    expect(formatMetric("rate", 142.5)).toBe("$142.50/h");
    expect(formatMetric("percent", 87.25)).toBe("87.3%");
  });
  it("describes the change against the previous period", () => {
    const c = (change: number | null, change_pct: number | null): Comparison => ({
      period: { from: "", to: "", label: "", tz: "UTC" },
      value: 1,
      change,
      change_pct,
      trend: null,
      assessment: null,
    });
    expect(formatChange("count", c(12, 25))).toBe("+25%");
    expect(formatChange("count", c(-3, null))).toBe("−3");
    expect(formatChange("percent", c(-2.5, -3))).toBe("−2.5 pts");
    expect(formatChange("count", c(0, 0))).toBe("no change");
    expect(formatChange("count", c(null, null))).toBeUndefined();
  });
  it("gives goal statuses and ticket statuses one colour each", () => {
    expect(goalTone("met")).toBe("green");
    expect(goalTone("at_risk")).toBe("amber");
    expect(goalTone("missed")).toBe("red");
    expect(goalTone(null)).toBe("slate");
    expect(statusColor("Closed")).toBe(statusColor("Resolved"));
    expect(statusColor("Waiting on client")).not.toBe(statusColor("New"));
  });
  it("colours ageing buckets by their labels, fresh to old", () => {
    // The API's labels, oldest first (its keys are these positions: "0" is 30+ days).
    const labels = ["30+ days", "15–30 days", "8–14 days", "4–7 days", "2–3 days", "0–1 days"];
    expect(labels.map(ageColor)).toEqual([
      "var(--chart-deep-red)",
      "var(--chart-red)",
      "var(--chart-orange)",
      "var(--chart-amber)",
      "var(--chart-lime)",
      "var(--chart-emerald)",
    ]);
    expect(ageColor("(none)")).toBe("var(--chart-grey)");
    expect(ageColor(null)).toBe("var(--chart-grey)");
  });
});

describe("ignoredNote", () => {
  it("names the filters a figure's records do not carry", () => {
    expect(ignoredNote([])).toBeNull();
    expect(ignoredNote(undefined)).toBeNull();
    expect(ignoredNote(["board"])).toBe("Not filtered by board");
    expect(ignoredNote(["board", "status", "priority"])).toBe("Not filtered by board, status or priority");
    expect(ignoredNote(["billable_option"])).toBe("Not filtered by billable option");
  });
});
