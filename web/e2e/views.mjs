// End-to-end check of saved views, run by dashboard.mjs once it is signed in:
//
// On the Tickets list filtered by a status and sorted newest first (on page 2 when there
// is one), "Views" → "Save current view…" saves it under a name: the API then holds it
// with the page's query minus paging, and the menu's button shows its name. Saving the
// same name again shows the API's 409 in the dialog. After a reload and a visit to the
// whole list, the menu lists the view and a click on it opens the list with its filter
// and sort (URL, filter chip and total as the API's). Renamed through its pencil, it is
// listed under the new name (same id); with the list sorted the other way, the menu offers
// to update it to the page shown, and the API then holds the new query; deleted through its bin (Cancel first keeps it),
// it is gone from the menu and the API. Then the same on the dashboard: a 90-day view
// saved, opened from the plain dashboard (period=90d in the URL), and deleted.
//
// The UI is found by data-testid (components/SavedViews.tsx).

/**
 * @param {object} ctx
 * @param {import("playwright-core").Page} ctx.page   signed in
 * @param {string} ctx.base                           the app's origin
 * @param {(path: string) => Promise<any>} ctx.get    GET as the signed-in user (fails on an error)
 * @param {(method: string, path: string, body?: any) => Promise<any>} ctx.send
 * @param {(msg: string) => never} ctx.fail
 * @param {(msg: string) => void} ctx.log
 * @param {(name: string) => void} ctx.setStep
 * @param {number} ctx.timeout                         per-step timeout (ms)
 */
