import { describe, expect, it, vi } from "vitest";
import { ApiError, createApiClient, TokenStore, type KeyValueStorage } from "./api";
import {
  addressOf,
  canSendReports,
  dayOptions,
  DEFAULT_REPORT_PERIOD,
  describeSchedule,
  emailBody,
  errorField,
  formatInZone,
  joinWords,
  looksLikeAddress,
  newScheduleForm,
  parseRecipients,
  periodPhrase,
  periodRange,
  recipientsPhrase,
  recipientsProblem,
  REPORT_PERIODS,
  reportEmailPath,
  reportErrorMessage,
  reportPdfPath,
  ruleText,
  SCHEDULE_PERIODS,
  schedulePath,
  schedulesPath,
  scheduleText,
  sentSummary,
  validateScheduleForm,
  withCadence,
  type ReportSchedule,
  type ScheduleForm,
} from "./reports";

const schedule = (s: Partial<ReportSchedule> = {}): ReportSchedule => ({
  id: "s1",
  company: "connectwise:250",
  cadence: "monthly",
  day: 1,
  hour: 8,
  tz: "Europe/Amsterdam",
  period: "last_month",
  to: ["ana@client.example"],
  contacts: true,
  message: null,
  created_by: "u1",
  created_at: "2026-11-20T10:00:00Z",
  next_run_at: "2027-01-01T07:00:00Z",
  last_run_at: "2026-12-01T07:00:03Z",
  last_status: "sent",
  last_error: null,
  ...s,
});

describe("the period options", () => {
  it("offer the report periods, last month first and by default", () => {
    expect(REPORT_PERIODS.map((p) => p.id)).toEqual(["last_month", "this_month", "last_quarter", "30d", "90d", "last_week"]);
    expect(REPORT_PERIODS.map((p) => p.label)).toEqual(["Last month", "This month", "Last quarter", "Last 30 days", "Last 90 days", "Last week"]);
    expect(DEFAULT_REPORT_PERIOD).toBe("last_month");
  });
  it("offer a schedule only the periods the API takes for one", () => {
    expect(SCHEDULE_PERIODS.map((p) => p.id).sort()).toEqual(["30d", "7d", "90d", "last_month", "last_quarter", "last_week"]);
  });
});

describe("who sends reports", () => {
  it("is tenant admins and analysts (the API refuses viewers)", () => {
    expect(canSendReports("tenant_admin")).toBe(true);
    expect(canSendReports("analyst")).toBe(true);
    expect(canSendReports("viewer")).toBe(false);
    expect(canSendReports("platform_admin")).toBe(false);
    expect(canSendReports(null)).toBe(false);
    expect(canSendReports(undefined)).toBe(false);
  });
});

describe("paths", () => {
  it("encode the company's id and pass the period and as_of", () => {
    expect(reportPdfPath("connectwise:250", "last_month")).toBe("/api/analytics/companies/connectwise%3A250/report.pdf?period=last_month");
    expect(reportPdfPath("connectwise:250", "30d", "2026-11-01T00:00:00Z")).toBe(
      "/api/analytics/companies/connectwise%3A250/report.pdf?period=30d&as_of=2026-11-01T00%3A00%3A00Z",
    );
    expect(reportEmailPath("connectwise:250")).toBe("/api/analytics/companies/connectwise%3A250/report/email");
    expect(schedulesPath("connectwise:250")).toBe("/api/report-schedules?company=connectwise%3A250");
    expect(schedulePath("a b/c")).toBe("/api/report-schedules/a%20b%2Fc");
  });
});

