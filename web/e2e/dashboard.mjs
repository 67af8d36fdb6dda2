// End-to-end check of the AVESA web UI against a running backend.
//
//   AVESA_URL=http://127.0.0.1:3000 AVESA_TENANT=... AVESA_EMAIL=... AVESA_PASSWORD=... npm run e2e
//
// Uses playwright-core with the system Chromium (/usr/bin/chromium by default,
// override with CHROMIUM_PATH). Exits non-zero with a message on any failure and
// prints "e2e ok" on success. Hard overall timeout: 300 s (AVESA_E2E_TIMEOUT_MS).
import { chromium } from "playwright-core";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { checkDetailPages } from "./detail.mjs";
import { checkListsAndFilters } from "./lists.mjs";
import { checkGoalsAndPresent } from "./goals.mjs";
import { checkTheme } from "./theme.mjs";
import { checkSavedViews } from "./views.mjs";
import { checkClientReports } from "./reports.mjs";
import { checkOperations } from "./operations.mjs";
import { checkAccessibility } from "./a11y.mjs";
import { takeScreenshots } from "./screenshots.mjs";
import { sameFigure } from "./session.mjs";
import { checkTenantIsolation } from "./tenants.mjs";
import { performance } from "node:perf_hooks";

const OVERALL_TIMEOUT_MS = Number(process.env.AVESA_E2E_TIMEOUT_MS ?? 300_000);
const STEP_TIMEOUT_MS = 15_000;
// Starting Chromium on a loaded 2-core machine has taken over 15 s.
const LAUNCH_TIMEOUT_MS = 60_000;
const EXECUTABLE = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const ARTIFACTS = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "e2e-artifacts");

let browser;
let page;
let step = "startup";
const consoleLines = [];

class E2EError extends Error {}
function fail(msg) {
  throw new E2EError(msg);
}
function log(msg) {
  console.log(`[e2e] ${msg}`);
}

let dying = false;
async function dumpAndExit(message) {
  if (dying) return;
  dying = true;
  console.error(`e2e FAILED during "${step}": ${message}`);
  if (consoleLines.length) {
    console.error("--- browser console / page errors (last 20) ---");
    for (const l of consoleLines.slice(-20)) console.error(l);
  }
  if (page) {
    try {
      fs.mkdirSync(ARTIFACTS, { recursive: true });
      const shot = path.join(ARTIFACTS, "failure.png");
      await Promise.race([page.screenshot({ path: shot, fullPage: true }), new Promise((r) => setTimeout(r, 3000))]);
      console.error(`url at failure: ${page.url()}\nscreenshot: ${shot}`);
    } catch {
      /* ignore */
    }
  }
  try {
    await Promise.race([browser?.close(), new Promise((r) => setTimeout(r, 3000))]);
  } catch {
    /* ignore */
  }
  process.exit(1);
}

const watchdog = setTimeout(() => {
  void dumpAndExit(`overall timeout of ${OVERALL_TIMEOUT_MS / 1000}s exceeded`);
}, OVERALL_TIMEOUT_MS);

function env(name) {
  const v = process.env[name];
  if (!v) fail(`environment variable ${name} is required`);
  return v;
}

/** The rows of a CSV text (RFC 4180: quoted fields may hold commas, quotes and line breaks). */
function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      row.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
    } else field += c;
  }
  if (field !== "" || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

async function api(base, pathname, { token, method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(base + pathname, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(STEP_TIMEOUT_MS),
    });
  } catch (e) {
    fail(`${method} ${pathname}: cannot reach ${base} (${e.cause?.code ?? e.message})`);
  }
  const text = await res.text();
  let json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    fail(`${method} ${pathname}: expected JSON, got ${res.status} ${text.slice(0, 200)}`);
  }
  if (!res.ok) fail(`${method} ${pathname}: HTTP ${res.status} ${text.slice(0, 300)}`);
  return json;
}

