// Tenant isolation in the browser, run by dashboard.mjs: the demo's second tenant
// (AVESA_TENANT2, AVESA_EMAIL2, AVESA_PASSWORD2; skipped with a log line without them)
// signs in in a fresh browser context; its header names its own tenant, and searching its
// Companies and Tickets lists for some of the first tenant's company names finds nothing.
//
// The names are the first tenant's (from its API). A name the second tenant has too, as
// its own record (its API, signed in as it, lists it: the simulators may draw the same
// made-up name), proves nothing and is passed over for another.
import { signedInContext } from "./session.mjs";

/**
 * @param {object} ctx
 * @param {import("playwright-core").Browser} ctx.browser
 * @param {string} ctx.base
 * @param {string} ctx.tenant                         the first tenant's id
 * @param {(path: string) => Promise<any>} ctx.get    the API as the first tenant
 * @param {(base: string, path: string, opts?: object) => Promise<any>} ctx.api
 * @param {(msg: string) => never} ctx.fail
 * @param {(msg: string) => void} ctx.log
 * @param {(name: string) => void} ctx.setStep
 * @param {number} ctx.timeout
 */
export async function checkTenantIsolation({ browser, base, tenant, get, api, fail, log, setStep, timeout }) {
  const tenant2 = process.env.AVESA_TENANT2;
  const email2 = process.env.AVESA_EMAIL2;
  const password2 = process.env.AVESA_PASSWORD2;
  if (!tenant2 || !email2 || !password2) {
    log("tenant isolation: skipped (AVESA_TENANT2, AVESA_EMAIL2 and AVESA_PASSWORD2 are not all set)");
    return;
  }
  if (tenant2 === tenant) fail("AVESA_TENANT2 is the same tenant as AVESA_TENANT");
  const sel = (id) => `[data-testid="${id}"]`;
  const enc = encodeURIComponent;

  setStep("tenant isolation: the second tenant's API");
  const login2 = await api(base, "/auth/login", { method: "POST", body: { tenant_id: tenant2, email: email2, password: password2 } });
  const token2 = login2?.access_token;
  if (!token2) fail("tenant isolation: the second tenant's /auth/login has no access_token");
  const get2 = (p) => api(base, p, { token: token2 });
  const me2 = await get2("/auth/me");
  const name2 = me2?.tenant_name ?? tenant2;

  // A few of the first tenant's company names that the second tenant does not have itself.
  const firsts = (await get("/api/companies?page=1&page_size=25&sort=name&order=asc"))?.items ?? [];
  const names = [];
  for (const c of firsts) {
    const name = String(c.name ?? "").trim();
    if (!name || names.includes(name)) continue;
    const own = (await get2(`/api/companies?page=1&page_size=1&q=${enc(name)}`))?.total ?? 0;
    if (own > 0) {
      log(`tenant isolation: "${name}" is a company of both tenants in their own data; another name is used`);
      continue;
    }
    names.push(name);
    if (names.length === 3) break;
  }
  if (names.length < 3) fail(`tenant isolation: fewer than 3 of the first tenant's company names to search for (${names.join(", ")})`);
  // The first tenant does find them, in the same lists (a search that finds nothing anywhere proves nothing).
  for (const name of names) {
    const t1 = (await get(`/api/tickets?page=1&page_size=1&q=${enc(name)}`))?.total ?? 0;
    const c1 = (await get(`/api/companies?page=1&page_size=1&q=${enc(name)}`))?.total ?? 0;
    if (!(c1 > 0)) fail(`tenant isolation: the first tenant's own search for "${name}" finds no company`);
    log(`tenant isolation: "${name}" is ${c1} company and ${t1} ticket(s) for ${tenant}`);
  }

  setStep("tenant isolation: the second tenant signs in");
  const { context, page } = await signedInContext(browser, { base, tenant: tenant2, email: email2, password: password2, timeout });
  try {
    const shown = (await page.getByTestId("tenant-name").textContent())?.trim();
    if (shown !== name2) fail(`tenant isolation: the second tenant's header names ${JSON.stringify(shown)}, its /auth/me says ${JSON.stringify(name2)}`);

    for (const list of ["companies", "tickets"]) {
      for (const name of names) {
        setStep(`tenant isolation: ${list} searched for "${name}"`);
        await page.goto(`${base}/${list}`, { waitUntil: "domcontentloaded" });
        await page.locator(sel("list-row")).first().waitFor({ timeout });
        await page.getByTestId("search").fill(name);
        await page.waitForURL((u) => u.searchParams.get("q") === name, { timeout });
        await page
          .waitForFunction(() => document.querySelector('[data-testid="list-total"]')?.getAttribute("data-value") === "0", undefined, { timeout })
          .catch(async () => {
            const got = await page.getByTestId("list-total").getAttribute("data-value");
            const rows = await page.locator(sel("list-row")).allTextContents();
            fail(`tenant isolation: ${tenant2}'s ${list} searched for the first tenant's "${name}" lists ${got}: ${rows.slice(0, 3).join(" | ")}`);
          });
        if (await page.locator(sel("list-row")).count()) fail(`tenant isolation: ${tenant2}'s ${list} shows rows for "${name}" with a total of 0`);
      }
    }
    log(`tenant isolation: ${tenant2} ("${name2}") finds none of ${names.length} of ${tenant}'s companies in its companies and tickets lists`);
  } finally {
    await context.close();
  }
}