describe("parseRecipients", () => {
  it("splits on commas, semicolons and new lines, trimming and dropping blanks", () => {
    expect(parseRecipients(" ana@client.example,\nbo@client.example ;; \r\n cy@client.example,\n\n")).toEqual({
      addresses: ["ana@client.example", "bo@client.example", "cy@client.example"],
      invalid: [],
    });
  });
  it("keeps names, and a comma inside quotes or <…>", () => {
    expect(parseRecipients('Bo Li <bo@client.example>, "Li, Bo" <li@client.example>\nAna  Lima   <ana@client.example>').addresses).toEqual([
      "Bo Li <bo@client.example>",
      '"Li, Bo" <li@client.example>',
      "Ana Lima <ana@client.example>",
    ]);
  });
  it("drops repeats by address, whatever the case or name", () => {
    expect(parseRecipients("ana@client.example, Ana <ANA@client.example>, bo@client.example").addresses).toEqual([
      "ana@client.example",
      "bo@client.example",
    ]);
  });
  it("sets aside what is not an address", () => {
    expect(parseRecipients("ana@client.example, not an address, bo, @x.example, a@, bo li@x.example, <>").invalid).toEqual([
      "not an address",
      "bo",
      "@x.example",
      "a@",
      "bo li@x.example",
      "<>",
    ]);
    expect(parseRecipients("").addresses).toEqual([]);
  });
  it("reads an entry's address", () => {
    expect(addressOf("Bo Li <bo@client.example>")).toBe("bo@client.example");
    expect(addressOf(" bo@client.example ")).toBe("bo@client.example");
    expect(looksLikeAddress("reports@localhost")).toBe(true);
    expect(looksLikeAddress("a@b..c")).toBe(false);
    expect(looksLikeAddress("Bo <bo@x.example> extra")).toBe(false);
  });
});

describe("recipientsProblem", () => {
  it("names what is not an address", () => {
    expect(recipientsProblem(parseRecipients("ana@client.example, bo"), false)).toBe("“bo” is not an e-mail address.");
    expect(recipientsProblem(parseRecipients("x, y"), true)).toBe("These are not e-mail addresses: “x”, “y”.");
  });
  it("wants a recipient or the contacts", () => {
    expect(recipientsProblem(parseRecipients(" , "), false)).toMatch(/at least one recipient/);
    expect(recipientsProblem(parseRecipients(""), true)).toBeNull();
    expect(recipientsProblem(parseRecipients("ana@client.example"), false)).toBeNull();
  });
});

describe("e-mailing now", () => {
  it("sends the message only when there is one", () => {
    expect(emailBody(["ana@client.example"], true, "last_month", "  ")).toEqual({ to: ["ana@client.example"], contacts: true, period: "last_month" });
    expect(emailBody([], true, "30d", " See page 2. ")).toEqual({ to: [], contacts: true, period: "30d", message: "See page 2." });
  });
  it("counts the recipients", () => {
    expect(sentSummary({ sent_to: ["a@x.example"], subject: "s", file: "f.pdf" })).toBe("Sent to 1 recipient");
    expect(sentSummary({ sent_to: ["a@x.example", "b@x.example"], subject: "s", file: "f.pdf" })).toBe("Sent to 2 recipients");
  });
  it("shows the API's message: e-mail off (409) as it is, a refusing SMTP server (503) said so", () => {
    const off = new ApiError(409, "conflict", "e-mailing reports is off on this server (smtp.url is not set)");
    expect(reportErrorMessage(off)).toBe("E-mailing reports is off on this server (smtp.url is not set)");
    const refused = new ApiError(503, "unavailable", "554 5.7.1 relay denied.");
    expect(reportErrorMessage(refused)).toBe("The mail server did not take the message: 554 5.7.1 relay denied.");
    expect(reportErrorMessage(new ApiError(503, "unavailable", ""))).toBe("The mail server did not take the message.");
    expect(reportErrorMessage(new ApiError(403, "forbidden", "the viewer role may not do this"))).toBe(
      "The viewer role may not do this. Tenant admins and analysts send reports.",
    );
    expect(reportErrorMessage(new Error("offline"))).toBe("Offline");
    expect(reportErrorMessage("?")).toBe("Something went wrong.");
  });
  it("reads the field a 400 names", () => {
    expect(errorField(new ApiError(400, "bad_request", '"x" is not an e-mail address', { field: "to" }))).toBe("to");
    expect(errorField(new ApiError(400, "bad_request", "bad", null))).toBeNull();
    expect(errorField(new Error("x"))).toBeNull();
  });
});

