// End-to-end check of the detail pages, run by dashboard.mjs once it is signed in and on
// the Tickets list: a ticket opened from the list names its company, contact and owner;
// the company link opens the company's page, which lists its tickets and contacts and
// shows its figures; its History lists the versions the API has; and the as-of picker
// shows the page as it was (with its banner), says so when the record did not exist yet,
// and returns to now.
//
// Every expected value is read from the API first; the UI is found by data-testid.

/** An instant as the API and the UI's URL write it: RFC 3339 UTC, whole seconds. */
function rfc3339(ms) {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/**
 * @param {object} ctx
 * @param {import("playwright-core").Page} ctx.page   signed in, showing /tickets
 * @param {(path: string) => Promise<any>} ctx.get    GET an API path with the user's token
 * @param {(msg: string) => never} ctx.fail
 * @param {(msg: string) => void} ctx.log
 * @param {(name: string) => void} ctx.setStep
 * @param {number} ctx.timeout                         per-step timeout (ms)
 */
export async function checkDetailPages({ page, get, fail, log, setStep, timeout }) {
  const enc = encodeURIComponent;
  const text = async (testId, scope = page) => ((await scope.getByTestId(testId).first().textContent()) ?? "").trim();
  const waitText = async (testId, want, what) => {
    await page
      .waitForFunction(
        ([id, v]) => (document.querySelector(`[data-testid="${id}"]`)?.textContent ?? "").trim() === v,
        [testId, want],
        { timeout },
      )
      .catch(async () => fail(`${what}: [data-testid=${testId}] shows ${JSON.stringify(await text(testId).catch(() => null))}, expected ${JSON.stringify(want)}`));
  };
  const waitValue = async (testId, want, what) => {
    await page
      .waitForFunction(
        ([id, v]) => document.querySelector(`[data-testid="${id}"]`)?.getAttribute("data-value") === String(v),
        [testId, want],
        { timeout },
      )
      .catch(async () => {
        const got = await page.locator(`[data-testid="${testId}"]`).first().getAttribute("data-value").catch(() => null);
        fail(`${what}: [data-testid=${testId}] data-value ${JSON.stringify(got)}, the API says ${want}`);
      });
  };
  const onPath = (want) => (u) => decodeURIComponent(u.pathname) === want;

  // 1. A ticket of the list's first page whose company has contacts (the same request the
  //    list makes: its default order, newest opened first).
  setStep("detail: pick a ticket from the API");
  const first = await get("/api/tickets?page=1&page_size=50&sort=opened_at&order=desc");
  let ticket;
  let contactsTotal = 0;
  for (const t of (first?.items ?? []).filter((t) => t.company_id && t.company_name).slice(0, 15)) {
    const c = await get(`/api/contacts?page=1&page_size=1&company=${enc(t.company_id)}`);
    if (c.total > 0) {
      ticket = t;
      contactsTotal = c.total;
      break;
    }
  }
  if (!ticket) fail("no ticket on the list's first page belongs to a company with contacts");
  const companyId = ticket.company_id;
  const ticketHours = (await get(`/api/time-entries?page=1&page_size=1&ticket=${enc(ticket.id)}`)).total;
  const companyTickets = (await get(`/api/tickets?page=1&page_size=1&company=${enc(companyId)}`)).total;
  const company = await get(`/api/companies/${enc(companyId)}`);
  const report = await get(`/api/analytics/companies/${enc(companyId)}/report?period=90d`);
  const opened90 = report?.metrics?.find((m) => m.metric === "tickets_opened");
  if (!opened90) fail(`the company report has no tickets_opened: ${JSON.stringify(report).slice(0, 300)}`);
  const versions = (await get(`/api/companies/${enc(companyId)}/history`))?.items ?? [];
  if (versions.length === 0) fail(`/api/companies/${companyId}/history has no versions`);

  // 2. The ticket's page, opened from the list.
  setStep("detail: open a ticket from the list");
  const ticketLink = page.locator(`[data-testid="list-table"] a[href="/tickets/${enc(ticket.id)}"]`).first();
  await ticketLink.waitFor({ state: "visible" });
  await ticketLink.click();
  await page.waitForURL(onPath(`/tickets/${ticket.id}`));
  await waitText("detail-title", String(ticket.summary || ticket.id).trim(), "ticket title");

  setStep("detail: the ticket's links and time entries");
  await waitText("link-company", ticket.company_name.trim(), "the ticket's company link");
  const linked = await page.getByTestId("link-company").getAttribute("href");
  if (linked !== `/companies/${enc(companyId)}`) fail(`the company link goes to ${linked}, expected /companies/${enc(companyId)}`);
  if (ticket.contact_name) await waitText("link-contact", ticket.contact_name.trim(), "the ticket's contact link");
  if (ticket.owner_name) await waitText("link-owner", ticket.owner_name.trim(), "the ticket's owner link");
  await waitValue("related-time-entries-total", ticketHours, "the ticket's time entries");
  log(`ticket ${ticket.id}: company, contact and owner linked; ${ticketHours} time entries`);

  // 3. The company's page: its tickets, contacts and figures.
  setStep("detail: follow the company link");
  await page.getByTestId("link-company").click();
  await page.waitForURL(onPath(`/companies/${companyId}`));
  await waitText("detail-title", String(company.name || company.id).trim(), "company title");

  setStep("detail: the company's tickets and contacts");
  await waitValue("related-tickets-total", companyTickets, "the company's tickets");
  await waitValue("related-contacts-total", contactsTotal, "the company's contacts");
  for (const [section, total] of [["related-tickets", companyTickets], ["related-contacts", contactsTotal]]) {
    const rows = await page.locator(`[data-testid="${section}"] [data-testid="related-row"]`).count();
    if (rows !== Math.min(total, 5)) fail(`${section} shows ${rows} rows of ${total}`);
  }
  const all = await page.getByTestId("related-contacts-all").getAttribute("href");
  if (!all?.startsWith("/contacts?") || !all.includes(`company=${enc(companyId)}`)) fail(`"View all" contacts goes to ${all}`);
  await waitValue("report-tickets_opened", opened90.value ?? "null", "the company's tickets opened in 90 days");
  log(`company ${companyId}: ${companyTickets} tickets, ${contactsTotal} contacts, ${opened90.value} opened in 90 days`);

  // 3b. One of its contacts opens, and Back returns to the company.
  setStep("detail: a contact of the company, and back");
  const firstContact = (await get(`/api/contacts?page=1&page_size=1&company=${enc(companyId)}&sort=last_name&order=asc`)).items[0];
  const contactName = [firstContact.first_name, firstContact.last_name].filter((v) => v && String(v).trim()).join(" ") || firstContact.id;
  const companyTitle = await text("detail-title");
  await page.locator('[data-testid="related-contacts"] [data-testid="related-row"] a').first().click();
  await page.waitForURL((u) => u.pathname === `/contacts/${enc(firstContact.id)}`, { timeout });
  await waitText("detail-title", contactName, "the contact's page");
  await page.goBack();
  await page.waitForURL((u) => u.pathname === `/companies/${enc(companyId)}`, { timeout });
  await waitText("detail-title", companyTitle, "back on the company's page");
  log(`contact ${contactName} opened from ${companyTitle}'s page, and Back returned to it`);

  // 4. History: every version the API has, the oldest labelled as the creation.
  setStep("detail: the company's history");
  await page.getByTestId("history-toggle").click();
  const items = page.locator('[data-testid="history-list"] [data-testid="history-version"]');
  await items.first().waitFor({ state: "visible" });
  const shown = await items.count();
  if (shown !== versions.length) fail(`History lists ${shown} versions, the API has ${versions.length}`);
  const oldest = page.locator('[data-testid="history-version"][data-version="1"]');
  const oldestKind = await oldest.getAttribute("data-kind");
  const expectedKind = versions[0].is_deleted ? "deleted" : "created";
  if (oldestKind !== expectedKind) fail(`the oldest version is labelled ${oldestKind}, expected ${expectedKind}`);
  log(`history: ${shown} version(s), oldest ${oldestKind}`);

  // 5. As of an instant: the banner, the record as it stood, the URL.
  setStep("detail: pick an as-of date");
  const froms = versions.map((v) => Date.parse(v.valid_from)).filter((t) => Number.isFinite(t));
  const latest = Math.max(...froms);
  const now = Date.now();
  // Halfway between the current version and now, on a whole second after it (the API
  // cuts versions' times to the second): the record stood then as it does now.
  const at = Math.floor((latest + Math.max(latest, now - 60_000)) / 2 / 1000) * 1000 + 1000;
  const localValue = (ms) =>
    page.evaluate((t) => {
      const d = new Date(t);
      const p = (n) => String(n).padStart(2, "0");
      // Seconds only when not zero: Chromium normalizes "…T10:00:00" to "…T10:00".
      const s = d.getSeconds() ? `:${p(d.getSeconds())}` : "";
      return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}${s}`;
    }, ms);
  await page.getByTestId("as-of-input").fill(await localValue(at));
  await page.getByTestId("as-of-apply").click();
  await page.waitForURL((u) => onPath(`/companies/${companyId}`)(u) && u.searchParams.get("as_of") === rfc3339(at));
  const banner = page.getByTestId("as-of-banner");
  await banner.waitFor({ state: "visible" });
  const bannerText = ((await banner.textContent()) ?? "").replace(/\s+/g, " ");
  if (!bannerText.includes("Showing this record as it was on")) fail(`the as-of banner says ${JSON.stringify(bannerText)}`);
  await waitText("detail-title", String(company.name || company.id).trim(), "company title as of then");
  await page.getByTestId("related-contacts").waitFor({ state: "visible" });
  log(`as of ${rfc3339(at)}: banner shown`);

  // 6. Before the record existed: a message, not an error.
  setStep("detail: as of before the record existed");
  const before = Math.min(...froms) - 86_400_000;
  await page.getByTestId("as-of-input").fill(await localValue(before));
  await page.getByTestId("as-of-apply").click();
  await page.waitForURL((u) => u.searchParams.get("as_of") === rfc3339(before));
  const missing = page.getByTestId("as-of-missing");
  await missing.waitFor({ state: "visible" });
  const state = await missing.getAttribute("data-state");
  if (state !== "before") fail(`as of a day before the first version the page says ${state}, expected "before"`);
  if ((await page.getByTestId("error").count()) > 0) fail(`an error shows as of before the record existed: ${await text("error")}`);

  // 7. Back to now.
  setStep("detail: back to now");
  await page.getByTestId("as-of-clear").click();
  await page.waitForURL((u) => onPath(`/companies/${companyId}`)(u) && !u.searchParams.has("as_of"));
  await waitText("detail-title", String(company.name || company.id).trim(), "company title, now");
  if ((await page.getByTestId("as-of-banner").count()) !== 0) fail("the as-of banner stays after Back to now");
  log("as-of picker: before creation says so; back to now");
}
