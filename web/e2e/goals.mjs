// End-to-end check of goals and present (TV) mode, run by dashboard.mjs once it is signed
// in as the demo's tenant admin (on any page with the app's navigation):
//
// Goals: the "tickets opened" card's "Set goal" opens the goal dialog (focus in its target
// field, Escape closes it and gives focus back, the direction defaults from the metric's
// `better`, the period from the dashboard's); an empty target and a negative band are
// refused beside their fields; a saved goal is in `GET /api/analytics/goals`, and the card
// then shows the goal status the API gives; the Goals page lists it with the status the
// API gives for the goal's running span; removing it there clears it everywhere.
//
// Present: the dashboard's "Present" button opens /present with the dashboard's period;
// the page is dark, full screen, without the app's navigation, and every card equals
// the API's figure; with ?rotate=2 a slide advances by itself, space pauses it, the arrow
// moves it; at 1920×1080 and 3840×2160 there are no scrollbars and no text under ~2% of
// the screen's height (screenshots in e2e-artifacts/). Escape returns to the dashboard.
//
// Every expected value is read from the API first; the UI is found by data-testid.
import path from "node:path";
import { sameFigure } from "./session.mjs";

const METRIC = "tickets_opened";

/**
 * @param {object} ctx
 * @param {import("playwright-core").Page} ctx.page   signed in as a tenant admin
 * @param {string} ctx.base                            the server's URL
 * @param {(path: string) => Promise<any>} ctx.get    GET an API path with the user's token
 * @param {(method: string, path: string, body?: any) => Promise<any>} ctx.send
 * @param {Record<string, any>} ctx.k30               /api/analytics/kpis items by metric, 30 days
 * @param {Record<string, any>} ctx.k90               … 90 days
 * @param {string} ctx.artifacts                       where screenshots go
 * @param {(msg: string) => never} ctx.fail
 * @param {(msg: string) => void} ctx.log
 * @param {(name: string) => void} ctx.setStep
 * @param {number} ctx.timeout                         per-step timeout (ms)
 */
