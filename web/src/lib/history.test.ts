import { describe, expect, it } from "vitest";
import { absenceAt, diffRecords, existenceAt, historyTimeline, initialValues, versionAt, type Version } from "./history";

function v(from: string, to: string | null, fields: Record<string, unknown>, deleted = false): Version {
  return {
    id: "connectwise:1",
    source_service: "connectwise",
    source_id: "1",
    source_updated_at: from,
    valid_from: from,
    valid_to: to,
    is_deleted: deleted,
    is_current: to === null,
    ...fields,
  };
}

describe("diffRecords", () => {
  it("lists changed fields with old and new values", () => {
    const changes = diffRecords(
      { status: "New", priority: "P3", summary: "Printer" },
      { status: "In Progress", priority: "P3", summary: "Printer jam" },
    );
    expect(changes).toEqual([
      { field: "status", from: "New", to: "In Progress" },
      { field: "summary", from: "Printer", to: "Printer jam" },
    ]);
  });

  it("follows the given field order, then the alphabet", () => {
    const changes = diffRecords({ a: 1, b: 1, z: 1 }, { a: 2, b: 2, z: 2 }, ["z", "b"]);
    expect(changes.map((c) => c.field)).toEqual(["z", "b", "a"]);
  });

  it("ignores version bookkeeping and joined names", () => {
    const changes = diffRecords(
      v("2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z", { company_id: "cw:1", company_name: "Acme" }),
      v("2024-02-01T00:00:00Z", null, { company_id: "cw:1", company_name: "Acme Corp", owner_name: "Ann" }),
    );
    expect(changes).toEqual([]);
  });

  it("treats missing, null and empty text alike", () => {
    expect(diffRecords({ a: null, b: "" }, { c: null, b: undefined })).toEqual([]);
    expect(diffRecords({ a: null }, { a: 0 })).toEqual([{ field: "a", from: null, to: 0 }]);
    expect(diffRecords({ a: false }, {})).toEqual([{ field: "a", from: false, to: null }]);
  });

  it("compares nested values by content", () => {
    expect(diffRecords({ x: { a: [1, 2] } }, { x: { a: [1, 2] } })).toEqual([]);
    expect(diffRecords({ x: { a: [1] } }, { x: { a: [2] } })).toHaveLength(1);
  });
});

describe("historyTimeline", () => {
  const versions = [
    // Given out of order: the timeline sorts by valid_from.
    v("2024-03-01T00:00:00Z", "2024-04-01T00:00:00Z", { status: "Closed", priority: "P2" }),
    v("2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z", { status: "New", priority: "P3" }),
    v("2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z", { status: "In Progress", priority: "P3" }),
    v("2024-04-01T00:00:00Z", "2024-05-01T00:00:00Z", { status: "Closed", priority: "P2" }, true),
    v("2024-05-01T00:00:00Z", null, { status: "Reopened", priority: "P2" }),
  ];
  const t = historyTimeline(versions, ["status", "priority"]);

  it("numbers versions oldest first", () => {
    expect(t.map((e) => e.number)).toEqual([1, 2, 3, 4, 5]);
    expect(t.map((e) => e.at)).toEqual([
      "2024-01-01T00:00:00Z",
      "2024-02-01T00:00:00Z",
      "2024-03-01T00:00:00Z",
      "2024-04-01T00:00:00Z",
      "2024-05-01T00:00:00Z",
    ]);
  });

  it("labels created, updated, deleted and restored", () => {
    expect(t.map((e) => e.kind)).toEqual(["created", "updated", "updated", "deleted", "restored"]);
  });

  it("diffs each version against the last live one", () => {
    expect(t[0].changes).toEqual([]);
    expect(t[1].changes).toEqual([{ field: "status", from: "New", to: "In Progress" }]);
    expect(t[2].changes).toEqual([
      { field: "status", from: "In Progress", to: "Closed" },
      { field: "priority", from: "P3", to: "P2" },
    ]);
    expect(t[3].changes).toEqual([]);
    // Restored: compared with version 3, the last before the deletion.
    expect(t[4].changes).toEqual([{ field: "status", from: "Closed", to: "Reopened" }]);
  });

  it("marks the current version", () => {
    expect(t.map((e) => e.current)).toEqual([false, false, false, false, true]);
  });

  it("handles a single version and no versions", () => {
    const one = historyTimeline([v("2024-01-01T00:00:00Z", null, { name: "Acme" })]);
    expect(one).toHaveLength(1);
    expect(one[0].kind).toBe("created");
    expect(one[0].current).toBe(true);
    expect(historyTimeline([])).toEqual([]);
  });

  it("calls a first version that is a deletion a deletion", () => {
    const t2 = historyTimeline([
      v("2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z", { name: "A" }, true),
      v("2024-02-01T00:00:00Z", null, { name: "A" }),
    ]);
    expect(t2.map((e) => e.kind)).toEqual(["deleted", "created"]);
  });
});

