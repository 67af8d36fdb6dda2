import { describe, expect, it } from "vitest";
import { chips, filterResource, LIST_FILTERS, valueText } from "./listFilters";

describe("list filter chips", () => {
  it("names a referenced record once its name is known, its id until then", () => {
    const f: [string, string][] = [["company", "connectwise:250"]];
    expect(chips(f)[0]).toMatchObject({ label: "Company", text: "connectwise:250", record: { resource: "companies", id: "connectwise:250" } });
    const names = (r: string, id: string) => (r === "companies" && id === "connectwise:250" ? "Contoso Ltd" : undefined);
    expect(chips(f, names)[0].text).toBe("Contoso Ltd");
    expect(chips([["member", "connectwise:7"]])[0]).toMatchObject({ label: "Technician", record: { resource: "members" } });
  });

  it("folds a date range's ends into one chip removing both", () => {
    const c = chips([["opened_from", "2026-10-01"], ["status", "New"], ["opened_to", "2026-10-31"]]);
    expect(c.map((x) => x.id)).toEqual(["opened", "status"]);
    expect(c[0].keys).toEqual(["opened_from", "opened_to"]);
    expect(c[0].label).toBe("Opened");
    expect(c[0].text).toBe("Oct 1, 2026 – Oct 31, 2026");
    expect(c[0].text).toContain("–");
    expect(chips([["date_to", "2026-10-31"]])[0].text).toMatch(/^until /);
    expect(chips([["opened_to", "2026-10-31T08:00:00Z"]])[0].text).toMatch(/^before /);
    expect(chips([["closed_from", "2026-10-01"]])[0]).toMatchObject({ text: expect.stringMatching(/^from /), keys: ["closed_from"] });
  });

  it("says codes as people do and joins several values with 'or'", () => {
    expect(chips([["billable", "DoNotBill"]])[0].text).toBe("Do not bill");
    expect(chips([["status", "New,In Progress,Closed"]])[0].text).toBe("New, In Progress or Closed");
    expect(chips([["service", "servicenow"]])[0].text).toBe("ServiceNow");
    expect(chips([["open", "false"]])[0]).toMatchObject({ label: "State", text: "Closed" });
    expect(chips([["open", "true"]])[0].text).toBe("Open");
    expect(chips([["as_of", "2026-10-01T00:00:00Z"]])[0].label).toBe("As of");
    expect(valueText("work_type", "Remote")).toBe("Remote");
    expect(chips([["missing", "board,company"]]).map((c) => [c.label, c.text, c.keys])).toEqual([
      ["Board", "(none)", ["missing"]],
      ["Company", "(none)", ["missing"]],
    ]);
  });

  it("offers on each list only filters that list accepts", () => {
    const keys = (r: string) => LIST_FILTERS[r].map((f) => (f.kind === "dates" ? f.name : f.key));
    expect(keys("tickets")).toContain("status");
    expect(keys("tickets")).not.toContain("billable");
    expect(keys("time-entries")).toEqual(expect.arrayContaining(["billable", "work_type", "company", "member", "date"]));
    expect(keys("time-entries")).not.toContain("status");
    expect(keys("contacts")).not.toContain("member");
    expect(filterResource("ticket")).toBe("tickets");
    expect(filterResource("status")).toBeUndefined();
  });
});
