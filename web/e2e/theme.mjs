// End-to-end check of the colour theme, run by dashboard.mjs once it is signed in (on any
// page with the app's header):
//
// With the OS in dark mode (Chromium emulating prefers-color-scheme: dark) and the
// theme on "System", the dashboard, the Tickets list and a ticket's page are dark: the
// page's and the cards' backgrounds are dark, the body text and headings light, the
// chart axes readable, and no text on them falls under WCAG AA contrast against what is
// behind it (screenshots e2e-artifacts/dark-dashboard.png, dark-list.png,
// dark-detail.png). The header's switch turns the theme to Light, which stays after a
// reload and is applied before the app's script runs (the script blocked: no dark
// flash); back on System the page is dark again, and follows the OS when it changes.
//
// The UI is found by data-testid; colours are read as the browser computes them.
import path from "node:path";

const KEY = "avesa.theme";
/** The app's bundle: blocked to see what the page looks like before it runs. */
const APP_SCRIPT = /\/assets\/[^/]+\.js(\?.*)?$/;

/**
 * @param {object} ctx
 * @param {import("playwright-core").Page} ctx.page   signed in, on a page with the header
 * @param {string} ctx.artifacts                       where screenshots go
 * @param {(msg: string) => never} ctx.fail
 * @param {(msg: string) => void} ctx.log
 * @param {(name: string) => void} ctx.setStep
 * @param {number} ctx.timeout                         per-step timeout (ms)
 */
