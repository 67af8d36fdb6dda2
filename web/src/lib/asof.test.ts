import { describe, expect, it } from "vitest";
import { fromLocalInput, justAfter, parseAsOf, toLocalInput, toRfc3339, withAsOf } from "./asof";

describe("parseAsOf", () => {
  it("is null without a value", () => {
    expect(parseAsOf(null)).toBeNull();
    expect(parseAsOf(undefined)).toBeNull();
    expect(parseAsOf("  ")).toBeNull();
  });
  it("normalizes to RFC 3339 UTC, whole seconds", () => {
    expect(parseAsOf("2024-05-01T12:00:00Z")).toBe("2024-05-01T12:00:00Z");
    expect(parseAsOf("2024-05-01T12:00:00.250Z")).toBe("2024-05-01T12:00:00Z");
    expect(parseAsOf("2024-05-01T12:00:00+02:00")).toBe("2024-05-01T10:00:00Z");
    // An unencoded "+" read as a space.
    expect(parseAsOf("2024-05-01T12:00:00 02:00")).toBe("2024-05-01T10:00:00Z");
    expect(parseAsOf("2024-05-01")).toBe("2024-05-01T00:00:00Z");
  });
  it("reports what it cannot read", () => {
    expect(parseAsOf("yesterday")).toEqual({ invalid: "yesterday" });
  });
});

describe("datetime-local values", () => {
  it("round-trips an instant through the input's local time", () => {
    for (const iso of ["2024-05-01T10:00:00Z", "2023-12-31T23:59:59Z", "2024-02-29T00:00:01Z"]) {
      const local = toLocalInput(iso);
      expect(local).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/);
      expect(fromLocalInput(local)).toBe(iso);
    }
  });
  it("leaves out zero seconds, as browsers do", () => {
    expect(toLocalInput(toRfc3339(new Date(2024, 4, 1, 9, 30, 0).getTime()))).toBe("2024-05-01T09:30");
    expect(toLocalInput(toRfc3339(new Date(2024, 4, 1, 9, 30, 7).getTime()))).toBe("2024-05-01T09:30:07");
  });
  it("reads the local time the input shows", () => {
    const local = new Date(2024, 4, 1, 9, 30, 0).getTime();
    expect(fromLocalInput("2024-05-01T09:30")).toBe(toRfc3339(local));
    expect(fromLocalInput("2024-05-01T09:30:00")).toBe(toRfc3339(local));
  });
  it("refuses incomplete or impossible values", () => {
    expect(fromLocalInput("")).toBeNull();
    expect(fromLocalInput("2024-05-01")).toBeNull();
    expect(fromLocalInput("2024-02-31T10:00")).toBeNull();
    expect(toLocalInput(null)).toBe("");
    expect(toLocalInput("nope")).toBe("");
  });
});

describe("withAsOf", () => {
  it("adds as_of to a path's query", () => {
    expect(withAsOf("/api/tickets/cw%3A1", "2024-05-01T10:00:00Z")).toBe("/api/tickets/cw%3A1?as_of=2024-05-01T10%3A00%3A00Z");
    expect(withAsOf("/tickets?company=cw%3A1", "2024-05-01T10:00:00Z")).toBe(
      "/tickets?company=cw%3A1&as_of=2024-05-01T10%3A00%3A00Z",
    );
  });
  it("leaves the path alone without one", () => {
    expect(withAsOf("/tickets", null)).toBe("/tickets");
    expect(withAsOf("/tickets", undefined)).toBe("/tickets");
  });
});

describe("justAfter", () => {
  it("is the next whole second", () => {
    expect(justAfter("2024-05-01T10:00:00Z")).toBe("2024-05-01T10:00:01Z");
    expect(justAfter("2024-12-31T23:59:59Z")).toBe("2025-01-01T00:00:00Z");
    expect(justAfter("nope")).toBe("nope");
  });
});
