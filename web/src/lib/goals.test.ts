import { describe, expect, it } from "vitest";
import { ApiError } from "./api";
import {
  apiGoalErrors,
  canEditGoals,
  describeBand,
  describeTarget,
  goalForm,
  goalPath,
  spanOfPeriod,
  statusPeriod,
  statusRequests,
  validateGoalForm,
  type GoalForm,
} from "./goals";

const form = (f: Partial<GoalForm>): GoalForm => ({ target: "10", direction: "at_least", period: "", warning_band: "", ...f });

describe("who edits goals", () => {
  it("is tenant and platform admins only", () => {
    expect(canEditGoals("tenant_admin")).toBe(true);
    expect(canEditGoals("platform_admin")).toBe(true);
    expect(canEditGoals("analyst")).toBe(false);
    expect(canEditGoals("viewer")).toBe(false);
    expect(canEditGoals(undefined)).toBe(false);
  });
});

describe("goalForm", () => {
  it("starts a new goal from the metric's direction, and a count's span from the period on screen", () => {
    expect(goalForm({ unit: "count", better: "lower" }, null, "week")).toEqual({
      target: "",
      direction: "at_most",
      period: "week",
      warning_band: "",
    });
    expect(goalForm({ unit: "money", better: "higher" }, undefined, null).period).toBe("month");
    expect(goalForm({ unit: "money", better: "higher" }, undefined).direction).toBe("at_least");
  });
  it("gives a percentage or an average no span", () => {
    expect(goalForm({ unit: "percent", better: "higher" }, null, "quarter").period).toBe("");
    expect(goalForm({ unit: "rate", better: "higher" }, null, "quarter").period).toBe("");
  });
  it("shows an existing goal as it is, whatever the metric's default", () => {
    expect(
      goalForm({ unit: "count", better: "lower" }, { target: 300, direction: "at_least", warning_band: 30, period: "month" }),
    ).toEqual({ target: "300", direction: "at_least", period: "month", warning_band: "30" });
    expect(goalForm({ unit: "percent", better: "higher" }, { target: 95.5, direction: "at_least", warning_band: 0, period: null })).toEqual({
      target: "95.5",
      direction: "at_least",
      period: "",
      warning_band: "",
    });
  });
});

describe("validateGoalForm", () => {
  it("serialises what the API's GoalInput takes, an empty band as 0 and any period as null", () => {
    expect(validateGoalForm(form({ target: " 95 ", period: "", warning_band: "" }))).toEqual({
      body: { target: 95, direction: "at_least", warning_band: 0, period: null },
    });
    expect(validateGoalForm(form({ target: "-2.5", direction: "at_most", period: "quarter", warning_band: "0.5" }))).toEqual({
      body: { target: -2.5, direction: "at_most", warning_band: 0.5, period: "quarter" },
    });
    expect(validateGoalForm(form({ target: "0" })).body?.target).toBe(0);
  });
  it("asks for a target and refuses what is not a number", () => {
    expect(validateGoalForm(form({ target: "" })).errors).toEqual({ target: "Enter the target." });
    expect(validateGoalForm(form({ target: "ten" })).errors?.target).toMatch(/number/);
    expect(validateGoalForm(form({ target: "1e3" })).errors?.target).toMatch(/number/);
    expect(validateGoalForm(form({ target: "Infinity" })).errors?.target).toMatch(/number/);
  });
  it("refuses a negative or unreadable band, and unknown choices", () => {
    expect(validateGoalForm(form({ warning_band: "-1" })).errors).toEqual({ warning_band: "The band is 0 or more." });
    expect(validateGoalForm(form({ warning_band: "x" })).errors?.warning_band).toMatch(/number/);
    const bad = validateGoalForm({ target: "", direction: "sideways" as never, period: "fortnight" as never, warning_band: "" });
    expect(Object.keys(bad.errors ?? {}).sort()).toEqual(["direction", "period", "target"]);
  });
});

