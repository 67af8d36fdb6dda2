// Automated accessibility check (axe-core), run by dashboard.mjs near its end.
//
// In a browser context of its own (so nothing the other checks left behind counts), axe-core
// runs on every page of the app, in light and in dark (Chromium emulating the OS's
// prefers-color-scheme with the theme on System, as e2e/theme.mjs does): the login page
// signed out, the dashboard, each list (companies, contacts, tickets, time entries,
// members), one record's page of each kind, goals, present mode, and operations (services,
// runs, one run's page, users, branding); and with dialogs open: the e-mail report dialog
// on a company's page and the "Save current view…" dialog on the Tickets list. Any
// violation of impact "serious" or "critical" fails the check, listed with the rule's id,
// impact, help and its first targets (every page is checked before failing, so one run
// shows them all).
//
// axe-core is evaluated in the page through the DevTools protocol (page.evaluate), which
// the server's CSP (script-src 'self') does not block, unlike an inline <script> tag.
import fs from "node:fs";
import { createRequire } from "node:module";
import { signedInContext, firstId } from "./session.mjs";

const require = createRequire(import.meta.url);
const AXE_SOURCE = fs.readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const FAILING = new Set(["serious", "critical"]);

/**
 * @param {object} ctx
 * @param {import("playwright-core").Browser} ctx.browser
 * @param {string} ctx.base
 * @param {string} ctx.tenant
 * @param {string} ctx.email
 * @param {string} ctx.password
 * @param {(path: string) => Promise<any>} ctx.get   the API as the signed-in user
 * @param {(msg: string) => never} ctx.fail
 * @param {(msg: string) => void} ctx.log
 * @param {(name: string) => void} ctx.setStep
 * @param {number} ctx.timeout                       per-step timeout (ms)
 */
