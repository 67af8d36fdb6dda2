import { describe, expect, it } from "vitest";
import {
  formatShortDateTime,
  fieldLabel,
  formatDecimal,
  billableLabel,
  formatDate,
  formatHours,
  formatInt,
  formatRelative,
  formatValue,
  isIsoDate,
  pageCount,
  pageLimit,
} from "./format";

describe("formatInt", () => {
  it("uses en-US thousands separators", () => {
    expect(formatInt(20000)).toBe("20,000");
    expect(formatInt(1234567)).toBe("1,234,567");
    expect(formatInt(0)).toBe("0");
    expect(formatInt(999)).toBe("999");
  });
  it("renders missing values as a dash", () => {
    expect(formatInt(null)).toBe("—");
    expect(formatInt(undefined)).toBe("—");
    expect(formatInt(Number.NaN)).toBe("—");
  });
});

describe("billableLabel", () => {
  it("says ConnectWise's codes as people do", () => {
    expect(billableLabel("DoNotBill")).toBe("Do not bill");
    expect(billableLabel("NoCharge")).toBe("No charge");
    expect(billableLabel("Something else")).toBe("Something else");
    expect(billableLabel(null)).toBe("—");
  });
});

describe("formatHours", () => {
  it("keeps quarter hours exact, with at least one decimal", () => {
    expect(formatHours(12345.5)).toBe("12,345.5");
    expect(formatHours(2.25)).toBe("2.25");
    expect(formatHours(0.75)).toBe("0.75");
    expect(formatHours(12345.564)).toBe("12,345.56");
    expect(formatHours(7)).toBe("7.0");
    expect(formatHours(0)).toBe("0.0");
  });
  it("renders missing values as a dash", () => {
    expect(formatHours(null)).toBe("—");
  });
});

describe("misc helpers", () => {
  it("formatDecimal keeps up to two decimals", () => {
    expect(formatDecimal(1234.5)).toBe("1,234.5");
    expect(formatDecimal(150)).toBe("150");
    expect(formatDecimal(0.125)).toBe("0.13");
  });
  it("pageLimit stops where the API stops listing", () => {
    expect(pageLimit(20_000, 50)).toBe(200);
    expect(pageLimit(9_999, 50)).toBe(200);
    expect(pageLimit(120, 50)).toBe(3);
    expect(pageLimit(1_000_000, 500)).toBe(20);
    expect(pageLimit(0, 50)).toBe(1);
  });

  it("pageCount is at least 1", () => {
    expect(pageCount(0, 50)).toBe(1);
    expect(pageCount(50, 50)).toBe(1);
    expect(pageCount(51, 50)).toBe(2);
    expect(pageCount(20000, 50)).toBe(400);
    expect(pageCount(10, 0)).toBe(1);
  });
  it("fieldLabel humanises snake_case", () => {
    expect(fieldLabel("annual_revenue")).toBe("Annual revenue");
    expect(fieldLabel("company_id")).toBe("Company ID");
    expect(fieldLabel("id")).toBe("ID");
    expect(fieldLabel("sla_met")).toBe("SLA met");
  });
  it("isIsoDate recognises RFC3339 and dates only", () => {
    expect(isIsoDate("2024-05-01T10:20:30Z")).toBe(true);
    expect(isIsoDate("2024-05-01T10:20:30.123+02:00")).toBe(true);
    expect(isIsoDate("2024-05-01")).toBe(true);
    expect(isIsoDate("connectwise:123")).toBe(false);
    expect(isIsoDate("12345")).toBe(false);
  });
  it("formatValue handles scalars", () => {
    expect(formatValue(null)).toBe("—");
    expect(formatValue(true)).toBe("Yes");
    expect(formatValue(false)).toBe("No");
    expect(formatValue("x")).toBe("x");
    expect(formatValue(1500000)).toBe("1,500,000");
    expect(formatValue("2024-05-01")).toBe("2024-05-01");
  });
  it("formatRelative", () => {
    const now = Date.parse("2024-05-01T12:00:00Z");
    expect(formatRelative(null, now)).toBe("never");
    expect(formatRelative("2024-05-01T11:59:50Z", now)).toBe("just now");
    expect(formatRelative("2024-05-01T11:55:00Z", now)).toBe("5 minutes ago");
    expect(formatRelative("2024-05-01T11:00:00Z", now)).toBe("1 hour ago");
    expect(formatRelative("2024-04-28T12:00:00Z", now)).toBe("3 days ago");
  });
});

import { apiDetailPath, apiListPath, detailPath, FIELD_LINKS, listPath, referenceOf, ticketNumber } from "./resources";

describe("resource paths", () => {
  it("encodes ids", () => {
    expect(detailPath("companies", "connectwise:123")).toBe("/companies/connectwise%3A123");
    expect(apiDetailPath("time-entries", "cw:1/2")).toBe("/api/time-entries/cw%3A1%2F2");
  });
  it("builds list query strings", () => {
    expect(apiListPath("tickets", { page: 2, pageSize: 50 })).toBe("/api/tickets?page=2&page_size=50");
    expect(apiListPath("tickets", { page: 1, pageSize: 25, q: " printer jam ", sort: "status", order: "desc" })).toBe(
      "/api/tickets?page=1&page_size=25&q=printer+jam&sort=status&order=desc",
    );
  });
  it("builds the UI list behind a detail page's table", () => {
    expect(listPath("tickets", [["company", "connectwise:250"], ["open", "true"]], { key: "opened_at", order: "desc" })).toBe(
      "/tickets?company=connectwise%3A250&open=true&sort=opened_at&order=desc",
    );
    expect(listPath("contacts", [])).toBe("/contacts");
  });
  it("knows which fields name other records", () => {
    expect(FIELD_LINKS.owner_id).toBe("members");
    expect(FIELD_LINKS.company_id).toBe("companies");
    expect(referenceOf("ticket_summary")?.idKey).toBe("ticket_id");
    expect(referenceOf("member_id")?.filter).toBe("member");
    expect(referenceOf("name")).toBeUndefined();
  });
});

describe("formatDate", () => {
  it("shows only the date", () => {
    expect(formatDate("2024-05-01")).toBe("2024-05-01");
    expect(formatDate("2024-05-01T12:00:00Z")).toMatch(/^(Apr 30|May 1|May 2), 2024$/);
    expect(formatDate(null)).toBe("—");
    expect(formatDate("soon")).toBe("soon");
  });
});

describe("ticket numbers", () => {
  it("shows each source's own number", () => {
    expect(ticketNumber({ source_service: "connectwise", number: "241000" })).toBe("#241000");
    expect(ticketNumber({ source_service: "servicenow", number: "INC0010001" })).toBe("INC0010001");
    expect(ticketNumber({ source_service: "salesforce", number: "00001026" })).toBe("00001026");
    expect(ticketNumber({ source_service: "connectwise", number: null })).toBe("");
  });
});

describe("short times", () => {
  it("leave out this year's year", () => {
    const now = new Date("2026-12-05T12:00:00Z");
    expect(formatShortDateTime("2026-12-04T22:14:00Z", now)).not.toContain("2026");
    expect(formatShortDateTime("2025-12-04T22:14:00Z", now)).toContain("2025");
    expect(formatShortDateTime(null, now)).toBe("—");
  });
});
