// End-to-end check of the lists and the dashboard's filters, run by dashboard.mjs once it
// is signed in: the tickets list filtered from its Filters panel (a status, then a company
// found by name with the arrow keys), the chips naming what they filter, a chip removed;
// a column header sorting; paging to the next page (back at the top); a search by a
// client's name; the column picker; time entries by billable option; the dashboard's
// status filter changing its cards; a backlog-ageing bar opening the tickets it counts;
// a phone's card layout and navigation drawer (Escape closes it); the tenant's accent
// colour on the app.
//
// Every expected value is read from the API first; the UI is found by data-testid.

import { sameFigure } from "./session.mjs";

/**
 * @param {object} ctx
 * @param {import("playwright-core").Page} ctx.page   signed in
 * @param {string} ctx.base
 * @param {(path: string) => Promise<any>} ctx.get    GET an API path with the user's token
 * @param {(method: string, path: string, body?: any) => Promise<any>} ctx.send
 * @param {(msg: string) => never} ctx.fail
 * @param {(msg: string) => void} ctx.log
 * @param {(name: string) => void} ctx.setStep
 * @param {number} ctx.timeout                         per-step timeout (ms)
 */
export async function checkListsAndFilters({ page, base, get, send, fail, log, setStep, timeout }) {
  const enc = encodeURIComponent;
  const text = async (testId) => ((await page.getByTestId(testId).first().textContent()) ?? "").trim();
  const waitTotal = async (want, what) => {
    await page
      .waitForFunction(
        (v) => document.querySelector('[data-testid="list-total"]')?.getAttribute("data-value") === String(v),
        want,
        { timeout },
      )
      .catch(async () =>
        fail(`${what}: the list says ${await page.getByTestId("list-total").getAttribute("data-value")} records, the API ${want}`),
      );
  };
  const options = async (testId) => {
    await page.waitForFunction((id) => (document.querySelector(`[data-testid="${id}"]`)?.querySelectorAll("option").length ?? 0) > 1, testId, { timeout });
    return page.getByTestId(testId).locator("option").evaluateAll((os) => os.map((o) => o.value).filter((v) => v !== ""));
  };
  const firstRowId = async () => {
    const href = await page.locator('[data-testid="list-row"] a').first().getAttribute("href");
    return decodeURIComponent((href ?? "").split("?")[0].split("/").pop() ?? "");
  };
  const goto = async (p) => page.goto(`${base}${p}`, { waitUntil: "domcontentloaded" });

  // 1. Tickets by status, from the Filters panel.
  setStep("lists: tickets filtered by status");
  await goto("/tickets");
  await waitTotal((await get("/api/tickets?page_size=1")).total, "all tickets");
  await page.getByTestId("filters-toggle").click();
  await page.getByTestId("list-filter-panel").waitFor({ state: "visible", timeout });
  const statuses = await options("filter-status");
  let status = null;
  let byStatus = null;
  for (const s of statuses) {
    const p = await get(`/api/tickets?page_size=1&status=${enc(s)}`);
    if (p.total > 0 && p.items[0].company_id && p.items[0].company_name) {
      status = s;
      byStatus = p;
      break;
    }
  }
  if (!status) fail(`no status among ${JSON.stringify(statuses)} has tickets of a named company`);
  await page.getByTestId("filter-status").selectOption(status);
  await page.waitForURL((u) => u.searchParams.get("status") === status, { timeout });
  await waitTotal(byStatus.total, `status ${status}`);
  if (!(await text("chip-status")).includes(status)) fail(`the status chip says ${JSON.stringify(await text("chip-status"))}`);

  // 2. And a company, found by its name with the keyboard: the chip names it.
  setStep("lists: a company found by name");
  const company = { id: byStatus.items[0].company_id, name: byStatus.items[0].company_name };
  const picker = page.getByTestId("filter-company");
  await picker.fill(company.name);
  const optionsList = page.locator("#filter-company-options [role=option]");
  await page
    .waitForFunction(
      (name) => [...document.querySelectorAll("#filter-company-options [role=option]")].some((o) => o.textContent?.trim() === name),
      company.name,
      { timeout },
    )
    .catch(() => fail(`the company picker does not offer ${JSON.stringify(company.name)}`));
  const names = (await optionsList.allTextContents()).map((t) => t.trim());
  const at = names.indexOf(company.name);
  for (let i = 0; i <= at; i++) await picker.press("ArrowDown");
  const activeOption = await picker.getAttribute("aria-activedescendant");
  if (activeOption !== `filter-company-options-${at}`) fail(`arrow keys: the active option is ${activeOption}, expected number ${at}`);
  await picker.press("Enter");
  await page.waitForURL((u) => u.searchParams.get("company") === company.id, { timeout });
  const both = await get(`/api/tickets?page_size=1&status=${enc(status)}&company=${enc(company.id)}`);
  await waitTotal(both.total, `status ${status} of ${company.name}`);
  await page
    .waitForFunction((name) => (document.querySelector('[data-testid="chip-company"]')?.textContent ?? "").includes(name), company.name, { timeout })
    .catch(async () => fail(`the company chip says ${JSON.stringify(await text("chip-company"))}, not ${JSON.stringify(company.name)}`));
  if ((await text("chip-company")).includes(company.id)) fail(`the company chip shows the id: ${await text("chip-company")}`);

  // 3. The status chip removed: the company's tickets of every status.
  setStep("lists: a chip removed");
  await page.getByTestId("chip-status").getByRole("button").click();
  await page.waitForURL((u) => !u.searchParams.has("status") && u.searchParams.get("company") === company.id, { timeout });
  const ofCompany = await get(`/api/tickets?page_size=1&company=${enc(company.id)}`);
  await waitTotal(ofCompany.total, `tickets of ${company.name}`);
  log(`lists: ${byStatus.total} tickets ${status}, ${both.total} of them ${company.name}'s; ${ofCompany.total} of ${company.name} in all`);

  // 4. A column header sorts (opened: newest first by default, then oldest first).
  setStep("lists: sort by a column");
  const opened = page.locator('[data-testid="list-table"] th').filter({ hasText: "Opened" });
  if ((await opened.getAttribute("aria-sort")) !== "descending") fail(`the list does not open newest first: aria-sort=${await opened.getAttribute("aria-sort")}`);
  await opened.getByRole("button").click();
  await page.waitForURL((u) => u.searchParams.get("sort") === "opened_at" && u.searchParams.get("order") === "asc", { timeout });
  const oldest = await get(`/api/tickets?page_size=50&company=${enc(company.id)}&sort=opened_at&order=asc`);
  await page
    .waitForFunction(
      (id) => decodeURIComponent(document.querySelector('[data-testid="list-row"] a')?.getAttribute("href")?.split("/").pop() ?? "") === id,
      oldest.items[0].id,
      { timeout },
    )
    .catch(async () => fail(`sorted oldest first, the first row is ${await firstRowId()}, the API's ${oldest.items[0].id}`));
  if ((await opened.getAttribute("aria-sort")) !== "ascending") fail("the Opened header does not say ascending");

  // 5. The next page: its rows are the API's second page, shown from the top.
  setStep("lists: next page");
  await goto("/tickets");
  const second = await get("/api/tickets?page=2&page_size=50&sort=opened_at&order=desc");
  await page.locator('[data-testid="list-row"]').first().waitFor({ state: "visible", timeout });
  await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
  await page.getByTestId("next-page").click();
  await page.waitForURL((u) => u.searchParams.get("page") === "2", { timeout });
  await page
    .waitForFunction(
      (id) => decodeURIComponent(document.querySelector('[data-testid="list-row"] a')?.getAttribute("href")?.split("/").pop() ?? "") === id,
      second.items[0].id,
      { timeout },
    )
    .catch(async () => fail(`page 2 starts with ${await firstRowId()}, the API's with ${second.items[0].id}`));
  const rows = await page.locator('[data-testid="list-row"]').count();
  if (rows !== second.items.length) fail(`page 2 shows ${rows} rows, the API ${second.items.length}`);
  if (!(await text("page-indicator")).startsWith("Page 2 of")) fail(`the page indicator says ${await text("page-indicator")}`);
  const scrolled = await page.evaluate(() => window.scrollY);
  if (scrolled !== 0) fail(`the next page is shown scrolled ${scrolled} px down`);

  // 6. A search by the client's name finds the client's tickets.
  setStep("lists: search by a company's name");
  await goto("/tickets");
  await page.getByTestId("search").fill(company.name);
  await page.waitForURL((u) => u.searchParams.get("q") === company.name, { timeout });
  const found = await get(`/api/tickets?page_size=1&q=${enc(company.name)}`);
  if (!(found.total >= ofCompany.total && found.total > 0)) fail(`searching ${JSON.stringify(company.name)}: the API finds ${found.total} tickets, ${company.name} has ${ofCompany.total}`);
  await waitTotal(found.total, `search ${company.name}`);
  log(`lists: oldest-first sort, page 2 and a search by "${company.name}" (${found.total} tickets) as the API lists them`);

  // 7. The column picker adds a column and takes it away.
  setStep("lists: column picker");
  const headers = async () => (await page.locator('[data-testid="list-table"] th').allTextContents()).map((t) => t.replace(/[▲▼↕]/g, "").trim());
  const before = await headers();
  const col = "Closed";
  await page.getByTestId("column-picker").click();
  const box = page.getByRole("group", { name: "Columns shown" }).getByLabel(col);
  const wasOn = before.includes(col);
  await box.click();
  await page.waitForFunction(
    ([c, on]) => [...document.querySelectorAll('[data-testid="list-table"] th')].some((th) => th.textContent?.includes(c)) === on,
    [col, !wasOn],
    { timeout },
  );
  await box.click();
  await page.keyboard.press("Escape");
  if (JSON.stringify(await headers()) !== JSON.stringify(before)) fail(`the column picker did not put the columns back: ${await headers()}`);

  // 8. Time entries by billable option: the chip says it as people do.
  setStep("lists: time entries by billable option");
  await goto("/time-entries");
  await page.getByTestId("filters-toggle").click();
  const billables = await options("filter-billable");
  const billable = billables.includes("Billable") ? "Billable" : billables[0];
  if (billable) {
    await page.getByTestId("filter-billable").selectOption(billable);
    await page.waitForURL((u) => u.searchParams.get("billable") === billable, { timeout });
    await waitTotal((await get(`/api/time-entries?page_size=1&billable=${enc(billable)}`)).total, `time entries ${billable}`);
    log(`lists: time entries "${billable}" as the API counts them (chip "${await text("chip-billable")}")`);
  }

  // 9. The dashboard's status filter changes its cards.
  setStep("dashboard: a status filter");
  await goto("/?period=90d");
  await page.getByTestId("kpi-tickets_opened").waitFor({ state: "visible", timeout });
  const dashStatuses = await options("filter-status");
  const dashStatus = dashStatuses.includes(status) ? status : dashStatuses[0];
  const filtered = await get(`/api/analytics/metrics/tickets_opened?period=90d&status=${enc(dashStatus)}`);
  const all90 = await get("/api/analytics/metrics/tickets_opened?period=90d");
  await page.getByTestId("filter-status").selectOption(dashStatus);
  await page.waitForURL((u) => u.searchParams.get("status") === dashStatus, { timeout });
  await page
    .waitForFunction(
      (v) => document.querySelector('[data-testid="kpi-tickets_opened"]')?.getAttribute("data-value") === String(v),
      filtered.value,
      { timeout },
    )
    .catch(async () => fail(`status ${dashStatus}: the card says ${await page.getByTestId("kpi-tickets_opened").getAttribute("data-value")}, the API ${filtered.value}`));
  // Every card is then the API's figure with that filter (or says it does not apply).
  const shownCards = await page.locator('[data-testid^="kpi-"][data-value]').evaluateAll((els) =>
    els.map((e) => [e.getAttribute("data-testid").slice(4), e.getAttribute("data-value")]),
  );
  const kpis = await get(`/api/analytics/kpis?metrics=${shownCards.map(([m]) => m).join(",")}&period=90d&status=${enc(dashStatus)}`);
  const byMetric = new Map(kpis.items.map((m) => [m.metric, m]));
  const off = [];
  for (const [metric, raw] of shownCards) {
    const want = byMetric.get(metric)?.value ?? null;
    const ok = sameFigure(metric, raw, want);
    if (!ok) off.push(`${metric}: UI ${raw}, API ${want}`);
  }
  if (off.length) fail(`status ${dashStatus}: cards differ from the API:\n  ${off.join("\n  ")}`);
  // The backlog-by-status chart holds only that status now.
  const statusRows = () =>
    page.locator('[data-testid="status-chart"] table tbody tr').evaluateAll((rows) => rows.map((r) => r.querySelector("th")?.textContent?.trim()));
  await page
    .waitForFunction(
      (s) => [...document.querySelectorAll('[data-testid="status-chart"] table tbody tr th')].every((th) => th.textContent?.trim() === s),
      dashStatus,
      { timeout },
    )
    .catch(async () => fail(`with status ${dashStatus} the status chart shows ${JSON.stringify(await statusRows())}`));
  log(`dashboard: status ${dashStatus} turns "opened, 90 days" from ${all90.value} to ${filtered.value}; all ${shownCards.length} cards and the status chart follow`);

  // 10. A backlog-ageing bar opens the tickets it counts.
  setStep("dashboard: an ageing bar drills");
  await goto("/?period=90d");
  const ageing = page.locator('[data-testid="ageing-chart"]');
  await ageing.locator("svg").first().waitFor({ state: "visible", timeout });
  const links = ageing.locator("ul.sr-only a");
  await links.first().waitFor({ state: "attached", timeout });
  const hrefs = await links.evaluateAll((as) => as.map((a) => [a.textContent, a.getAttribute("href")]));
  let drilled = false;
  for (const [label, href] of hrefs) {
    const apiPath = `/api${href}`;
    const want = (await get(`${apiPath}&page_size=1`)).total;
    if (want === 0) continue;
    await links.filter({ hasText: label }).first().evaluate((a) => a.click());
    await page.waitForURL((u) => u.pathname === "/tickets" && u.searchParams.has("open_at"), { timeout });
    await waitTotal(want, `the ${label} bar's tickets`);
    await page.getByTestId("chip-opened").waitFor({ state: "visible", timeout });
    log(`dashboard: the "${label}" ageing bar opens its ${want} tickets`);
    drilled = true;
    break;
  }
  if (!drilled) fail(`no ageing bar has tickets: ${JSON.stringify(hrefs)}`);

  // 11. At 1280 px every list's default columns fit: nothing cut off, no sideways scroll.
  const size = page.viewportSize();
  await page.setViewportSize({ width: 1280, height: 800 });
  for (const list of ["tickets", "time-entries", "companies", "contacts", "members"]) {
    setStep(`lists: ${list} at 1280 px`);
    await goto(`/${list}`);
    await page.locator('[data-testid="list-row"]').first().waitFor({ state: "visible", timeout });
    const fit = await page.evaluate(() => {
      const t = document.querySelector('[data-testid="list-table"]');
      return { table: t.scrollWidth, box: t.parentElement.clientWidth };
    });
    if (fit.table > fit.box) fail(`at 1280 px the ${list} table is ${fit.table} px wide in ${fit.box} px`);
  }
  log("lists: every list's columns fit at 1280 px");

  // 12. A phone: cards instead of the table; the navigation drawer closes on Escape.
  setStep("phone: list cards and the navigation drawer");
  await page.setViewportSize({ width: 390, height: 844 });
  await goto("/tickets");
  await page.locator('[data-testid="list-cards"] li').first().waitFor({ state: "visible", timeout });
  if (await page.getByTestId("list-table").isVisible()) fail("a phone shows the tickets table");
  const menu = page.getByRole("button", { name: "Open navigation" });
  await menu.click();
  const drawer = page.getByTestId("nav-drawer");
  await drawer.waitFor({ state: "visible", timeout });
  const inDrawer = await page.evaluate(() => document.activeElement?.closest('[data-testid="nav-drawer"]') !== null);
  if (!inDrawer) fail("the opened drawer does not hold the focus");
  await page.keyboard.press("Escape");
  await drawer.waitFor({ state: "detached", timeout });
  const onMenu = await page.evaluate(() => document.activeElement?.getAttribute("aria-label"));
  if (onMenu !== "Open navigation") fail(`after Escape the focus is on ${onMenu}, not the menu button`);
  if (size) await page.setViewportSize(size);
  log("phone: tickets as cards; the navigation drawer takes the focus and closes on Escape");

  // 13. The tenant's accent colour on the app, readable; back to the default after.
  setStep("branding: the accent colour");
  await send("PUT", "/api/admin/branding", { accent: "#facc15" });
  try {
    await goto("/tickets");
    const button = page.getByTestId("filters-toggle");
    await button.waitFor({ state: "visible", timeout });
    await page.waitForFunction(() => document.querySelector("style[data-avesa-accent]") !== null, undefined, { timeout });
    const [nav, primary] = await page.locator('[data-testid="nav-tickets"]').first().evaluate((el) => [
      getComputedStyle(el).backgroundColor,
      getComputedStyle(document.documentElement).getPropertyValue("--avesa-primary").trim(),
    ]);
    const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(primary);
    if (!m) fail(`--avesa-primary is ${JSON.stringify(primary)}, not the tenant's shade`);
    const want = `rgb(${parseInt(m[1], 16)}, ${parseInt(m[2], 16)}, ${parseInt(m[3], 16)})`;
    // Yellow darkened until white text reads on it.
    if (nav !== want || primary.toLowerCase() === "#facc15") fail(`the selected navigation item is ${nav}, the accent ${primary}`);
  } finally {
    await send("PUT", "/api/admin/branding", { accent: "" });
  }
  log("branding: the tenant's accent colour shows, darkened to stay readable");
}
