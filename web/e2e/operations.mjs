// End-to-end check of the Operations pages, run by dashboard.mjs once it is signed in as
// the demo's tenant admin (on any page with the app's navigation):
//
// Services: the nav's "Operations" opens /operations/services, which lists every service
// `GET /api/admin/services` has and every table `GET /api/admin/freshness` has, with its
// records. The credentials dialog opens with every input empty (secrets as password
// inputs), and the page's HTML holds none of the demo's stored secrets (nor any in
// AVESA_E2E_SECRETS, comma-separated); "Test connection" shows the result the API's test
// gives; Escape closes it and gives focus back. The page holds together on a phone.
// Runs: "Start sync…" of one small ConnectWise table opens the run's page, which reads the
// run every 2 s while it is in progress, reaches a finished status, stops reading then,
// and whose per-table records equal `GET /api/admin/runs/{id}`'s chunks.
// Users: a new analyst is added (a short password refused first, beside its field), made a
// viewer, disabled — each as the API then has it; disabling oneself shows the server's
// refusal in place. A second viewer is added, signs in in a fresh browser context and
// finds no "Operations" in the nav, /operations/runs says it is not available for their
// role, and no /api/admin request was made.
// Screenshots: e2e-artifacts/operations-services.png, operations-run.png, operations-users.png.
import path from "node:path";

/**
 * @param {object} ctx
 * @param {import("playwright-core").Browser} ctx.browser
 * @param {import("playwright-core").Page} ctx.page   signed in as a tenant admin
 * @param {string} ctx.base                            the app's origin
 * @param {string} ctx.tenant                          the tenant signed in to
 * @param {(path: string) => Promise<any>} ctx.get    GET an API path with the user's token
 * @param {(method: string, path: string, body?: any) => Promise<any>} ctx.send
 * @param {string} ctx.artifacts                       where screenshots go
 * @param {(msg: string) => never} ctx.fail
 * @param {(msg: string) => void} ctx.log
 * @param {(name: string) => void} ctx.setStep
 * @param {number} ctx.timeout                         per-step timeout (ms)
 */
