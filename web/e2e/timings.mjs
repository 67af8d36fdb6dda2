// Browser timings for bench/web.sh (not a test): sign-in to an interactive dashboard and a
// click to a rendered list page, in headless Chromium against a running server.
//
//   AVESA_URL=… AVESA_TENANT=… AVESA_EMAIL=… AVESA_PASSWORD=… node e2e/timings.mjs
//
// Each of AVESA_TIMING_RUNS sign-ins (default 4) happens in a fresh browser context (no
// cached assets, no session), so the first run after the server starts also pays for the
// server's empty response cache. Per sign-in it times:
//   - sign-in click → the first KPI card holds its number;
//   - sign-in click → the dashboard is interactive: every KPI card holds its number and no
//     chart is still loading;
//   - nav click → the tickets list's rows (dashboard → Tickets, 3 times);
//   - "next page" click → the next page's rows (3 times).
// Prints one JSON object on stdout.
import { chromium } from "playwright-core";
import { performance } from "node:perf_hooks";

const EXECUTABLE = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const RUNS = Number(process.env.AVESA_TIMING_RUNS ?? 4);
const STEP_TIMEOUT_MS = 120_000;

function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`environment variable ${name} is required`);
  return v;
}
const base = env("AVESA_URL").replace(/\/+$/, "");
const tenant = env("AVESA_TENANT");
const email = env("AVESA_EMAIL");
const password = env("AVESA_PASSWORD");

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function dashboardInteractive(page) {
  await page.waitForFunction(
    () => {
      const cards = [...document.querySelectorAll('[data-testid="kpis"] [data-value]')];
      if (cards.length === 0 || cards.some((c) => c.getAttribute("data-value") === "")) return false;
      const main = document.querySelector("main") ?? document.body;
      return main.querySelectorAll(".animate-spin").length === 0 && main.querySelectorAll("figure svg").length > 0;
    },
    null,
    { timeout: STEP_TIMEOUT_MS, polling: 16 },
  );
}

async function firstCard(page) {
  await page.waitForFunction(
    () => {
      const v = document.querySelector('[data-testid="kpis"] [data-value]')?.getAttribute("data-value");
      return v !== null && v !== undefined && v !== "";
    },
    null,
    { timeout: STEP_TIMEOUT_MS, polling: 16 },
  );
}

async function oneSignIn(browser) {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("response", (r) => {
    if (r.status() >= 500) errors.push(`${r.status()} ${r.url()}`);
  });
  await page.goto(base + "/login", { waitUntil: "networkidle" });
  await page.locator("#tenant").fill(tenant);
  await page.locator("#email").fill(email);
  await page.locator("#password").fill(password);
  const t0 = performance.now();
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.waitForURL((u) => u.pathname === "/");
  await firstCard(page);
  const first = performance.now() - t0;
  await dashboardInteractive(page);
  const interactive = performance.now() - t0;

  const nav = (name) => page.getByRole("navigation", { name: "Main" }).getByRole("link", { name, exact: true });
  const list = [];
  const next = [];
  for (let i = 0; i < 3; i++) {
    await nav("Dashboard").click();
    await page.waitForURL((u) => u.pathname === "/");
    await firstCard(page);
    const t1 = performance.now();
    await nav("Tickets").click();
    await page.waitForURL((u) => u.pathname === "/tickets");
    await page.locator('[data-testid="list-row"]').first().waitFor({ state: "visible" });
    list.push(performance.now() - t1);
  }
  for (let i = 0; i < 3; i++) {
    const before = (await page.getByTestId("page-indicator").textContent())?.trim() ?? "";
    const firstRow = await page.locator('[data-testid="list-row"]').first().textContent();
    const t2 = performance.now();
    await page.getByTestId("next-page").click();
    await page.waitForFunction(
      ([b, r]) => {
        const ind = document.querySelector('[data-testid="page-indicator"]')?.textContent?.trim();
        const row = document.querySelector('[data-testid="list-row"]');
        return ind !== b && row && row.textContent !== r;
      },
      [before, firstRow],
      { timeout: STEP_TIMEOUT_MS, polling: 16 },
    );
    next.push(performance.now() - t2);
  }
  await context.close();
  if (errors.length) throw new Error(`errors while timing: ${errors.join("; ")}`);
  return { first, interactive, list, next };
}

const browser = await chromium.launch({
  executablePath: EXECUTABLE,
  headless: true,
  timeout: 60_000,
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-sync"],
});
try {
  const runs = [];
  for (let i = 0; i < RUNS; i++) runs.push(await oneSignIn(browser));
  const r = (x) => Math.round(x);
  const warm = runs.slice(1);
  const out = {
    runs: runs.length,
    first_signin: { first_card_ms: r(runs[0].first), interactive_ms: r(runs[0].interactive) },
    later_signins_median: {
      first_card_ms: r(median(warm.map((x) => x.first))),
      interactive_ms: r(median(warm.map((x) => x.interactive))),
    },
    nav_to_list_median_ms: r(median(runs.flatMap((x) => x.list))),
    nav_to_list_max_ms: r(Math.max(...runs.flatMap((x) => x.list))),
    next_page_median_ms: r(median(runs.flatMap((x) => x.next))),
    next_page_max_ms: r(Math.max(...runs.flatMap((x) => x.next))),
  };
  console.log(JSON.stringify(out));
} finally {
  await browser.close();
}