describe("the schedule form", () => {
  const form = (f: Partial<ScheduleForm>): ScheduleForm => ({ ...newScheduleForm(), ...f });
  it("starts monthly, on the 1st at 08:00, for last month", () => {
    expect(newScheduleForm()).toEqual({ cadence: "monthly", day: 1, hour: 8, period: "last_month", recipients: "", contacts: false, message: "" });
  });
  it("offers weekdays for weekly and 1–28 for monthly", () => {
    expect(dayOptions("weekly").map((d) => d.label)).toEqual(["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]);
    expect(dayOptions("weekly")[0].value).toBe(1);
    expect(dayOptions("monthly").map((d) => d.value)).toEqual(Array.from({ length: 28 }, (_, i) => i + 1));
  });
  it("follows a change of cadence: the day when it no longer fits, the period while it is the default", () => {
    expect(withCadence(form({ day: 20 }), "weekly")).toMatchObject({ cadence: "weekly", day: 1, period: "last_week" });
    expect(withCadence(form({ day: 5 }), "weekly")).toMatchObject({ day: 5, period: "last_week" });
    expect(withCadence(form({ period: "90d" }), "weekly").period).toBe("90d");
    expect(withCadence(form({ cadence: "weekly", period: "last_week", day: 7 }), "monthly")).toMatchObject({ day: 7, period: "last_month" });
  });
  it("builds the body the API takes", () => {
    const r = validateScheduleForm("connectwise:250", form({ recipients: "ana@client.example\nBo Li <bo@client.example>", contacts: true, message: "  " }));
    expect(r.body).toEqual({
      company: "connectwise:250",
      cadence: "monthly",
      day: 1,
      hour: 8,
      period: "last_month",
      to: ["ana@client.example", "Bo Li <bo@client.example>"],
      contacts: true,
      message: null,
    });
    expect(validateScheduleForm("c", form({ contacts: true, message: " Hi " })).body?.message).toBe("Hi");
  });
  it("refuses what the API would, by field", () => {
    expect(validateScheduleForm("c", form({ cadence: "weekly", day: 8, contacts: true })).errors).toEqual({ day: "Pick a day from 1 to 7." });
    expect(validateScheduleForm("c", form({ day: 29, hour: 24, period: "this_month", recipients: "nope", message: "x".repeat(2001) })).errors).toEqual({
      day: "Pick a day from 1 to 28.",
      hour: "Pick an hour from 00:00 to 23:00.",
      period: "Pick a period.",
      to: "“nope” is not an e-mail address.",
      message: "At most 2,000 characters.",
    });
    expect(validateScheduleForm("c", form({})).errors?.to).toMatch(/at least one recipient/);
  });
});

describe("a schedule in words", () => {
  it("tells the rule, the period and the recipients", () => {
    expect(describeSchedule(schedule()).summary).toBe(
      "Monthly on day 1 at 08:00 (Europe/Amsterdam): last month's report to the company's contacts and ana@client.example",
    );
    expect(
      describeSchedule(schedule({ cadence: "weekly", day: 7, hour: 17, tz: "UTC", period: "7d", contacts: false, to: ["a@x.example", "b@x.example", "c@x.example"] })).summary,
    ).toBe("Weekly on Sunday at 17:00 (UTC): the last 7 days' report to a@x.example, b@x.example and c@x.example");
    expect(ruleText({ cadence: "weekly", day: 1, hour: 0 })).toBe("Weekly on Monday at 00:00");
  });
  it("gives the next run and the last in the schedule's time zone", () => {
    const w = describeSchedule(schedule());
    expect(w.next).toBe("next 1 Jan 2027 08:00");
    expect(w.last).toEqual({ text: "last sent 1 Dec 2026", failed: false });
    expect(scheduleText(schedule())).toBe(
      "Monthly on day 1 at 08:00 (Europe/Amsterdam): last month's report to the company's contacts and ana@client.example · next 1 Jan 2027 08:00 · last sent 1 Dec 2026",
    );
  });
  it("says when the last attempt failed, and why", () => {
    expect(describeSchedule(schedule({ last_status: "failed", last_error: "554 relay denied" })).last).toEqual({
      text: "last attempt failed: 554 relay denied",
      failed: true,
    });
    expect(describeSchedule(schedule({ last_status: "failed", last_error: null })).last).toEqual({ text: "last attempt failed", failed: true });
    expect(describeSchedule(schedule({ last_status: "sending" })).last).toEqual({ text: "sending now", failed: false });
    expect(describeSchedule(schedule({ last_status: null, last_run_at: null })).last).toBeNull();
    expect(scheduleText(schedule({ last_status: null, last_run_at: null }))).toMatch(/· next 1 Jan 2027 08:00$/);
  });
  it("phrases periods and recipients", () => {
    expect(periodPhrase("last_week")).toBe("last week's report");
    expect(periodPhrase("last_quarter")).toBe("last quarter's report");
    expect(periodPhrase("90d")).toBe("the last 90 days' report");
    expect(recipientsPhrase([], true)).toBe("the company's contacts");
    expect(recipientsPhrase(["a@x.example"], false)).toBe("a@x.example");
    expect(recipientsPhrase([], false)).toBe("no one");
    expect(joinWords(["a", "b"])).toBe("a and b");
  });
});

describe("dates in a time zone", () => {
  it("formats in the zone, not the machine's", () => {
    expect(formatInZone("2026-12-31T23:30:00Z", "Europe/Amsterdam")).toBe("1 Jan 2027 00:30");
    expect(formatInZone("2026-12-31T23:30:00Z", "America/New_York", false)).toBe("31 Dec 2026");
    expect(formatInZone("2026-09-05T12:00:00Z", "UTC")).toBe("5 Sep 2026 12:00");
    expect(formatInZone("2026-09-05T12:00:00Z", "Not/AZone")).toBe("5 Sep 2026 12:00");
    expect(formatInZone(null, "UTC")).toBe("");
    expect(formatInZone("soon", "UTC")).toBe("");
  });
  it("shows a period's last day, not the next", () => {
    expect(periodRange("2026-10-31T23:00:00Z", "2026-11-30T23:00:00Z", "Europe/Amsterdam")).toBe("1 Nov 2026 – 30 Nov 2026");
    expect(periodRange("2026-11-01T00:00:00Z", "2026-11-01T00:00:00Z", "UTC")).toBe("1 Nov 2026 – 1 Nov 2026");
  });
});

describe("downloading the PDF", () => {
  class Mem implements KeyValueStorage {
    m = new Map<string, string>();
    getItem(k: string) {
      return this.m.get(k) ?? null;
    }
    setItem(k: string, v: string) {
      this.m.set(k, v);
    }
    removeItem(k: string) {
      this.m.delete(k);
    }
  }
  function client() {
    const tokens = new TokenStore(new Mem());
    tokens.save({ access_token: "t", refresh_token: "", token_type: "Bearer", expires_in: 900, user: undefined as never });
    const fetch = vi.fn(async (_path: string, init?: RequestInit) => {
      const accept = new Headers(init?.headers).get("Accept");
      return new Response(accept === "application/pdf" ? "%PDF-1.7 …" : "id,name\n", {
        status: 200,
        headers: {
          "Content-Type": accept ?? "",
          "Content-Disposition": `attachment; filename="${accept === "application/pdf" ? "contoso-ltd-report-2026-11-01.pdf" : "companies.csv"}"`,
        },
      });
    });
    return { api: createApiClient({ fetch, tokens }), fetch };
  }
  it("asks for a PDF and keeps the server's file name", async () => {
    const { api, fetch } = client();
    const got = await api.download(reportPdfPath("connectwise:250", "last_month"), "application/pdf");
    expect(got.filename).toBe("contoso-ltd-report-2026-11-01.pdf");
    expect(await got.blob.text()).toMatch(/^%PDF/);
    expect(new Headers(fetch.mock.calls[0][1]?.headers).get("Authorization")).toBe("Bearer t");
  });
  it("still asks for CSV by default", async () => {
    const { api, fetch } = client();
    expect((await api.download("/api/companies/export")).filename).toBe("companies.csv");
    expect(new Headers(fetch.mock.calls[0][1]?.headers).get("Accept")).toBe("text/csv");
  });
});