export async function checkOperations({ browser, page, base, tenant, get, send, artifacts, fail, log, setStep, timeout }) {
  const sel = (id) => `[data-testid="${id}"]`;
  const enc = encodeURIComponent;
  const stamp = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
  const RUN_TIMEOUT = Number(process.env.AVESA_E2E_RUN_TIMEOUT_MS ?? 90_000);
  const title = () => page.evaluate(() => document.title);

  // 1. Services.
  setStep("operations: the nav's Operations opens the services");
  await page.goto(`${base}/`, { waitUntil: "domcontentloaded" });
  await page.locator(sel("nav-operations")).first().click({ timeout });
  await page.waitForURL((u) => u.pathname === "/operations/services", { timeout });
  await page.locator(sel("services-table")).waitFor({ timeout });
  await page.locator(sel("freshness-table")).waitFor({ timeout });
  if ((await title()) !== "Services · AVESA") fail(`services page title: ${JSON.stringify(await title())}`);
  const services = (await get("/api/admin/services")).items ?? [];
  if (!services.length) fail("GET /api/admin/services lists no service");
  for (const s of services) {
    const row = page.locator(sel(`service-row-${s.service}`));
    if ((await row.count()) !== 1) fail(`services: no row for ${s.service}`);
    if ((await row.getAttribute("data-enabled")) !== String(s.enabled)) fail(`services: ${s.service} enabled differs from the API`);
  }
  const fresh = (await get("/api/admin/freshness")).items ?? [];
  const rows = await page.locator(sel("freshness-row")).evaluateAll((els) =>
    els.map((e) => ({ service: e.dataset.service, table: e.dataset.table, records: Number(e.dataset.records), stale: e.dataset.stale })),
  );
  if (rows.length !== fresh.length) fail(`freshness: ${rows.length} rows on the page, ${fresh.length} in the API`);
  for (const f of fresh) {
    const r = rows.find((x) => x.service === f.service && x.table === f.table);
    if (!r) fail(`freshness: no row for ${f.service} ${f.table}`);
    // A scheduled run may land between the two reads: never fewer than the API said before.
    if (r.records > f.records || r.records < 0) fail(`freshness ${f.table}: page ${r.records} records, API ${f.records}`);
  }
  log(`operations: ${services.length} service(s), ${fresh.length} tables with freshness`);
  await page.screenshot({ path: path.join(artifacts, "operations-services.png"), fullPage: true });

  setStep("operations: the services page on a phone");
  const viewport = page.viewportSize();
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(200);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 1) fail(`services page is ${overflow}px wider than a 390px phone`);
  if (viewport) await page.setViewportSize(viewport);

  // 2. Credentials: nothing stored is shown; Test connection.
  setStep("operations: the credentials dialog shows nothing stored");
  const svc = services.find((s) => s.service === "connectwise") ?? services[0];
  const opener = page.locator(sel(`service-credentials-${svc.service}`));
  await opener.click();
  const dialog = page.locator(sel("credentials-dialog"));
  await dialog.waitFor({ timeout });
  const inputs = await dialog.locator("input").evaluateAll((els) => els.map((e) => ({ name: e.name, type: e.type, value: e.value })));
  if (!inputs.length) fail("credentials dialog: no input");
  for (const i of inputs) if (i.value !== "") fail(`credentials dialog: ${i.name} is prefilled (${i.value.length} characters)`);
  if (!inputs.some((i) => i.type === "password")) fail("credentials dialog: no password input for the secrets");
  const secrets = [`${tenant}-private-key`, `${tenant}-public`, ...(process.env.AVESA_E2E_SECRETS ?? "").split(",")].filter(Boolean);
  const html = await page.content();
  for (const s of secrets) if (html.includes(s)) fail(`the page's HTML holds a stored secret (${s.slice(0, 4)}…)`);

  setStep("operations: Test connection shows the result");
  const expected = await send("POST", `/api/admin/services/${enc(svc.service)}/test`);
  await dialog.locator(sel("credentials-test")).click();
  const result = dialog.locator(sel("test-result"));
  await result.waitFor({ timeout });
  const ok = await result.getAttribute("data-ok");
  if (ok !== String(expected.ok)) fail(`Test connection: page says ok=${ok}, the API ${expected.ok}`);
  log(`operations: credentials dialog empty (${inputs.length} fields), test says ${(await result.textContent())?.trim()}`);
  await page.keyboard.press("Escape");
  await dialog.waitFor({ state: "detached", timeout });
  if ((await page.evaluate(() => document.activeElement?.getAttribute("data-testid"))) !== `service-credentials-${svc.service}`) {
    fail("closing the credentials dialog did not give focus back to its button");
  }

  // 3. Runs: start a sync of one small table, follow it live.
  setStep("operations: start a sync of one table");
  const small = ["service/boards", "system/members", "service/boards/statuses"];
  const cw = fresh.filter((f) => f.service === svc.service);
  const table = (small.map((t) => cw.find((f) => f.table === t)).find(Boolean) ?? [...cw].sort((a, b) => a.records - b.records)[0])?.table;
  if (!table) fail(`no table of ${svc.service} in /api/admin/freshness`);
  await page.locator(sel("ops-tab-runs")).click();
  await page.waitForURL((u) => u.pathname === "/operations/runs", { timeout });
  await page.locator(`${sel("runs-table")}, ${sel("runs-empty")}`).first().waitFor({ timeout });
  if ((await title()) !== "Runs · AVESA") fail(`runs page title: ${JSON.stringify(await title())}`);
  await page.locator(sel("start-sync")).click();
  const sync = page.locator(sel("sync-dialog"));
  await sync.waitFor({ timeout });
  await sync.locator(sel("sync-service")).selectOption(svc.service);
  await sync.locator(sel("sync-table")).selectOption(table);
  await sync.locator(sel("sync-incremental")).check();

  // Every read of the run's detail, with the status it carried.
  const reads = [];
  const onResponse = async (res) => {
    const u = new URL(res.url());
    if (!/^\/api\/admin\/runs\/[^/]+$/.test(u.pathname) || res.request().method() !== "GET") return;
    try {
      const body = await res.json();
      reads.push({ at: Date.now(), id: body?.run?.id, status: body?.run?.status, records: (body?.chunks ?? []).reduce((n, c) => n + c.counts.records, 0) });
    } catch {
      /* a body that is gone */
    }
  };
  page.on("response", onResponse);
  await sync.locator(sel("sync-submit")).click();
  await page.waitForURL((u) => /^\/operations\/runs\/[^/]+$/.test(u.pathname), { timeout });
  const runId = decodeURIComponent(new URL(page.url()).pathname.split("/").pop());
  setStep(`operations: run ${runId} reaches a finished status`);
  await page.locator(sel("run-detail")).waitFor({ timeout });
  await page.waitForFunction(
    () => {
      const s = document.querySelector('[data-testid="run-status"]')?.getAttribute("data-status");
      return s && s !== "running" && s !== "queued";
    },
    undefined,
    { timeout: RUN_TIMEOUT, polling: 250 },
  ).catch(() => fail(`run ${runId} did not finish within ${RUN_TIMEOUT / 1000}s`));
  const status = await page.locator(sel("run-status")).getAttribute("data-status");
  const mine = () => reads.filter((r) => r.id === runId);
  const whileActive = mine().filter((r) => r.status === "running" || r.status === "queued");
  if (whileActive.length && mine().length < 2) fail("the run's page did not read the run again while it ran");
  for (let i = 1; i < whileActive.length; i++) {
    const gap = whileActive[i].at - whileActive[i - 1].at;
    if (gap > 4000) fail(`the run's page waited ${gap} ms between two reads while it ran (every 2 s)`);
  }
  const finishedReads = mine().length;
  await page.waitForTimeout(4500);
  if (mine().length > finishedReads + 1) fail(`the run's page kept reading the run after it finished (${mine().length - finishedReads} more reads)`);
  page.off("response", onResponse);

  setStep("operations: the run's per-table records equal the API's");
  const detail = await get(`/api/admin/runs/${enc(runId)}`);
  if (detail.run.status !== status) fail(`run status: page ${status}, API ${detail.run.status}`);
  const perTable = {};
  for (const c of detail.chunks) perTable[`${c.key.service}/${c.key.table}`] = (perTable[`${c.key.service}/${c.key.table}`] ?? 0) + c.counts.records;
  const shown = await page.locator(sel("run-table-row")).evaluateAll((els) =>
    els.map((e) => ({ key: `${e.dataset.service}/${e.dataset.table}`, records: Number(e.dataset.records) })),
  );
  if (shown.length !== Object.keys(perTable).length) fail(`run tables: ${shown.length} on the page, ${Object.keys(perTable).length} in the API`);
  for (const s of shown) if (perTable[s.key] !== s.records) fail(`run table ${s.key}: page ${s.records} records, API ${perTable[s.key]}`);
  if (!shown.some((s) => s.key === `${svc.service}/${table}`)) fail(`the run's page has no row for ${table}`);
  if (!(await page.locator(sel("run-summary")).textContent())?.trim()) fail("the run has no summary");
  if (await page.locator(sel("run-cancel")).count()) fail("a finished run still offers Cancel");
  log(`operations: run of ${table} ${status} (${mine().length} reads, ${whileActive.length} while running), records per table match`);
  await page.screenshot({ path: path.join(artifacts, "operations-run.png"), fullPage: true });

  // 4. Users.
  setStep("operations: users — add an analyst");
  await page.locator(sel("ops-tab-users")).click();
  await page.waitForURL((u) => u.pathname === "/operations/users", { timeout });
  await page.locator(sel("users-table")).waitFor({ timeout });
  const password = `e2e-pass-${stamp}-long`;
  const addUser = async (email, role, { shortFirst = false } = {}) => {
    await page.locator(sel("user-create")).click();
    const d = page.locator(sel("user-dialog"));
    await d.waitFor({ timeout });
    await d.locator(sel("new-user-email")).fill(email);
    await d.locator(sel("new-user-name")).fill(`E2E ${role}`);
    await d.locator(sel("new-user-role")).selectOption(role);
    if (shortFirst) {
      await d.locator(sel("new-user-password")).fill("short");
      await d.locator(sel("new-user-submit")).click();
      await d.locator(sel("new-user-password-error")).waitFor({ timeout });
      if ((await d.locator(sel("new-user-password")).getAttribute("aria-invalid")) !== "true") fail("a short password is not marked invalid");
    }
    await d.locator(sel("new-user-password")).fill(password);
    await d.locator(sel("new-user-submit")).click();
    await d.waitFor({ state: "detached", timeout });
    await page.locator(`[data-testid="user-row"][data-email="${email}"]`).waitFor({ timeout });
  };
  const apiUser = async (email) => ((await get("/api/admin/users")).items ?? []).find((u) => u.email === email);
  const analyst = `e2e-analyst-${stamp}@example.com`;
  await addUser(analyst, "analyst", { shortFirst: true });
  if ((await apiUser(analyst))?.role !== "analyst") fail("the new analyst is not in /api/admin/users as an analyst");
  const row = page.locator(`[data-testid="user-row"][data-email="${analyst}"]`);

  setStep("operations: users — make the analyst a viewer, then disable them");
  await row.locator(sel("user-role")).selectOption("viewer");
  await page.locator(`[data-testid="user-row"][data-email="${analyst}"][data-role="viewer"]`).waitFor({ timeout });
  if ((await apiUser(analyst))?.role !== "viewer") fail("the role change is not in /api/admin/users");
  await row.locator(sel("user-toggle")).click();
  await page.locator(`[data-testid="user-row"][data-email="${analyst}"][data-disabled="true"]`).waitFor({ timeout });
  if ((await apiUser(analyst))?.disabled !== true) fail("the user is not disabled in /api/admin/users");

  setStep("operations: users — disabling oneself shows the server's refusal in place");
  const me = await get("/auth/me");
  const self = page.locator(`[data-testid="user-row"][data-email="${me.email}"]`);
  await self.locator(sel("user-toggle")).click();
  const refusal = self.locator(sel("user-error"));
  await refusal.waitFor({ timeout });
  const refusalText = (await refusal.textContent())?.trim() ?? "";
  if (!/yourself|themself|own/i.test(refusalText)) fail(`disabling oneself: unexpected message ${JSON.stringify(refusalText)}`);
  if ((await apiUser(me.email))?.disabled) fail("the admin disabled themself");
  log(`operations: analyst added, made viewer, disabled; self-disable refused ("${refusalText}")`);
  await page.screenshot({ path: path.join(artifacts, "operations-users.png"), fullPage: true });

  // 4c. Branding: a logo, a footer; the header shows the logo.
  setStep("operations: branding with a logo");
  await page.locator(sel("ops-tab-branding")).click({ timeout });
  await page.waitForURL((u) => u.pathname === "/operations/branding", { timeout });
  await page.locator(sel("branding-form")).waitFor({ timeout });
  const png = Buffer.from(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==",
    "base64",
  );
  await page.locator(sel("branding-logo")).setInputFiles({ name: "logo.png", mimeType: "image/png", buffer: png });
  await page.locator("#branding-footer").fill(`E2E footer ${stamp}`);
  await page.locator(sel("branding-save")).click({ timeout });
  await page.locator(sel("branding-saved")).waitFor({ timeout });
  const brand = await get("/api/settings/branding");
  if (!brand.logo?.startsWith("data:image/png;base64,")) fail("branding: the logo did not reach the API");
  if (brand.footer !== `E2E footer ${stamp}`) fail(`branding: footer ${JSON.stringify(brand.footer)}`);
  await page.reload({ waitUntil: "domcontentloaded" });
  await page.locator(sel("brand-logo")).waitFor({ timeout });
  await page.screenshot({ path: path.join(artifacts, "operations-branding.png"), fullPage: true });
  // A bad colour is refused by the field, nothing saved.
  await page.locator("#branding-accent").fill("teal");
  await page.locator(sel("branding-save")).click({ timeout });
  await page.locator(sel("branding-accent-error")).waitFor({ timeout });
  await send("PUT", "/api/admin/branding", { logo: "", footer: "" });
  // Back to the users, where the next step adds one.
  await page.locator(sel("ops-tab-users")).click({ timeout });
  await page.locator(sel("users-table")).waitFor({ timeout });
  log("operations: branding saved with a logo and footer; the header shows the logo; a bad colour refused");

  // 5. A viewer never sees operations.
  setStep("operations: a viewer has no Operations and makes no admin request");
  const viewer = `e2e-viewer-${stamp}@example.com`;
  await addUser(viewer, "viewer");
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  try {
    const vp = await context.newPage();
    const admin = [];
    vp.on("request", (r) => {
      if (new URL(r.url()).pathname.startsWith("/api/admin")) admin.push(r.url());
    });
    await vp.goto(`${base}/login`, { waitUntil: "domcontentloaded" });
    await vp.locator("#tenant").fill(tenant);
    await vp.locator("#email").fill(viewer);
    await vp.locator("#password").fill(password);
    await vp.getByRole("button", { name: "Sign in", exact: true }).click();
    await vp.waitForURL((u) => u.pathname === "/", { timeout });
    await vp.locator(sel("nav-companies")).first().waitFor({ timeout });
    if (await vp.locator(sel("nav-operations")).count()) fail("a viewer sees Operations in the nav");
    await vp.goto(`${base}/operations/runs`, { waitUntil: "domcontentloaded" });
    await vp.locator(sel("ops-forbidden")).waitFor({ timeout });
    const said = (await vp.locator(sel("ops-forbidden")).textContent()) ?? "";
    if (!/not available for your role/i.test(said)) fail(`the viewer's page says ${JSON.stringify(said.slice(0, 120))}`);
    await vp.waitForTimeout(500);
    if (admin.length) fail(`a viewer's pages called the admin API: ${admin.join(", ")}`);
    log("operations: a viewer has no Operations entry, /operations/runs is not available, no /api/admin request");
  } finally {
    await context.close();
  }
  await page.goto(`${base}/`, { waitUntil: "domcontentloaded" });
}