async function dataValue(testId) {
  const loc = page.getByTestId(testId);
  await loc.waitFor({ state: "visible" });
  // Wait until the value is populated (data-value="" while loading).
  await page.waitForFunction(
    (id) => {
      const el = document.querySelector(`[data-testid="${id}"]`);
      return el && el.getAttribute("data-value") !== null && el.getAttribute("data-value") !== "";
    },
    testId,
    { timeout: STEP_TIMEOUT_MS },
  );
  const raw = await loc.getAttribute("data-value");
  const n = Number(raw);
  if (!Number.isFinite(n)) fail(`[data-testid=${testId}] data-value is not a number: ${JSON.stringify(raw)}`);
  return n;
}

async function fillLogin(tenant, email, password, { beforeClick } = {}) {
  await page.locator("#tenant").fill(tenant);
  await page.locator("#email").fill(email);
  await page.locator("#password").fill(password);
  beforeClick?.();
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
}

/** Waits until a KPI card holds its number (data-value set, not "" as while loading). */
async function kpiNumber(testId) {
  await page.waitForFunction(
    (id) => {
      const v = document.querySelector(`[data-testid="${id}"]`)?.getAttribute("data-value");
      return v !== null && v !== undefined && v !== "";
    },
    testId,
    { timeout: STEP_TIMEOUT_MS },
  );
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main() {
  const base = env("AVESA_URL").replace(/\/+$/, "");
  const tenant = env("AVESA_TENANT");
  const email = env("AVESA_EMAIL");
  const password = env("AVESA_PASSWORD");

  // 1. Expected numbers straight from the API.
  step = "API login";
  const login = await api(base, "/auth/login", { method: "POST", body: { tenant_id: tenant, email, password } });
  if (!login?.access_token) fail("/auth/login response has no access_token");
  const token = login.access_token;
  step = "API expected values";
  const CARDS = [
    "tickets_opened", "tickets_closed", "net_ticket_change", "open_backlog", "first_response_hours_avg",
    "resolution_hours_avg", "sla_met_pct", "hours_worked", "billable_pct", "billed_amount", "utilisation_pct",
    "effective_hourly_rate",
  ];
  const kpisFor = async (period) =>
    Object.fromEntries(
      ((await api(base, `/api/analytics/kpis?metrics=${CARDS.join(",")}&period=${period}`, { token }))?.items ?? []).map(
        (m) => [m.metric, m],
      ),
    );
  const k30 = await kpisFor("30d");
  const k90 = await kpisFor("90d");
  for (const id of CARDS) if (!k30[id] || !k90[id]) fail(`/api/analytics/kpis has no ${id}`);
  if (!(k90.tickets_opened.value > 0)) fail(`the demo has no tickets opened in the last 90 days: ${JSON.stringify(k90.tickets_opened)}`);
  const ticketsTotal = (await api(base, "/api/tickets?page=1&page_size=1", { token }))?.total;
  if (typeof ticketsTotal !== "number") fail("/api/tickets response has no numeric total");
  log(`API: ${ticketsTotal} tickets, ${k90.tickets_opened.value} opened in 90 days`);

  // 2. Browser.
  step = "launch chromium";
  if (!fs.existsSync(EXECUTABLE)) fail(`Chromium not found at ${EXECUTABLE} (apt-get install -y chromium)`);
  browser = await chromium.launch({
    executablePath: EXECUTABLE,
    headless: true,
    timeout: LAUNCH_TIMEOUT_MS,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
  page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  page.setDefaultNavigationTimeout(STEP_TIMEOUT_MS);
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") consoleLines.push(`console.${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => consoleLines.push(`pageerror: ${e.message}`));

  // 3. Unauthenticated visit redirects to /login; a wrong password shows the server error.
  step = "open UI";
  await page.goto(base + "/", { waitUntil: "domcontentloaded" });
  await page.waitForURL((u) => u.pathname === "/login");
  for (const id of ["tenant", "email", "password"]) {
    const v = await page.locator(`#${id}`).inputValue();
    if (v !== "") fail(`login field #${id} should start empty, has ${JSON.stringify(v)}`);
  }

  step = "wrong password shows login-error";
  await fillLogin(tenant, email, password + "-definitely-wrong");
  const errEl = page.getByTestId("login-error");
  await errEl.waitFor({ state: "visible" });
  const errText = (await errEl.textContent())?.trim();
  if (!errText) fail("login-error is empty");
  if (new URL(page.url()).pathname !== "/login") fail(`wrong password navigated away to ${page.url()}`);
  log(`wrong password -> "${errText}"`);

  step = "login through the form";
  // Timed: from the click on "Sign in" to the dashboard's first card holding its number.
  let loginStart = 0;
  await fillLogin(tenant, email, password, { beforeClick: () => (loginStart = performance.now()) });
  await page.waitForURL((u) => u.pathname === "/");
  await page.getByTestId("kpi-tickets_opened").waitFor({ state: "visible" });
  await kpiNumber("kpi-tickets_opened");
  const loginMs = performance.now() - loginStart;

  // 4. Every card equals the API's figure for the period; the period lives in the URL.
  const checkCards = async (expected, label) => {
    const mismatches = [];
    for (const id of CARDS) {
      const raw = await page.getByTestId(`kpi-${id}`).getAttribute("data-value");
      const want = expected[id].value;
      const ok = sameFigure(id, raw, want);
      if (!ok) mismatches.push(`${id}: UI ${raw} != API ${want}`);
    }
    if (mismatches.length) fail(`${label}: KPI mismatch:\n  ${mismatches.join("\n  ")}`);
  };
  step = "dashboard KPIs, 30 days";
  await checkCards(k30, "30 days");
  log("30-day cards match the API");

  step = "period picker: 90 days";
  await page.getByTestId("period-90d").click();
  await page.waitForURL((u) => u.searchParams.get("period") === "90d");
  await page.waitForFunction(
    ([id, v]) => document.querySelector(`[data-testid="kpi-${id}"]`)?.getAttribute("data-value") === String(v),
    ["tickets_opened", k90.tickets_opened.value],
    { timeout: STEP_TIMEOUT_MS },
  );
  await checkCards(k90, "90 days");
  log("90-day cards match the API");

  step = "charts";
  for (const id of ["opened-closed-chart", "ageing-chart", "status-chart", "hours-company-chart"]) {
    await page.locator(`[data-testid="${id}"] svg`).first().waitFor({ state: "visible" });
  }
  await page.locator('[data-testid="status-chart"] .recharts-bar-rectangle').first().waitFor({ state: "attached" });
  log("charts rendered");

  step = "screenshot of the dashboard";
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, "dashboard.png"), fullPage: true });

  step = "drill from a card into its records";
  await page.getByTestId("kpi-tickets_opened").click();
  await page.waitForURL((u) => u.pathname === "/tickets" && u.searchParams.has("opened_from"));
  await page.waitForFunction(
    (v) => document.querySelector('[data-testid="list-total"]')?.getAttribute("data-value") === String(v),
    k90.tickets_opened.value,
    { timeout: STEP_TIMEOUT_MS },
  ).catch(async () => {
    const got = await page.getByTestId("list-total").getAttribute("data-value");
    fail(`the tickets behind "opened, 90 days" number ${got}, the card says ${k90.tickets_opened.value}`);
  });
  await page.getByTestId("list-filters").waitFor({ state: "visible" });
  log(`drill: ${k90.tickets_opened.value} tickets listed behind the card`);

  // 4a. The CSV export of that filtered view holds every record of it, not one page.
  step = "export the filtered list as CSV";
  const [download] = await Promise.all([
    page.waitForEvent("download", { timeout: STEP_TIMEOUT_MS }),
    page.getByTestId("export-csv").click(),
  ]);
  const csvPath = await download.path();
  if (!csvPath) fail("the export downloaded nothing");
  const csvLines = fs.readFileSync(csvPath, "utf8").split(/\r?\n/).filter((l) => l.length > 0);
  const csvHeader = csvLines[0].split(",");
  for (const col of ["id", "number", "summary", "company_name", "opened_at"]) {
    if (!csvHeader.includes(col)) fail(`the export's header lacks ${col}: ${csvLines[0]}`);
  }
  if (!/\.csv$/.test(download.suggestedFilename())) fail(`export named ${download.suggestedFilename()}`);
  // Summaries may hold line breaks inside quotes; count records by their ids instead.
  const ids = fs.readFileSync(csvPath, "utf8").match(/^[a-z]+:[^,]+,/gm) ?? [];
  if (ids.length !== k90.tickets_opened.value) {
    fail(`the export holds ${ids.length} tickets, the card says ${k90.tickets_opened.value}`);
  }
  // Its values are the API's: the first rows against the list route with the same query.
  const rowsOf = parseCsv(fs.readFileSync(csvPath, "utf8"));
  const listQuery = new URLSearchParams(new URL(page.url()).search);
  listQuery.set("sort", "opened_at");
  listQuery.set("order", "desc");
  listQuery.set("page_size", "20");
  const firstPage = (await api(base, `/api/tickets?${listQuery}`, { token })).items;
  const col = (name) => rowsOf[0].indexOf(name);
  for (const [i, item] of firstPage.entries()) {
    const row = rowsOf[i + 1];
    for (const f of ["id", "number", "status", "company_name"]) {
      const want = item[f] === null || item[f] === undefined ? "" : String(item[f]);
      const got = row?.[col(f)] ?? "(no row)";
      // A text a spreadsheet would run as a formula is written with a leading '.
      if (got !== want && got !== `'${want}`) fail(`the export's row ${i + 1} has ${f} ${JSON.stringify(got)}, the API ${JSON.stringify(want)}`);
    }
  }
  // The download went through a one-time link: it opens nothing a second time, nor without its token.
  const link = new URL(download.url());
  if (link.pathname !== "/api/tickets/export.csv" || !link.searchParams.has("download_token")) fail(`the export came from ${link.pathname}${link.search.slice(0, 80)}`);
  const reused = await fetch(`${base}${link.pathname}${link.search}`);
  if (reused.status !== 401) fail(`the download link opened the export a second time (HTTP ${reused.status})`);
  log(`export: ${ids.length} tickets in ${download.suggestedFilename()}, the first ${firstPage.length} as the API lists them; its link opens once`);

  // 4b. The refresh token is out of script's reach: an HttpOnly cookie, nothing in storage.
  step = "refresh token only in an HttpOnly cookie";
  const cookies = await context.cookies();
  const refreshCookie = cookies.find((c) => c.name === "avesa_refresh");
  if (!refreshCookie) fail(`no avesa_refresh cookie after login (cookies: ${cookies.map((c) => c.name).join(", ")})`);
  if (!refreshCookie.httpOnly || refreshCookie.sameSite !== "Strict") {
    fail(`avesa_refresh cookie is not HttpOnly+SameSite=Strict: ${JSON.stringify(refreshCookie)}`);
  }
  const visible = await page.evaluate(() => JSON.stringify({ ...localStorage }) + " " + document.cookie);
  if (visible.includes(refreshCookie.value) || visible.includes("avesa_refresh")) {
    fail("the refresh token is readable by script");
  }
  log("refresh token: HttpOnly cookie only");

  // 5. Tickets list total equals the API total.
  step = "tickets list";
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Tickets", exact: true }).click();
  await page.waitForURL((u) => u.pathname === "/tickets" && u.search === "");
  // The drill's filtered total shows until the whole list's arrives.
  await page
    .waitForFunction(
      (v) => document.querySelector('[data-testid="list-total"]')?.getAttribute("data-value") === String(v),
      ticketsTotal,
      { timeout: STEP_TIMEOUT_MS },
    )
    .catch(() => {});
  const uiTotal = await dataValue("list-total");
  if (uiTotal !== ticketsTotal) fail(`tickets list-total: UI ${uiTotal} != API ${ticketsTotal}`);
  const indicator = (await page.getByTestId("page-indicator").textContent())?.trim() ?? "";
  if (!/^Page 1 of [\d,]+$/.test(indicator)) fail(`unexpected page indicator: ${JSON.stringify(indicator)}`);
  log(`tickets total ${uiTotal} matches (${indicator})`);

  // 5b. Losing the access token (a new tab, an expired one) is recovered from the cookie.
  step = "session recovered from the refresh cookie";
  await page.evaluate(() => localStorage.removeItem("avesa.access_token"));
  await page.reload({ waitUntil: "domcontentloaded" });
  const again = await dataValue("list-total");
  if (again !== ticketsTotal) fail(`after losing the access token: list-total ${again} != ${ticketsTotal}`);
  if (new URL(page.url()).pathname !== "/tickets") fail(`sent to ${page.url()} instead of staying signed in`);
  log("session recovered from the cookie");

  // 5b2. Timed: a click on Tickets in the nav to the list's rows, 5 times from the dashboard.
  step = "timing: nav to the tickets list";
  const mainNav = (name) => page.getByRole("navigation", { name: "Main" }).getByRole("link", { name, exact: true });
  const navRuns = [];
  for (let i = 0; i < 5; i++) {
    await mainNav("Dashboard").click();
    await page.waitForURL((u) => u.pathname === "/");
    await kpiNumber("kpi-tickets_opened");
    const t0 = performance.now();
    await mainNav("Tickets").click();
    await page.waitForURL((u) => u.pathname === "/tickets");
    await page.locator('[data-testid="list-row"]').first().waitFor({ state: "visible" });
    navRuns.push(performance.now() - t0);
  }
  const timings = {
    login_to_dashboard_ms: Math.round(loginMs),
    nav_to_tickets_list_median_ms: Math.round(median(navRuns)),
    nav_to_tickets_list_runs_ms: navRuns.map(Math.round),
    measured_at: new Date().toISOString(),
  };
  log(
    `timing: login→dashboard ${timings.login_to_dashboard_ms} ms; nav→tickets list median ` +
      `${timings.nav_to_tickets_list_median_ms} ms (${navRuns.length} runs)`,
  );
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  fs.writeFileSync(path.join(ARTIFACTS, "timings.json"), JSON.stringify(timings, null, 2) + "\n");

  // 5c. Detail pages (e2e/detail.mjs): ticket -> company, related lists, history, as-of.
  await checkDetailPages({
    page,
    get: (pathname) => api(base, pathname, { token }),
    fail,
    log,
    setStep: (s) => {
      step = s;
    },
    timeout: STEP_TIMEOUT_MS,
  });

  // 5c2. Lists and filters (e2e/lists.mjs): the Filters panel, named chips, sorting,
  //      paging, a search by a client's name, the column picker, the dashboard's status
  //      filter, an ageing bar's drill, a phone's cards and drawer, the accent colour.
  await checkListsAndFilters({
    page,
    base,
    get: (pathname) => api(base, pathname, { token }),
    send: (method, pathname, body) => api(base, pathname, { token, method, body }),
    fail,
    log,
    setStep: (s) => {
      step = s;
    },
    timeout: STEP_TIMEOUT_MS,
  });

  // 5d. Goals (set on a card, listed, removed) and present mode (e2e/goals.mjs).
  await checkGoalsAndPresent({
    page,
    base,
    get: (pathname) => api(base, pathname, { token }),
    send: (method, pathname, body) => api(base, pathname, { token, method, body }),
    k30,
    k90,
    artifacts: ARTIFACTS,
    fail,
    log,
    setStep: (s) => {
      step = s;
    },
    timeout: STEP_TIMEOUT_MS,
  });

  // 5e. Saved views (e2e/views.mjs): a filtered tickets view saved, applied from the menu
  //     after a reload, renamed and deleted; a dashboard view keeping its period.
  await checkSavedViews({
    page,
    base,
    get: (pathname) => api(base, pathname, { token }),
    send: (method, pathname, body) => api(base, pathname, { token, method, body }),
    fail,
    log,
    setStep: (s) => {
      step = s;
    },
    timeout: STEP_TIMEOUT_MS,
  });

  // 5e2. Client reports (e2e/reports.mjs): a company's PDF downloaded, e-mailed to a
  //      made-up address (the server needs smtp.url: AVESA_TEST_SMTP), a monthly schedule
  //      made and deleted.
  await checkClientReports({
    page,
    base,
    get: (pathname) => api(base, pathname, { token }),
    artifacts: ARTIFACTS,
    fail,
    log,
    setStep: (s) => {
      step = s;
    },
    timeout: STEP_TIMEOUT_MS,
  });

  // 5e3. Operations (e2e/operations.mjs): services with freshness, the credentials dialog
  //      (nothing stored shown) and its connection test, a sync of one table followed live
  //      to its end, users added, re-roled and disabled, and a viewer who never sees any of it.
  await checkOperations({
    browser,
    page,
    base,
    tenant,
    get: (pathname) => api(base, pathname, { token }),
    send: (method, pathname, body) => api(base, pathname, { token, method, body }),
    artifacts: ARTIFACTS,
    fail,
    log,
    setStep: (s) => {
      step = s;
    },
    timeout: STEP_TIMEOUT_MS,
  });

  // 5f. Dark mode (e2e/theme.mjs): the OS's dark, the header's System / Light / Dark switch.
  await checkTheme({
    page,
    artifacts: ARTIFACTS,
    fail,
    log,
    setStep: (s) => {
      step = s;
    },
    timeout: STEP_TIMEOUT_MS,
  });

  // 5g. Tenant isolation (e2e/tenants.mjs): the second tenant (AVESA_TENANT2, AVESA_EMAIL2,
  //     AVESA_PASSWORD2; skipped without them) finds none of the first tenant's companies.
  await checkTenantIsolation({
    browser,
    base,
    tenant,
    get: (pathname) => api(base, pathname, { token }),
    api,
    fail,
    log,
    setStep: (s) => {
      step = s;
    },
    timeout: STEP_TIMEOUT_MS,
  });

  // 5h. Accessibility (e2e/a11y.mjs): axe-core on every page, light and dark, dialogs open;
  //     no serious or critical violation.
  const ownContext = {
    browser,
    base,
    tenant,
    email,
    password,
    get: (pathname) => api(base, pathname, { token }),
    fail,
    log,
    setStep: (s) => {
      step = s;
    },
    timeout: STEP_TIMEOUT_MS,
  };
  await checkAccessibility(ownContext);

  // 5i. Screenshots for the docs (e2e/screenshots.mjs), only with AVESA_E2E_SCREENSHOTS_DIR.
  await takeScreenshots(ownContext);

  step = "no content-security-policy violations";
  const csp = consoleLines.filter((l) => /Content Security Policy|Refused to/i.test(l));
  if (csp.length) fail(`the page broke its CSP:\n  ${csp.join("\n  ")}`);

  // 6. Logout returns to the login page.
  step = "logout";
  await page.getByTestId("logout").click();
  await page.waitForURL((u) => u.pathname === "/login");
  const stored = await page.evaluate(() => localStorage.getItem("avesa.access_token"));
  if (stored) fail("access token still in localStorage after logout");
  if ((await context.cookies()).some((c) => c.name === "avesa_refresh" && c.value)) {
    fail("the refresh cookie outlived logout");
  }

  step = "shutdown";
  await browser.close();
  browser = undefined;
  clearTimeout(watchdog);
  console.log("e2e ok");
}

main().catch((e) => dumpAndExit(e instanceof E2EError ? e.message : (e?.stack ?? String(e))));