describe("apiGoalErrors", () => {
  it("puts a 400 naming a field beside that field, without the field's name", () => {
    const e = new ApiError(400, "bad_request", "warning_band: -1 must be a number, 0 or more", { field: "warning_band" });
    expect(apiGoalErrors(e)).toEqual({ warning_band: "-1 must be a number, 0 or more" });
    expect(apiGoalErrors(new ApiError(400, "bad_request", "target: must be a finite number", { field: "target" }))).toEqual({
      target: "Must be a finite number",
    });
  });
  it("reads the field from a deserializer's message", () => {
    const e = new ApiError(
      400,
      "bad_request",
      "Failed to deserialize the JSON body into the target type: period: unknown variant `fortnight`, expected one of `day`, `week` at line 1 column 52",
      { field: "period" },
    );
    expect(apiGoalErrors(e)).toEqual({ period: "Unknown variant `fortnight`, expected one of `day`, `week`" });
  });
  it("shows anything else on the form", () => {
    expect(apiGoalErrors(new ApiError(403, "forbidden", "the viewer role may not do this"))).toEqual({
      form: "Only tenant admins may change goals.",
    });
    expect(apiGoalErrors(new ApiError(409, "conflict", "at most 200 goals; remove one first"))).toEqual({
      form: "at most 200 goals; remove one first",
    });
    expect(apiGoalErrors(new ApiError(400, "bad_request", "tenant: bad", { param: "tenant" }))).toEqual({ form: "tenant: bad" });
    expect(apiGoalErrors(new Error("offline"))).toEqual({ form: "offline" });
  });
});

describe("goal periods", () => {
  it("reads the picker's periods as the API's spans", () => {
    expect(spanOfPeriod(undefined)).toBe("month");
    expect(spanOfPeriod("7d")).toBe("week");
    expect(spanOfPeriod("90d")).toBe("quarter");
    expect(spanOfPeriod("this_month")).toBe("month");
    expect(spanOfPeriod("today")).toBe("day");
    expect(spanOfPeriod("custom")).toBeNull();
  });
  it("reads a goal's status over its running span", () => {
    expect(statusPeriod("month")).toBe("this_month");
    expect(statusPeriod("day")).toBe("today");
    expect(statusPeriod(null)).toBe("30d");
  });
  it("asks for the statuses in one request per period, at most 24 metrics each", () => {
    const g = (metric: string, period: "month" | "week" | null) => ({ metric, goal: { target: 1, direction: "at_least" as const, warning_band: 0, period } });
    expect(statusRequests([g("a", "month"), g("b", null), g("c", "month"), g("d", "week")])).toEqual([
      { period: "this_month", metrics: ["a", "c"] },
      { period: "30d", metrics: ["b"] },
      { period: "this_week", metrics: ["d"] },
    ]);
    const many = Array.from({ length: 30 }, (_, i) => g(`m${i}`, null));
    expect(statusRequests(many).map((r) => r.metrics.length)).toEqual([24, 6]);
  });
});

describe("goals in words", () => {
  it("writes the target with its direction and span", () => {
    expect(describeTarget({ target: 300, direction: "at_least", period: "month" }, "count")).toBe("≥ 300 a month");
    expect(describeTarget({ target: 95, direction: "at_least", period: null }, "percent")).toBe("≥ 95%");
  });
  it("writes the band in the metric's unit", () => {
    expect(describeBand({ warning_band: 0 }, "count")).toBe("none");
    expect(describeBand({ warning_band: 5 }, "percent")).toBe("5 pts");
    expect(describeBand({ warning_band: 2.5 }, "hours")).toBe("2.5 h");
  });
  it("names the tenant in the admin route", () => {
    expect(goalPath("sla_met_pct", "acme")).toBe("/api/admin/goals/sla_met_pct?tenant=acme");
    expect(goalPath("a b", null)).toBe("/api/admin/goals/a%20b");
  });
});