export async function checkGoalsAndPresent({ page, base, get, send, k30, k90, artifacts, fail, log, setStep, timeout }) {
  const sel = (id) => `[data-testid="${id}"]`;
  const attr = async (testId, name) => page.locator(sel(testId)).first().getAttribute(name).catch(() => null);
  const waitAttr = async (testId, name, want, what) => {
    await page
      .waitForFunction(
        ([s, n, v]) => document.querySelector(s)?.getAttribute(n) === v,
        [sel(testId), name, String(want)],
        { timeout },
      )
      .catch(async () => fail(`${what}: [data-testid=${testId}] ${name}=${JSON.stringify(await attr(testId, name))}, expected ${JSON.stringify(String(want))}`));
  };
  const gone = async (testId, what) => {
    await page
      .locator(sel(testId))
      .first()
      .waitFor({ state: "detached", timeout })
      .catch(() => fail(`${what}: [data-testid=${testId}] is still there`));
  };
  const activeTestId = () => page.evaluate(() => document.activeElement?.getAttribute("data-testid") ?? document.activeElement?.tagName ?? null);
  const nav = (name) => page.getByRole("navigation", { name: "Main" }).getByRole("link", { name, exact: true });
  const goalOf = async (metric) => ((await get("/api/analytics/goals"))?.items ?? []).find((g) => g.metric === metric);
  const apiStatus = async (metric, period) => {
    const m = (await get(`/api/analytics/kpis?metrics=${metric}&period=${period}`))?.items?.[0];
    if (!m?.goal) fail(`/api/analytics/kpis?metrics=${metric}&period=${period} has no goal: ${JSON.stringify(m).slice(0, 300)}`);
    return m.goal.status ?? "none";
  };

  // ---- goals ----

  setStep("goals: start from no goal on tickets opened");
  const earlier = await goalOf(METRIC);
  if (earlier) await send("DELETE", `/api/admin/goals/${METRIC}`);
  const v30 = k30[METRIC].value;
  const better = k30[METRIC].better;
  if (typeof v30 !== "number") fail(`the 30-day ${METRIC} is ${JSON.stringify(v30)}`);

  setStep("goals: dashboard card offers 'Set goal'");
  await nav("Dashboard").click();
  await page.waitForURL((u) => u.pathname === "/");
  await waitAttr(`kpi-${METRIC}`, "data-value", v30, "the 30-day card");
  if ((await page.locator(sel(`kpi-${METRIC}-goal`)).count()) !== 0) fail("the card shows a goal before one was set");
  const edit = page.getByTestId(`kpi-${METRIC}-goal-edit`);
  const editText = ((await edit.textContent()) ?? "").trim();
  if (editText !== "Set goal") fail(`the card's goal control reads ${JSON.stringify(editText)}, expected "Set goal"`);

  setStep("goals: the dialog opens focused and closes on Escape");
  await edit.click();
  await page.getByTestId("goal-dialog").waitFor({ state: "visible" });
  await page.waitForFunction(() => document.activeElement?.getAttribute("data-testid") === "goal-target", null, { timeout }).catch(async () =>
    fail(`the dialog opened with focus on ${JSON.stringify(await activeTestId())}, not its target field`),
  );
  const wantDirection = better === "higher" ? "at_least" : "at_most";
  if (!(await page.getByTestId(`goal-direction-${wantDirection}`).isChecked())) {
    fail(`the direction should default to ${wantDirection} (the metric is better ${better})`);
  }
  const period = await page.getByTestId("goal-period").inputValue();
  if (period !== "month") fail(`a new goal on the 30-day dashboard should be for a month, the dialog says ${JSON.stringify(period)}`);
  // Its label names the field (accessible name).
  if ((await page.getByLabel("Target", { exact: true }).count()) !== 1) fail("the target field has no 'Target' label");
  await page.keyboard.press("Escape");
  await gone("goal-dialog", "Escape");
  if ((await activeTestId()) !== `kpi-${METRIC}-goal-edit`) fail(`after Escape focus is on ${JSON.stringify(await activeTestId())}, not the button that opened the dialog`);

  setStep("goals: the dialog refuses an empty target and a negative band");
  await edit.click();
  await page.getByTestId("goal-dialog").waitFor({ state: "visible" });
  await page.getByTestId("goal-target").fill("");
  await page.getByTestId("goal-save").click();
  await page.getByTestId("goal-target-error").waitFor({ state: "visible" });
  if ((await page.getByTestId("goal-target").getAttribute("aria-invalid")) !== "true") fail("an empty target is not marked aria-invalid");
  const target = Math.max(1, Math.round(v30 / 2));
  const band = Math.max(1, Math.round(v30 / 4));
  await page.getByTestId("goal-target").fill(String(target));
  await page.getByTestId("goal-warning_band").fill("-3");
  await page.getByTestId("goal-save").click();
  await page.getByTestId("goal-warning_band-error").waitFor({ state: "visible" });
  if (!(await page.getByTestId("goal-dialog").isVisible())) fail("the dialog closed on an invalid band");

  setStep("goals: save a goal through the dialog");
  await page.getByTestId("goal-warning_band").fill(String(band));
  await page.getByTestId("goal-save").click();
  await gone("goal-dialog", "after Save");
  const saved = await goalOf(METRIC);
  if (!saved) fail("after Save, GET /api/analytics/goals has no goal on tickets_opened");
  const want = { target, direction: wantDirection, warning_band: band, period: "month" };
  for (const [k, v] of Object.entries(want)) {
    if (saved.goal[k] !== v) fail(`the saved goal's ${k} is ${JSON.stringify(saved.goal[k])}, expected ${JSON.stringify(v)}`);
  }

  setStep("goals: the card shows the API's goal status");
  const status30 = await apiStatus(METRIC, "30d");
  if (status30 === "none") fail("the API gives the new goal no status for 30 days");
  await waitAttr(`kpi-${METRIC}-goal`, "data-status", status30, "the card's goal chip");
  await waitAttr(`kpi-${METRIC}-card`, "data-goal-status", status30, "the card's colour");
  if (((await edit.textContent()) ?? "").trim() !== "Edit goal") fail("with a goal the card's control should read 'Edit goal'");
  await page.screenshot({ path: path.join(artifacts, "dashboard-goal.png") });
  log(`goal ≤ ${target} a month on tickets opened: card ${status30}`);

  setStep("goals: the Goals page lists it");
  await nav("Goals").click();
  await page.waitForURL((u) => u.pathname === "/goals");
  await page.getByTestId(`goal-row-${METRIC}`).waitFor({ state: "visible" });
  const row = ((await page.getByTestId(`goal-row-${METRIC}`).textContent()) ?? "").trim();
  if (!row.includes(saved.label)) fail(`the goal's row does not name ${JSON.stringify(saved.label)}: ${JSON.stringify(row)}`);
  await waitAttr(`goal-row-${METRIC}`, "data-target", target, "the goal's row");
  const statusNow = await apiStatus(METRIC, "this_month");
  await waitAttr(`goal-row-${METRIC}-status`, "data-status", statusNow, "the goal's current status (this month)");
  log(`Goals page lists it: ${statusNow} this month`);

  setStep("goals: remove it from the Goals page");
  await page.getByTestId(`goal-row-${METRIC}-edit`).click();
  await page.getByTestId("goal-dialog").waitFor({ state: "visible" });
  const shown = await page.getByTestId("goal-target").inputValue();
  if (Number(shown) !== target) fail(`the dialog shows target ${JSON.stringify(shown)}, the goal's is ${target}`);
  await page.getByTestId("goal-remove").click();
  await gone("goal-dialog", "after Remove");
  await gone(`goal-row-${METRIC}`, "after Remove");
  if (await goalOf(METRIC)) fail("after Remove the API still has the goal");
  await nav("Dashboard").click();
  await page.waitForURL((u) => u.pathname === "/");
  await page.getByTestId(`kpi-${METRIC}`).waitFor({ state: "visible" });
  await gone(`kpi-${METRIC}-goal`, "the card's goal chip after Remove");
  log("goal removed");
  if (earlier) await send("PUT", `/api/admin/goals/${METRIC}`, earlier.goal);

  // ---- present mode ----

  const presentValues = async (expected, what) => {
    const ids = Object.keys(expected);
    const bad = [];
    for (const id of ids) {
      const raw = await attr(`present-kpi-${id}`, "data-value");
      const want = expected[id].value;
      const ok = sameFigure(id, raw, want);
      if (!ok) bad.push(`${id}: present ${raw} != API ${want}`);
    }
    if (bad.length) fail(`${what}:\n  ${bad.join("\n  ")}`);
  };
  const activeSlide = () => page.locator('[data-testid="present-slide"][data-active="true"]').first().getAttribute("data-slide");

  setStep("present: the dashboard's Present button keeps its period");
  await page.getByTestId("period-90d").click();
  await page.waitForURL((u) => u.searchParams.get("period") === "90d");
  // The router renders a navigation in a transition: the address bar changes first, and
  // on a busy machine the page (and the Present link's target) a moment later.
  await waitAttr("period-90d", "aria-checked", "true", "the 90-day period after its click");
  await page
    .waitForFunction((s) => /[?&]period=90d(&|$)/.test(document.querySelector(s)?.getAttribute("href") ?? ""), sel("present-link"), { timeout })
    .catch(async () => fail(`the Present link still leads to ${JSON.stringify(await attr("present-link", "href"))} after the 90-day period was chosen`));
  await page.getByTestId("present-link").click();
  await page.waitForURL((u) => u.pathname === "/present" && u.searchParams.get("period") === "90d");
  await page.getByTestId("present").waitFor({ state: "visible" });
  await waitAttr(`present-kpi-${METRIC}`, "data-value", k90[METRIC].value, "present mode, 90 days");
  await presentValues(k90, "present mode's cards (90 days) differ from the API");
  if ((await page.getByRole("navigation", { name: "Main" }).count()) !== 0) fail("present mode shows the app's navigation");
  log("present mode: 90-day cards match the API");
  await page.keyboard.press("Escape");
  await page.waitForURL((u) => u.pathname === "/" && u.searchParams.get("period") === "90d");

  setStep("present: dark, full screen, figures as the API's");
  await page.goto(`${base}/present?rotate=2`, { waitUntil: "domcontentloaded" });
  await page.getByTestId("present").waitFor({ state: "visible" });
  await waitAttr(`present-kpi-${METRIC}`, "data-value", k30[METRIC].value, "present mode, 30 days");
  await presentValues(k30, "present mode's cards (30 days) differ from the API");
  const look = await page.evaluate(() => {
    const el = document.querySelector('[data-testid="present"]');
    const r = el.getBoundingClientRect();
    const bg = getComputedStyle(el).backgroundColor;
    let dark;
    const ok = /^oklch\(\s*([\d.]+)(%?)/.exec(bg);
    const rgb = /^rgba?\(\s*(\d+)[,\s]+(\d+)[,\s]+(\d+)/.exec(bg);
    if (ok) dark = Number(ok[1]) / (ok[2] ? 100 : 1) < 0.35;
    else if (rgb) dark = 0.2126 * rgb[1] + 0.7152 * rgb[2] + 0.0722 * rgb[3] < 60;
    return { bg, dark, w: r.width, h: r.height, vw: innerWidth, vh: innerHeight };
  });
  if (!look.dark) fail(`present mode's background is not dark: ${look.bg}`);
  if (Math.abs(look.w - look.vw) > 1 || Math.abs(look.h - look.vh) > 1) fail(`present mode does not fill the window: ${look.w}×${look.h} in ${look.vw}×${look.vh}`);
  const refreshed = await attr("present-refreshed", "data-value");
  if (!refreshed || Math.abs(Date.now() - Date.parse(refreshed)) > 5 * 60_000) fail(`present-refreshed says ${JSON.stringify(refreshed)}`);
  await page.getByTestId("present-clock").waitFor({ state: "visible" });

  setStep("present: figures read again by themselves (?refresh=10)");
  await page.goto(`${base}/present?rotate=0&refresh=10`, { waitUntil: "domcontentloaded" });
  await page.getByTestId("present").waitFor({ state: "visible" });
  await page.waitForFunction(() => document.querySelector('[data-testid="present-refreshed"]')?.getAttribute("data-value"), undefined, { timeout });
  const firstRead = await attr("present-refreshed", "data-value");
  await page
    .waitForFunction(
      (t) => {
        const v = document.querySelector('[data-testid="present-refreshed"]')?.getAttribute("data-value");
        return v && Date.parse(v) > Date.parse(t);
      },
      firstRead,
      { timeout: 30_000 },
    )
    .catch(() => fail(`present mode read its figures at ${firstRead} and not again within 30 s with ?refresh=10`));
  log(`present mode: figures read at ${firstRead}, again at ${await attr("present-refreshed", "data-value")}`);
  await page.goto(`${base}/present?rotate=2`, { waitUntil: "domcontentloaded" });
  await page.getByTestId("present").waitFor({ state: "visible" });

  setStep("present: a slide advances by itself (?rotate=2)");
  const first = await activeSlide();
  await page
    .waitForFunction((s) => document.querySelector('[data-testid="present-slide"][data-active="true"]')?.getAttribute("data-slide") !== s, first, {
      timeout: 10_000,
    })
    .catch(() => fail(`the slide stayed on ${first} for 10 s with ?rotate=2`));
  log(`present mode: slide ${first} -> ${await activeSlide()}`);

  setStep("present: space pauses, the arrow moves");
  await page.keyboard.press("Space");
  await waitAttr("present", "data-paused", "true", "after space");
  const held = await activeSlide();
  await page.waitForTimeout(3000);
  if ((await activeSlide()) !== held) fail("the slide moved on while paused");
  const ids = await page.locator('[data-testid="present-slide"]').evaluateAll((els) => els.map((e) => e.getAttribute("data-slide")));
  await page.keyboard.press("ArrowRight");
  const next = ids[(ids.indexOf(held) + 1) % ids.length];
  await page
    .waitForFunction((s) => document.querySelector('[data-testid="present-slide"][data-active="true"]')?.getAttribute("data-slide") === s, next, { timeout })
    .catch(() => fail(`ArrowRight did not move from ${held} to ${next}`));

  setStep("present: readable at 1920×1080 and 3840×2160");
  const before = page.viewportSize();
  for (const [w, h] of [
    [1920, 1080],
    [3840, 2160],
  ]) {
    await page.setViewportSize({ width: w, height: h });
    for (let i = 0; i < ids.length; i++) {
      await page.waitForTimeout(400);
      const problems = await page.evaluate(() => {
        const out = [];
        const root = document.documentElement;
        if (root.scrollWidth > root.clientWidth || root.scrollHeight > root.clientHeight) {
          out.push(`scrollbars: page ${root.scrollWidth}×${root.scrollHeight} in ${root.clientWidth}×${root.clientHeight}`);
        }
        const min = 0.019 * innerHeight;
        const present = document.querySelector('[data-testid="present"]');
        for (const el of present.querySelectorAll("*")) {
          if (el.closest('.sr-only,[aria-hidden="true"]')) continue;
          const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim() !== "");
          if (!own) continue;
          const r = el.getBoundingClientRect();
          if (r.width < 2 || r.height < 2) continue;
          const size = parseFloat(getComputedStyle(el).fontSize);
          if (size < min) out.push(`"${el.textContent.trim().slice(0, 30)}" at ${size}px < ${min.toFixed(1)}px`);
        }
        return out.slice(0, 8);
      });
      const slide = await activeSlide();
      if (problems.length) fail(`present mode at ${w}×${h}, slide ${slide}:\n  ${problems.join("\n  ")}`);
      if (i === 0) await page.screenshot({ path: path.join(artifacts, `present-${w}x${h}.png`) });
      await page.keyboard.press("ArrowRight");
    }
  }
  log("present mode: no scrollbars, no text under 2% of the height at 1080p and 4K");
  if (before) await page.setViewportSize(before);

  setStep("present: Escape returns to the dashboard");
  await page.keyboard.press("Escape");
  await page.waitForURL((u) => u.pathname === "/");
  await page.getByTestId(`kpi-${METRIC}`).waitFor({ state: "visible" });
}