export async function checkSavedViews({ page, base, get, send, fail, log, setStep, timeout }) {
  const NAME = "e2e: tickets by status";
  const RENAMED = "e2e: renamed view";
  const DASH = "e2e: last 90 days";
  const enc = encodeURIComponent;
  const sel = (id) => `[data-testid="${id}"]`;
  const row = (name) => page.locator(`${sel("view-row")}[data-name="${name}"]`);
  /** The canonical view of a query, as lib/views.ts makes it: no paging, sorted by name. */
  const canonical = (search) => {
    const kept = [...new URLSearchParams(search).entries()].filter(([k, v]) => k !== "" && v !== "" && k !== "page");
    kept.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return new URLSearchParams(kept).toString();
  };
  const views = async (pageName) => (await get(`/api/views?page=${enc(pageName)}`))?.items ?? [];
  const waitValue = async (testId, want, what) => {
    await page
      .waitForFunction(
        ([id, v]) => document.querySelector(`[data-testid="${id}"]`)?.getAttribute("data-value") === String(v),
        [testId, want],
        { timeout },
      )
      .catch(async () => {
        const got = await page.locator(sel(testId)).first().getAttribute("data-value").catch(() => null);
        fail(`${what}: [data-testid=${testId}] data-value ${JSON.stringify(got)}, the API says ${want}`);
      });
  };
  const waitCurrent = async (want, what) => {
    await page
      .waitForFunction(
        (v) => (document.querySelector('[data-testid="views-current"]')?.textContent ?? "").trim() === v,
        want,
        { timeout },
      )
      .catch(async () => {
        const got = (await page.locator(sel("views-current")).first().textContent().catch(() => null))?.trim();
        fail(`${what}: the Views button shows ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
      });
  };
  const openMenu = async () => {
    if (!(await page.locator(sel("views-panel")).isVisible())) await page.locator(sel("views-menu")).click();
    await page.locator(sel("views-panel")).waitFor({ state: "visible" });
    // Wait for the list (or its empty note) rather than "Loading…".
    await page.locator(`${sel("views-list")}, ${sel("views-empty")}`).first().waitFor({ state: "visible" });
  };
  const dialogClosed = async (testId, what) => {
    await page.locator(sel(testId)).waitFor({ state: "detached", timeout }).catch(async () => {
      const err = await page.locator(sel("view-error")).first().textContent().catch(() => null);
      fail(`${what}: the dialog stayed open${err ? ` saying ${JSON.stringify(err.trim())}` : ""}`);
    });
  };

  // 0. Views a failed earlier run left behind.
  setStep("views: start from none of ours");
  for (const p of ["tickets", "dashboard"]) {
    for (const v of await views(p)) {
      if ([NAME, RENAMED, DASH].includes(v.name)) await send("DELETE", `/api/views/${enc(v.id)}`);
    }
  }

  // 1. A filtered, sorted tickets list, on its second page where it has one.
  setStep("views: a filtered tickets list");
  const sample = (await get("/api/tickets?page=1&page_size=1&sort=opened_at&order=desc"))?.items?.[0];
  if (!sample?.status) fail(`no ticket with a status to filter by: ${JSON.stringify(sample)}`);
  const status = sample.status;
  const filtered = (await get(`/api/tickets?page=1&page_size=1&status=${enc(status)}`))?.total;
  if (!(filtered > 0)) fail(`the API lists no tickets of status ${status}`);
  const all = (await get("/api/tickets?page=1&page_size=1"))?.total;
  const paged = filtered > 50 ? 2 : 1;
  const search = `status=${enc(status)}&sort=opened_at&order=desc&page=${paged}`;
  await page.goto(`${base}/tickets?${search}`, { waitUntil: "domcontentloaded" });
  await waitValue("list-total", filtered, `tickets of status ${status}`);
  await waitCurrent("Views", "before any view is saved");

  // 2. Save it.
  setStep("views: save the current view");
  await openMenu();
  await page.locator(sel("view-save")).click();
  await page.locator(sel("view-dialog")).waitFor({ state: "visible" });
  const focused = await page.evaluate(() => document.activeElement?.getAttribute("data-testid"));
  if (focused !== "view-name") fail(`the save dialog should open focused on its name, focus is on ${focused}`);
  await page.locator(sel("view-name")).fill(NAME);
  await page.locator(sel("view-submit")).click();
  await dialogClosed("view-dialog", "saving a view");
  const saved = (await views("tickets")).find((v) => v.name === NAME);
  if (!saved) fail(`the API does not list the saved view ${NAME}`);
  const want = canonical(search);
  if (saved.query !== want) fail(`the saved view's query is ${JSON.stringify(saved.query)}, expected ${JSON.stringify(want)} (no paging)`);
  await waitCurrent(NAME, "the page shows the view just saved");
  log(`saved view "${NAME}": ${saved.query}`);

  // 3. The same name again: the API's 409, shown in the dialog.
  setStep("views: a taken name is refused in the dialog");
  await openMenu();
  await page.locator(sel("view-save")).click();
  await page.locator(sel("view-dialog")).waitFor({ state: "visible" });
  await page.locator(sel("view-name")).fill(`  ${NAME} `);
  await page.locator(sel("view-submit")).click();
  const error = page.locator(`${sel("view-dialog")} ${sel("view-error")}`);
  await error.waitFor({ state: "visible" }).catch(() => fail("saving a taken name showed no error"));
  const text = ((await error.textContent()) ?? "").trim();
  if (!/already have a view named/i.test(text)) fail(`a taken name should say so, the dialog says ${JSON.stringify(text)}`);
  await page.locator(`${sel("view-dialog")} ${sel("view-cancel")}`).click();
  await dialogClosed("view-dialog", "cancelling");
  if ((await views("tickets")).filter((v) => v.name === NAME).length !== 1) fail("the refused save changed the views");
  log(`a taken name: "${text}"`);

  // 4. After a reload, from the whole list, the menu opens the view.
  setStep("views: apply the view from the menu after a reload");
  await page.reload({ waitUntil: "domcontentloaded" });
  await waitCurrent(NAME, "after a reload");
  await page.goto(`${base}/tickets`, { waitUntil: "domcontentloaded" });
  await waitValue("list-total", all, "the whole tickets list");
  await waitCurrent("Views", "the whole list is no saved view");
  await openMenu();
  if ((await row(NAME).count()) !== 1) fail(`the menu does not list "${NAME}"`);
  await row(NAME).locator(sel("view-apply")).click();
  await page.waitForURL((u) => u.pathname === "/tickets" && canonical(u.search) === want, { timeout }).catch(() =>
    fail(`applying the view opened ${page.url()}, expected /tickets?${want}`),
  );
  const url = new URL(page.url());
  if (url.searchParams.get("status") !== status || url.searchParams.get("order") !== "desc") fail(`the view's URL ${page.url()} lost its filter or sort`);
  if (url.searchParams.has("page")) fail(`the view's URL ${page.url()} carries paging`);
  await waitValue("list-total", filtered, "the view's tickets");
  const chips = ((await page.locator(sel("list-filters")).textContent()) ?? "").trim();
  if (!chips.includes(status)) fail(`the filter chips ${JSON.stringify(chips)} do not show status ${status}`);
  if (await page.locator(sel("views-panel")).isVisible()) fail("the menu stayed open after applying a view");
  await waitCurrent(NAME, "the applied view");
  log(`applied "${NAME}": ${filtered} tickets of status ${status}`);

  // 5. Rename it.
  setStep("views: rename the view");
  await openMenu();
  await row(NAME).locator(sel("view-rename")).click();
  await page.locator(sel("view-dialog")).waitFor({ state: "visible" });
  const prefilled = await page.locator(sel("view-name")).inputValue();
  if (prefilled !== NAME) fail(`the rename dialog starts with ${JSON.stringify(prefilled)}, expected the view's name`);
  await page.locator(sel("view-name")).fill(RENAMED);
  await page.locator(sel("view-submit")).click();
  await dialogClosed("view-dialog", "renaming");
  const renamed = (await views("tickets")).find((v) => v.name === RENAMED);
  if (!renamed || renamed.id !== saved.id || renamed.query !== saved.query) fail(`the API does not hold the renamed view: ${JSON.stringify(renamed)}`);
  await waitCurrent(RENAMED, "the renamed view");
  await openMenu();
  if ((await row(RENAMED).count()) !== 1 || (await row(NAME).count()) !== 0) fail(`the menu should list "${RENAMED}" and not "${NAME}"`);
  log(`renamed to "${RENAMED}"`);

  // 5b. Move away from it (oldest first): the menu offers to update it to the page shown.
  setStep("views: update the view to the page shown");
  const reordered = `status=${enc(status)}&sort=opened_at&order=asc`;
  await page.goto(`${base}/tickets?${reordered}`, { waitUntil: "domcontentloaded" });
  await waitValue("list-total", filtered, "the view's tickets, oldest first");
  await waitCurrent("Views", "the page no longer shows the view");
  await openMenu();
  const offer = page.locator(sel("view-update"));
  await offer.waitFor({ state: "visible" }).catch(() => fail("the menu does not offer to update the view last shown"));
  const offerText = ((await offer.textContent()) ?? "").trim();
  if (!offerText.includes(RENAMED)) fail(`the update offer names ${JSON.stringify(offerText)}, expected "${RENAMED}"`);
  await offer.click();
  await waitCurrent(RENAMED, "the updated view is the page shown");
  const updated = (await views("tickets")).find((v) => v.id === saved.id);
  if (updated?.query !== canonical(reordered)) fail(`the updated view's query is ${JSON.stringify(updated?.query)}, expected ${JSON.stringify(canonical(reordered))}`);
  await openMenu();
  if (await page.locator(sel("view-update")).count()) fail("the menu still offers an update of the view the page shows");
  log(`updated "${RENAMED}" to ${updated.query}`);

  // 6. Delete it: Cancel keeps it, Delete removes it.
  setStep("views: delete the view");
  await row(RENAMED).locator(sel("view-delete")).click();
  await page.locator(sel("view-delete-dialog")).waitFor({ state: "visible" });
  await page.locator(`${sel("view-delete-dialog")} ${sel("view-cancel")}`).click();
  await dialogClosed("view-delete-dialog", "cancelling the delete");
  if (!(await views("tickets")).some((v) => v.id === saved.id)) fail("cancelling the delete deleted the view");
  await openMenu();
  await row(RENAMED).locator(sel("view-delete")).click();
  await page.locator(sel("view-delete-confirm")).click();
  await dialogClosed("view-delete-dialog", "deleting");
  if ((await views("tickets")).some((v) => v.id === saved.id)) fail("the API still holds the deleted view");
  await waitCurrent("Views", "after the view was deleted");
  await openMenu();
  if ((await row(RENAMED).count()) !== 0) fail(`the menu still lists "${RENAMED}"`);
  await page.keyboard.press("Escape");
  await page.locator(sel("views-panel")).waitFor({ state: "detached" }).catch(() => fail("Escape did not close the menu"));
  log("deleted it");

  // 7. A view of the dashboard: its period.
  setStep("views: a dashboard view keeps its period");
  await page.goto(`${base}/?period=90d`, { waitUntil: "domcontentloaded" });
  await page.locator(sel("kpis")).waitFor({ state: "visible" });
  await openMenu();
  await page.locator(sel("view-save")).click();
  await page.locator(sel("view-name")).fill(DASH);
  await page.locator(sel("view-submit")).click();
  await dialogClosed("view-dialog", "saving the dashboard's view");
  const dash = (await views("dashboard")).find((v) => v.name === DASH);
  if (!dash || dash.query !== "period=90d") fail(`the dashboard's view should be period=90d: ${JSON.stringify(dash)}`);
  await page.goto(`${base}/`, { waitUntil: "domcontentloaded" });
  await page.locator(sel("kpis")).waitFor({ state: "visible" });
  await waitCurrent("Views", "the plain dashboard");
  await openMenu();
  await row(DASH).locator(sel("view-apply")).click();
  await page.waitForURL((u) => u.pathname === "/" && u.searchParams.get("period") === "90d", { timeout }).catch(() =>
    fail(`applying the dashboard's view opened ${page.url()}`),
  );
  await page.locator(`${sel("period-90d")}[aria-checked="true"]`).waitFor({ state: "visible" }).catch(() => fail("the period picker does not show 90 days"));
  await waitCurrent(DASH, "the applied dashboard view");
  await send("DELETE", `/api/views/${enc(dash.id)}`);
  log("dashboard view: saved, applied (90 days), deleted");
}
