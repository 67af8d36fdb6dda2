// Helpers shared by the checks that need a browser context of their own (a11y.mjs,
// screenshots.mjs, tenants.mjs): a fresh context signed in through the login form.

/**
 * Opens a new context and page, signs in through the form and waits for the dashboard.
 * The caller closes the returned context.
 *
 * @param {import("playwright-core").Browser} browser
 * @param {{ base: string, tenant: string, email: string, password: string,
 *           viewport?: { width: number, height: number }, timeout: number,
 *           colorScheme?: "light" | "dark" }} opts
 */
export async function signedInContext(browser, { base, tenant, email, password, viewport, timeout, colorScheme = "light" }) {
  const context = await browser.newContext({ viewport: viewport ?? { width: 1366, height: 900 }, colorScheme });
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(timeout);
    page.setDefaultNavigationTimeout(timeout);
    await page.goto(`${base}/login`, { waitUntil: "domcontentloaded" });
    await signIn(page, { tenant, email, password, timeout });
    return { context, page };
  } catch (e) {
    await context.close().catch(() => {});
    throw e;
  }
}

/** Fills the login form on the page it is on and waits for the dashboard's numbers. */
export async function signIn(page, { tenant, email, password, timeout }) {
  await page.locator("#tenant").fill(tenant);
  await page.locator("#email").fill(email);
  await page.locator("#password").fill(password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.waitForURL((u) => u.pathname === "/", { timeout });
  await kpisReady(page, timeout);
}

/** Waits until the dashboard's first KPI card holds its number (data-value set). */
export async function kpisReady(page, timeout) {
  await page.waitForFunction(
    () => {
      const v = document.querySelector('[data-testid="kpi-tickets_opened"]')?.getAttribute("data-value");
      return v !== null && v !== undefined && v !== "";
    },
    undefined,
    { timeout },
  );
}

/** The first record's id of a list route (`/api/{resource}`), or undefined when it is empty. */
export async function firstId(get, resource, query = "") {
  return (await get(`/api/${resource}?page=1&page_size=1${query}`))?.items?.[0]?.id;
}

/**
 * Whether a figure the page shows (`raw`, its `data-value`) is the API's `want` for
 * `metric`. Utilisation's capacity counts the working day up to the current minute, so on
 * a working day it moves a little every minute, and the page's answer and the test's may
 * come from different minutes: it may differ by what a test's few minutes make (10⁻³
 * relative; a minute moves a 30-day figure by about 3·10⁻⁵). Every other figure is exact.
 */
export function sameFigure(metric, raw, want) {
  if (want === null || want === undefined) return raw === "null";
  const tolerance = metric === "utilisation_pct" ? 1e-3 : 1e-6;
  return Math.abs(Number(raw) - want) <= tolerance * Math.max(1, Math.abs(want));
}