export async function checkAccessibility({ browser, base, tenant, email, password, get, fail, log, setStep, timeout }) {
  const sel = (id) => `[data-testid="${id}"]`;
  const enc = encodeURIComponent;
  /** "page (scheme)" -> serious/critical violations found there. */
  const found = [];
  let checked = 0;

  /** Runs axe on the page as it is and keeps what it finds under `label`. */
  const audit = async (page, label) => {
    // Let transitions (colour fades, a list's refresh opacity) settle.
    await page.waitForTimeout(350);
    const violations = await page.evaluate(async (src) => {
      if (!window.axe) (0, eval)(src);
      const r = await window.axe.run(document, { resultTypes: ["violations"] });
      return r.violations.map((v) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        targets: v.nodes.map((n) => n.target.join(" ")),
        summary: v.nodes[0]?.failureSummary ?? "",
      }));
    }, AXE_SOURCE);
    checked += 1;
    for (const v of violations) if (FAILING.has(v.impact)) found.push({ label, ...v });
  };

  // Pages signed in: [label, path, what shows it is ready]. Ids from the API.
  const detailIds = {};
  for (const r of ["companies", "contacts", "tickets", "members", "time-entries"]) detailIds[r] = await firstId(get, r);
  const pages = [
    ["dashboard", "/", sel("kpi-tickets_opened") + "[data-value]:not([data-value=''])"],
    ["companies list", "/companies", sel("list-row")],
    ["contacts list", "/contacts", sel("list-row")],
    ["tickets list", "/tickets", sel("list-row")],
    ["time-entries list", "/time-entries", sel("list-row")],
    ["members list", "/members", sel("list-row")],
    ...Object.entries(detailIds)
      .filter(([, id]) => id)
      .map(([r, id]) => [`${r} detail`, `/${r}/${enc(id)}`, sel("detail-title")]),
    ["goals", "/goals", `${sel("goals-table")}, ${sel("goals-empty")}`],
    ["present", "/present", sel("present-slide")],
    ["operations services", "/operations/services", sel("freshness-table")],
    ["operations runs", "/operations/runs", `${sel("runs-table")}, ${sel("runs-empty")}`],
    ["operations users", "/operations/users", sel("users-table")],
    ["operations branding", "/operations/branding", sel("branding-form")],
  ];

  for (const scheme of ["light", "dark"]) {
    // Signed out: the login page.
    setStep(`a11y: login page (${scheme})`);
    const anon = await browser.newContext({ viewport: { width: 1366, height: 900 }, colorScheme: scheme });
    try {
      const p = await anon.newPage();
      await p.goto(`${base}/login`, { waitUntil: "domcontentloaded" });
      await p.locator("#tenant").waitFor({ timeout });
      await audit(p, `login (${scheme})`);
    } finally {
      await anon.close();
    }

    setStep(`a11y: sign in (${scheme})`);
    const { context, page } = await signedInContext(browser, { base, tenant, email, password, timeout, colorScheme: scheme });
    try {
      const wantDark = scheme === "dark";
      for (const [label, pathname, ready] of pages) {
        setStep(`a11y: ${label} (${scheme})`);
        await page.goto(base + pathname, { waitUntil: "domcontentloaded" });
        await page.locator(ready).first().waitFor({ timeout });
        if (label !== "present") {
          const dark = await page.evaluate(() => document.documentElement.classList.contains("dark"));
          if (dark !== wantDark) fail(`a11y: ${label} is ${dark ? "dark" : "light"} with the OS ${scheme}`);
        }
        await audit(page, `${label} (${scheme})`);

        if (label === "tickets list") {
          // Its Filters panel open, a company chosen (a named chip), the picker's options shown.
          setStep(`a11y: the tickets list's filters (${scheme})`);
          await page.getByTestId("filters-toggle").click();
          await page.getByTestId("list-filter-panel").waitFor({ timeout });
          await page.getByTestId("filter-member").focus();
          await page.locator("#filter-member-options [role=option]").first().waitFor({ timeout }).catch(() => {});
          await audit(page, `tickets list with its filters (${scheme})`);
        }
        if (label === "operations runs") {
          // One run's page.
          const link = page.locator(sel("run-link")).first();
          if (await link.count()) {
            setStep(`a11y: a run's page (${scheme})`);
            await link.click();
            await page.locator(sel("run-summary")).waitFor({ timeout });
            await audit(page, `operations run (${scheme})`);
          } else log("a11y: no run to open (the runs page is empty)");
        }
      }

      // Dialogs open.
      if (detailIds.companies) {
        setStep(`a11y: the e-mail report dialog (${scheme})`);
        await page.goto(`${base}/companies/${enc(detailIds.companies)}`, { waitUntil: "domcontentloaded" });
        await page.getByTestId("client-report-email").click();
        await page.getByTestId("report-email-dialog").waitFor({ state: "visible" });
        await audit(page, `e-mail report dialog (${scheme})`);
        await page.keyboard.press("Escape");
      }
      setStep(`a11y: the save-view dialog (${scheme})`);
      await page.goto(`${base}/tickets`, { waitUntil: "domcontentloaded" });
      await page.locator(sel("list-row")).first().waitFor({ timeout });
      await page.getByTestId("views-menu").click();
      await page.getByTestId("view-save").click();
      await page.getByTestId("view-name").waitFor({ state: "visible" });
      await audit(page, `save-view dialog (${scheme})`);
      await page.keyboard.press("Escape");
    } finally {
      await context.close();
    }
  }

  setStep("a11y: serious and critical violations");
  if (found.length) {
    const lines = found.map(
      (v) =>
        `${v.label}: ${v.id} [${v.impact}] ${v.help}\n      ${v.targets.slice(0, 4).join("\n      ")}` +
        (v.targets.length > 4 ? `\n      … and ${v.targets.length - 4} more` : "") +
        (v.summary ? `\n      ${v.summary.split("\n").slice(0, 3).join(" / ")}` : ""),
    );
    fail(`axe-core found ${found.length} serious/critical violation(s) on ${checked} page states:\n  ${lines.join("\n  ")}`);
  }
  log(`a11y: axe-core found no serious or critical violation on ${checked} page states (light and dark, dialogs open)`);
}