describe("versionAt and existenceAt", () => {
  const t = historyTimeline([
    v("2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z", { name: "A" }),
    v("2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z", { name: "B" }),
    v("2024-03-01T00:00:00Z", null, { name: "B" }, true),
  ]);

  it("finds the version standing at an instant (from inclusive, to exclusive)", () => {
    expect(versionAt(t, "2024-01-15T00:00:00Z")?.number).toBe(1);
    expect(versionAt(t, "2024-02-01T00:00:00Z")?.number).toBe(2);
    expect(versionAt(t, "2024-01-31T23:59:59Z")?.number).toBe(1);
    expect(versionAt(t, "2030-01-01T00:00:00Z")?.number).toBe(3);
    expect(versionAt(t, "2023-12-31T23:59:59Z")).toBeNull();
    expect(versionAt(t, "not a date")).toBeNull();
  });

  it("says whether the record existed then", () => {
    expect(existenceAt(t, "2023-06-01T00:00:00Z")).toEqual({ state: "before", since: "2024-01-01T00:00:00Z" });
    expect(existenceAt(t, "2024-03-05T00:00:00Z")).toEqual({ state: "deleted", since: "2024-03-01T00:00:00Z" });
    const e = existenceAt(t, "2024-02-10T00:00:00+02:00");
    expect(e.state).toBe("exists");
    expect(e.state === "exists" && e.version.number).toBe(2);
    expect(existenceAt([], "2024-02-10T00:00:00Z")).toEqual({ state: "unknown" });
    expect(existenceAt(t, "garbage")).toEqual({ state: "unknown" });
  });
});

describe("absenceAt", () => {
  const t = historyTimeline([
    v("2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z", { name: "A" }),
    v("2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z", { name: "A" }, true),
    v("2024-03-01T00:00:00Z", null, { name: "A" }),
  ]);
  it("agrees with existenceAt where no live version stood", () => {
    expect(absenceAt(t, "2023-01-01T00:00:00Z")).toEqual({ state: "before", since: "2024-01-01T00:00:00Z" });
    expect(absenceAt(t, "2024-02-10T00:00:00Z")).toEqual({ state: "deleted", since: "2024-02-01T00:00:00Z" });
  });
  it("reads a live version the API did not find as the instant just before it", () => {
    // Within the first version's second: it did not exist yet.
    expect(absenceAt(t, "2024-01-01T00:00:00Z")).toEqual({ state: "before", since: "2024-01-01T00:00:00Z" });
    // Within the restoring version's second: still deleted.
    expect(absenceAt(t, "2024-03-01T00:00:00Z")).toEqual({ state: "deleted", since: "2024-02-01T00:00:00Z" });
    expect(absenceAt(t, "2024-01-01T00:00:00.900Z")).toEqual({ state: "before", since: "2024-01-01T00:00:00Z" });
    // Past that second the versions cannot say.
    expect(absenceAt(t, "2024-01-01T00:00:01Z")).toEqual({ state: "unknown" });
    expect(absenceAt(t, "2024-01-15T00:00:00Z")).toEqual({ state: "unknown" });
  });
});

describe("initialValues", () => {
  it("lists the fields a version has, without bookkeeping", () => {
    const r = v("2024-01-01T00:00:00Z", null, { name: "Acme", city: null, phone: "", employee_count: 0 });
    expect(initialValues(r, ["name"])).toEqual([
      { field: "name", from: null, to: "Acme" },
      { field: "employee_count", from: null, to: 0 },
    ]);
  });
});
