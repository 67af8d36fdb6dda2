// Screenshots for the docs, run by dashboard.mjs; does nothing unless
// AVESA_E2E_SCREENSHOTS_DIR is set (docs/screenshots/README.md).
//
// Each page (dashboard, the tickets, companies, contacts and technicians lists, a company's page, a ticket's page, billable time
// entries, a technician's page, goals, present mode, operations services, runs, users and
// branding) at desktop (1440×900), tablet (820×1180) and phone
// (390×844) width, light theme, saved as `<page>-<width>.png`. A page is shot whole unless
// it is more than twice the window's height, then only the window (the files stay small).
import fs from "node:fs";
import path from "node:path";
import { signedInContext, firstId } from "./session.mjs";

export const SIZES = [
  { width: 1440, height: 900 },
  { width: 820, height: 1180 },
  { width: 390, height: 844 },
];

/**
 * @param {object} ctx
 * @param {import("playwright-core").Browser} ctx.browser
 * @param {string} ctx.base
 * @param {string} ctx.tenant
 * @param {string} ctx.email
 * @param {string} ctx.password
 * @param {(path: string) => Promise<any>} ctx.get
 * @param {(msg: string) => never} ctx.fail
 * @param {(msg: string) => void} ctx.log
 * @param {(name: string) => void} ctx.setStep
 * @param {number} ctx.timeout
 */
export async function takeScreenshots({ browser, base, tenant, email, password, get, fail, log, setStep, timeout }) {
  const dir = process.env.AVESA_E2E_SCREENSHOTS_DIR;
  if (!dir) {
    log("screenshots: AVESA_E2E_SCREENSHOTS_DIR not set, none taken");
    return;
  }
  fs.mkdirSync(dir, { recursive: true });
  const sel = (id) => `[data-testid="${id}"]`;
  const enc = encodeURIComponent;
  // The company with the newest ticket, so its page has tickets, contacts and figures.
  const newest = (await get("/api/tickets?page=1&page_size=1&sort=opened_at&order=desc"))?.items?.[0];
  if (!newest) fail("screenshots: the API lists no ticket");
  const companyId = newest.company_id ?? (await firstId(get, "companies"));
  // The technician with the most hours in 90 days, so their page has figures and a trend.
  const busiest = (await get("/api/analytics/metrics/hours_worked?period=90d&group_by=member&compare=none&limit=1"))?.groups?.[0]?.key;
  const memberId = busiest ?? (await firstId(get, "members"));
  const pages = [
    ["dashboard", "/", `${sel("status-chart")} .recharts-bar-rectangle`],
    ["tickets", "/tickets", sel("list-row")],
    ["companies", "/companies", sel("list-row")],
    ["contacts", "/contacts", sel("list-row")],
    ["members", "/members", sel("list-row")],
    ["company", `/companies/${enc(companyId)}`, sel("detail-title")],
    ["ticket", `/tickets/${enc(newest.id)}`, sel("detail-title")],
    ["time-entries", "/time-entries?billable=Billable", sel("list-row")],
    ["member", `/members/${enc(memberId)}`, sel("detail-title")],
    ["goals", "/goals", `${sel("goals-table")}, ${sel("goals-empty")}`],
    ["present", "/present", `${sel("present-slide")} .recharts-surface`],
    ["operations-services", "/operations/services", sel("freshness-table")],
    ["operations-runs", "/operations/runs", `${sel("runs-table")}, ${sel("runs-empty")}`],
    ["operations-users", "/operations/users", `${sel("users-table")}, ${sel("users-empty")}`],
    ["operations-branding", "/operations/branding", sel("branding-form")],
  ];

  setStep("screenshots: sign in");
  const { context, page } = await signedInContext(browser, { base, tenant, email, password, timeout, viewport: SIZES[0] });
  let n = 0;
  try {
    for (const size of SIZES) {
      await page.setViewportSize(size);
      for (const [name, pathname, ready] of pages) {
        setStep(`screenshots: ${name} at ${size.width}`);
        await page.goto(base + pathname, { waitUntil: "domcontentloaded" });
        await page.locator(ready).first().waitFor({ state: "attached", timeout });
        // Charts animate in; lists fade in after a refresh.
        await page.waitForTimeout(1200);
        const height = await page.evaluate(() => document.documentElement.scrollHeight);
        const file = path.join(dir, `${name}-${size.width}.png`);
        await page.screenshot({ path: file, fullPage: height <= size.height * 2, animations: "disabled" });
        n += 1;
      }
    }
  } finally {
    await context.close();
  }
  log(`screenshots: ${n} saved in ${dir}`);
}