export async function checkTheme({ page, artifacts, fail, log, setStep, timeout }) {
  const sel = (id) => `[data-testid="${id}"]`;
  const nav = (name) => page.getByRole("navigation", { name: "Main" }).getByRole("link", { name, exact: true });
  const isDark = () => page.evaluate(() => document.documentElement.classList.contains("dark"));
  const stored = () => page.evaluate((k) => localStorage.getItem(k), KEY);
  const waitDark = async (want, what) => {
    await page
      .waitForFunction((w) => document.documentElement.classList.contains("dark") === w, want, { timeout })
      .catch(() => fail(`${what}: the page should be ${want ? "dark" : "light"} (class "dark" on <html> ${want ? "missing" : "present"})`));
  };

  /**
   * Colours of the elements a selector picks (the first), as the user sees them: its text
   * colour (fill for SVG text), the background behind it (its own and its ancestors'
   * composited up to an opaque one), their relative luminances and contrast ratio.
   */
  const look = (selector) =>
    page.evaluate((s) => {
      const el = document.querySelector(s);
      if (!el) return null;
      return window.__avesaColours.look(el);
    }, selector);

  // Colour helpers in the page (any CSS colour syntax: the canvas parses it).
  const install = () =>
    page.evaluate(() => {
      if (window.__avesaColours) return;
      const canvas = document.createElement("canvas");
      canvas.width = canvas.height = 1;
      const ctx = canvas.getContext("2d", { willReadFrequently: true });
      const rgba = (css) => {
        if (!css || css === "transparent" || css === "none") return [0, 0, 0, 0];
        ctx.clearRect(0, 0, 1, 1);
        ctx.fillStyle = "rgba(0,0,0,0)";
        ctx.fillStyle = css;
        ctx.fillRect(0, 0, 1, 1);
        const d = ctx.getImageData(0, 0, 1, 1).data;
        return [d[0], d[1], d[2], d[3] / 255];
      };
      const over = (top, bottom) => {
        const a = top[3] + bottom[3] * (1 - top[3]);
        if (a === 0) return [0, 0, 0, 0];
        return [0, 1, 2].map((i) => (top[i] * top[3] + bottom[i] * bottom[3] * (1 - top[3])) / a).concat(a);
      };
      const lum = ([r, g, b]) => {
        const f = (c) => ((c /= 255) <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
        return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
      };
      const background = (el) => {
        const layers = [];
        for (let e = el; e; e = e.parentElement) {
          const c = rgba(getComputedStyle(e).backgroundColor);
          if (c[3] > 0) layers.push(c);
          if (c[3] >= 1) break;
        }
        // Under everything, the page's canvas (what the root's background paints).
        let acc = rgba(getComputedStyle(document.documentElement).colorScheme === "dark" ? "#000" : "#fff");
        acc[3] = 1;
        for (const c of layers.reverse()) acc = over(c, acc);
        return acc;
      };
      const look = (el) => {
        const cs = getComputedStyle(el);
        const svg = el instanceof SVGElement;
        const bg = background(el);
        const fg = over(rgba(svg ? cs.fill : cs.color), bg);
        const lf = lum(fg);
        const lb = lum(bg);
        const size = parseFloat(cs.fontSize);
        return {
          fg: `rgb(${fg.slice(0, 3).map(Math.round).join(",")})`,
          bg: `rgb(${bg.slice(0, 3).map(Math.round).join(",")})`,
          fgLum: lf,
          bgLum: lb,
          contrast: (Math.max(lf, lb) + 0.05) / (Math.min(lf, lb) + 0.05),
          large: size >= 24 || (size >= 18.66 && Number(cs.fontWeight) >= 700),
        };
      };
      /** Text under WCAG AA against its background, in `root` (at most `max`). */
      const lowContrast = (root, max) => {
        const out = [];
        for (const el of root.querySelectorAll("*")) {
          if (el.closest('.sr-only,[aria-hidden="true"],[disabled],[inert]')) continue;
          const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim() !== "");
          if (!own) continue;
          const r = el.getBoundingClientRect();
          if (r.width < 2 || r.height < 2) continue;
          let opaque = true;
          for (let e = el; e; e = e.parentElement) if (Number(getComputedStyle(e).opacity) < 1) opaque = false;
          // Half-transparent: a list refreshing, a control disabled. Not the resting look.
          if (!opaque) continue;
          const l = look(el);
          const need = l.large ? 3 : 4.5;
          if (l.contrast < need) {
            out.push(`"${el.textContent.trim().slice(0, 40)}" ${l.fg} on ${l.bg}: ${l.contrast.toFixed(2)} < ${need}`);
            if (out.length >= max) break;
          }
        }
        return out;
      };
      window.__avesaColours = { look, lowContrast };
    });

  /** Fails unless the page and the card in `cardSelector` are dark with light text. */
  const assertDark = async (what, cardSelector, textSelectors) => {
    await install();
    const body = await look("body");
    if (!(body.bgLum < 0.05)) fail(`${what}: the page's background is not dark: ${body.bg}`);
    if (!(body.fgLum > 0.6)) fail(`${what}: the body text is not light: ${body.fg}`);
    const card = await look(cardSelector);
    if (!card) fail(`${what}: nothing matches ${cardSelector}`);
    if (!(card.bgLum < 0.05)) fail(`${what}: the background of ${cardSelector} is not dark: ${card.bg}`);
    for (const s of textSelectors) {
      const t = await look(s);
      if (!t) fail(`${what}: nothing matches ${s}`);
      if (!(t.fgLum > 0.3) || t.contrast < 4.5) fail(`${what}: ${s} is not light text on dark: ${t.fg} on ${t.bg} (${t.contrast.toFixed(2)}:1)`);
    }
    const low = await page.evaluate(() => window.__avesaColours.lowContrast(document.body, 8));
    if (low.length) fail(`${what}: text under WCAG AA contrast in the dark theme:\n  ${low.join("\n  ")}`);
  };

  /** Reloads with the app's script blocked: what the page is before React runs. */
  const beforeTheApp = async () => {
    const block = (route) => route.abort();
    await page.route(APP_SCRIPT, block);
    try {
      await page.reload({ waitUntil: "load" });
      await install();
      return {
        dark: await isDark(),
        body: await look("body"),
        rendered: await page.evaluate(() => document.getElementById("root")?.childElementCount ?? 0),
      };
    } finally {
      await page.unroute(APP_SCRIPT, block);
    }
  };
  const reloadApp = async () => {
    await page.reload({ waitUntil: "domcontentloaded" });
    await page.getByTestId("theme-toggle").waitFor({ state: "visible" });
  };
  const choiceIs = async (want, what) => {
    await page
      .waitForFunction(([s, w]) => document.querySelector(s)?.getAttribute("data-choice") === w, [sel("theme-toggle"), want], { timeout })
      .catch(async () => fail(`${what}: the theme switch shows ${JSON.stringify(await page.getByTestId("theme-toggle").getAttribute("data-choice"))}, expected ${want}`));
    if (!(await page.getByTestId(`theme-${want}`).locator("input").isChecked())) fail(`${what}: the ${want} option is not checked`);
  };

  // ---- dark by the OS, theme on System ----

  setStep("theme: System follows the OS into dark");
  await page.getByTestId("theme-toggle").waitFor({ state: "visible" });
  if ((await page.getByTestId("theme-toggle").getAttribute("data-choice")) !== "system") {
    await page.getByTestId("theme-system").click();
  }
  await choiceIs("system", "at the start");
  await page.emulateMedia({ colorScheme: "dark" });
  await waitDark(true, "the OS turned dark, the theme on System (no reload)");

  setStep("theme: the dashboard in dark");
  await nav("Dashboard").click();
  await page.waitForURL((u) => u.pathname === "/");
  await page.getByTestId("kpi-tickets_opened").waitFor({ state: "visible" });
  await page.locator(`${sel("status-chart")} .recharts-bar-rectangle`).first().waitFor({ state: "attached" });
  await page.locator(`${sel("opened-closed-chart")} .recharts-cartesian-axis-tick-value`).first().waitFor({ state: "attached" });
  await assertDark("dashboard", sel("kpi-tickets_opened-card"), [
    "main h1",
    sel("kpi-tickets_opened"),
    `${sel("status-chart")} .recharts-cartesian-axis-tick-value`,
    `${sel("opened-closed-chart")} .recharts-cartesian-axis-tick-value`,
  ]);
  await page.screenshot({ path: path.join(artifacts, "dark-dashboard.png"), fullPage: true });
  log("dark dashboard: dark page and cards, light text, readable axes");

  setStep("theme: a list in dark");
  await nav("Tickets").click();
  await page.waitForURL((u) => u.pathname === "/tickets");
  await page.locator(`${sel("list-table")} ${sel("list-row")}`).first().waitFor({ state: "visible" });
  await assertDark("tickets list", sel("list-table"), ["main h1", `${sel("list-row")} td`, `${sel("list-table")} thead th`, sel("page-indicator")]);
  await page.screenshot({ path: path.join(artifacts, "dark-list.png"), fullPage: true });
  log("dark list: dark table, light text");

  setStep("theme: a detail page in dark");
  await page.locator(`${sel("list-table")} ${sel("list-row")} a`).first().click();
  await page.waitForURL((u) => /^\/tickets\/.+/.test(u.pathname));
  await page.getByTestId("detail-title").waitFor({ state: "visible" });
  await page.getByTestId("history-toggle").click();
  await page.locator(`${sel("history-list")} ${sel("history-version")}`).first().waitFor({ state: "visible" });
  await assertDark("ticket page", sel("detail"), [sel("detail-title"), `${sel("detail")} dd`, `${sel("detail")} dt`]);
  await page.screenshot({ path: path.join(artifacts, "dark-detail.png"), fullPage: true });
  log("dark detail page: dark cards, light text");

  // ---- the switch: Light, kept across a reload and applied before the app runs ----

  setStep("theme: switch to Light");
  await page.getByTestId("theme-light").click();
  await waitDark(false, "after choosing Light");
  await choiceIs("light", "after choosing Light");
  if ((await stored()) !== "light") fail(`after choosing Light, localStorage ${KEY} is ${JSON.stringify(await stored())}`);
  const light = await look("body");
  if (!(light.bgLum > 0.8)) fail(`Light chosen under a dark OS, the page's background is ${light.bg}`);

  setStep("theme: Light stays across a reload, before the app runs");
  const early = await beforeTheApp();
  if (early.rendered !== 0) fail("the app rendered although its script was blocked");
  if (early.dark || !(early.body.bgLum > 0.8)) fail(`reloaded with Light chosen, before the app runs the page is ${early.dark ? "dark" : "light"} on ${early.body.bg}`);
  await reloadApp();
  await choiceIs("light", "after a reload");
  if (await isDark()) fail("after a reload with Light chosen the page is dark");
  log("Light: kept across a reload, applied before the app's script");

  setStep("theme: back to System");
  await page.getByTestId("theme-system").click();
  await waitDark(true, "back on System under a dark OS");
  await choiceIs("system", "back on System");
  if ((await stored()) !== null) fail(`back on System, localStorage ${KEY} is still ${JSON.stringify(await stored())}`);
  const sys = await beforeTheApp();
  if (!sys.dark || !(sys.body.bgLum < 0.05)) fail(`reloaded on System under a dark OS, before the app runs the page is ${sys.dark ? "dark" : "light"} on ${sys.body.bg}`);
  await reloadApp();
  await waitDark(true, "reloaded on System under a dark OS");

  setStep("theme: System follows the OS back to light");
  await page.emulateMedia({ colorScheme: "light" });
  await waitDark(false, "the OS turned light, the theme on System");
  log("System: follows the OS both ways, nothing stored");

  await nav("Dashboard").click();
  await page.waitForURL((u) => u.pathname === "/");
  await page.getByTestId("kpi-tickets_opened").waitFor({ state: "visible" });
}
