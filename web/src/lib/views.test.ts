import { describe, expect, it } from "vitest";
import {
  checkViewName,
  describeQuery,
  MAX_VIEW_NAME_CHARS,
  pagePath,
  queryTooLong,
  showsView,
  sortViews,
  viewHref,
  viewPath,
  viewQuery,
  viewsPath,
} from "./views";

describe("viewQuery", () => {
  it("keeps everything but paging", () => {
    expect(viewQuery(new URLSearchParams("status=New&page=3&page_size=100&q=printer&sort=opened_at&order=desc"))).toBe(
      "order=desc&page_size=100&q=printer&sort=opened_at&status=New",
    );
    expect(viewQuery("page=2")).toBe("");
    expect(viewQuery("")).toBe("");
  });
  it("keeps the dashboard's period, range and filters", () => {
    expect(viewQuery("period=custom&from=2024-01-01&to=2024-03-31&board=Service&compare=none")).toBe(
      "board=Service&compare=none&from=2024-01-01&period=custom&to=2024-03-31",
    );
  });
  it("drops empty values and nameless parameters", () => {
    expect(viewQuery("q=&status=New&=x&sort=")).toBe("status=New");
  });
  it("orders parameters canonically, keeping a repeated one's values in order", () => {
    expect(viewQuery("status=B&company=c1&status=A")).toBe("company=c1&status=B&status=A");
    expect(viewQuery("b=1&a=2")).toBe(viewQuery("a=2&b=1"));
  });
  it("encodes as the API accepts: no spaces, no '#', escapes for the rest", () => {
    const q = viewQuery(new URLSearchParams([["q", "printer jam #2"], ["company", "connectwise:250"], ["x", "café"]]));
    expect(q).toBe("company=connectwise%3A250&q=printer+jam+%232&x=caf%C3%A9");
    expect(q).toMatch(/^[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*$/);
    // And reads back as it was.
    expect(new URLSearchParams(q).get("q")).toBe("printer jam #2");
  });
  it("never starts with '?' and does not read one as part of a name", () => {
    expect(viewQuery("?status=New&page=1")).toBe("status=New");
  });
});

describe("showsView", () => {
  it("is whether the page's parameters are the view's, paging, order and encoding aside", () => {
    const view = { query: "status=New&sort=opened_at" };
    expect(showsView(new URLSearchParams("sort=opened_at&status=New&page=4"), view)).toBe(true);
    expect(showsView("status=New&sort=opened_at&q=", view)).toBe(true);
    expect(showsView("status=New", view)).toBe(false);
    expect(showsView("status=New&sort=opened_at&order=desc", view)).toBe(false);
    expect(showsView("company=connectwise:250", { query: "company=connectwise%3A250" })).toBe(true);
    expect(showsView("", { query: "" })).toBe(true);
  });
});

describe("paths", () => {
  it("opens a view on its page with its query", () => {
    expect(viewHref({ page: "tickets", query: "status=New" })).toBe("/tickets?status=New");
    expect(viewHref({ page: "time-entries", query: "" })).toBe("/time-entries");
    expect(viewHref({ page: "dashboard", query: "period=90d" })).toBe("/?period=90d");
    expect(viewHref({ page: "dashboard", query: "" })).toBe("/");
    expect(pagePath("members")).toBe("/members");
  });
  it("names the API's routes", () => {
    expect(viewsPath("time-entries")).toBe("/api/views?page=time-entries");
    expect(viewPath("0190b3c4-7a41-7000-8000-000000000000")).toBe("/api/views/0190b3c4-7a41-7000-8000-000000000000");
  });
});

describe("checkViewName", () => {
  it("trims and accepts up to 80 characters, not bytes", () => {
    expect(checkViewName("  Open tickets ")).toEqual({ name: "Open tickets" });
    expect(checkViewName("é".repeat(MAX_VIEW_NAME_CHARS))).toEqual({ name: "é".repeat(MAX_VIEW_NAME_CHARS) });
    expect(checkViewName("🙂".repeat(MAX_VIEW_NAME_CHARS))).toEqual({ name: "🙂".repeat(MAX_VIEW_NAME_CHARS) });
  });
  it("refuses what the API refuses", () => {
    for (const bad of ["", "   ", "x".repeat(MAX_VIEW_NAME_CHARS + 1), "two\nlines", "tab\there", "c1\u0085"]) {
      expect(checkViewName(bad)).toHaveProperty("error");
    }
  });
});

describe("queryTooLong", () => {
  it("counts bytes against the API's 2000", () => {
    expect(queryTooLong("q=" + "a".repeat(1998))).toBe(false);
    expect(queryTooLong("q=" + "a".repeat(1999))).toBe(true);
  });
});

describe("sortViews", () => {
  it("sorts by name as people do: case and accents aside, numbers by value", () => {
    const names = sortViews([{ name: "beta" }, { name: "Zeta" }, { name: "Alpha" }, { name: "view 10" }, { name: "view 9" }, { name: "Éclair" }]).map((v) => v.name);
    expect(names).toEqual(["Alpha", "beta", "Éclair", "view 9", "view 10", "Zeta"]);
  });
  it("does not change its argument", () => {
    const views = [{ name: "b" }, { name: "a" }];
    sortViews(views);
    expect(views.map((v) => v.name)).toEqual(["b", "a"]);
  });
});

describe("describeQuery", () => {
  it("reads a query for a person", () => {
    expect(describeQuery("status=New&opened_from=2024-01-01&q=printer+jam&company=connectwise%3A250")).toBe(
      "status: New, opened from: 2024-01-01, q: printer jam, company: connectwise:250",
    );
    expect(describeQuery("")).toBe("");
    expect(describeQuery("q=")).toBe("");
  });
});
