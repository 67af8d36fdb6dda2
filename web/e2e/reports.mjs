// End-to-end check of client reports on the company page, run by dashboard.mjs once it is
// signed in as the demo's tenant admin:
//
// A company's page has the "Client report" card (period "Last month" by default).
// "Download PDF" fetches GET /api/analytics/companies/{id}/report.pdf with the user's
// token: the response is application/pdf, the file saved under the server's name
// (…-report-YYYY-MM-DD.pdf) and it starts with %PDF. "E-mail report…" opens a dialog
// (focus in its recipients, Escape closes it and gives focus back); a word that is not an
// address is refused beside the field, the text kept; a made-up address is then sent to
// and the dialog says "Sent to 1 recipient" with it. With AVESA_TEST_SMTP_MAILDIR set
// (scripts/services.sh's SMTP sink) the message must arrive there with the PDF attached.
// If e-mailing is off on the server (409, smtp.url not set) the check fails and says so.
// "Schedule…" makes a monthly schedule (day 3, 09:00, last month, to a made-up address):
// the API then lists it and the card tells it in words; its Delete asks first (Cancel has
// the focus) and removes it from the card and the API. The card holds together at 1280 px
// and on a phone (390 px), and is dark under a dark OS (screenshots in e2e-artifacts/).
//
// Every expected value is read from the API; the UI is found by data-testid.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";

/** The text of a PDF's pages (poppler's pdftotext, which scripts/test.sh installs). */
function pdfText(file) {
  return execFileSync("pdftotext", ["-layout", file, "-"], { encoding: "utf8" }).replace(/\s+/g, " ");
}

/**
 * @param {object} ctx
 * @param {import("playwright-core").Page} ctx.page   signed in as a tenant admin or analyst
 * @param {string} ctx.base                            the app's origin
 * @param {(path: string) => Promise<any>} ctx.get    GET an API path with the user's token
 * @param {string} ctx.artifacts                       where screenshots go
 * @param {(msg: string) => never} ctx.fail
 * @param {(msg: string) => void} ctx.log
 * @param {(name: string) => void} ctx.setStep
 * @param {number} ctx.timeout                         per-step timeout (ms)
 */
export async function checkClientReports({ page, base, get, artifacts, fail, log, setStep, timeout }) {
  const enc = encodeURIComponent;
  const sel = (id) => `[data-testid="${id}"]`;
  const text = async (loc) => ((await loc.first().textContent().catch(() => null)) ?? "").replace(/\s+/g, " ").trim();
  const activeTestId = () => page.evaluate(() => document.activeElement?.getAttribute("data-testid") ?? document.activeElement?.tagName ?? null);
  const gone = async (testId, what) => {
    await page
      .locator(sel(testId))
      .first()
      .waitFor({ state: "detached", timeout })
      .catch(() => fail(`${what}: [data-testid=${testId}] is still there`));
  };
  const stamp = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
  const mailTo = `e2e-report-${stamp}@client.example`;
  const scheduleTo = `e2e-schedule-${stamp}@client.example`;
  const maildir = process.env.AVESA_TEST_SMTP_MAILDIR;
  const smtp = process.env.AVESA_TEST_SMTP ?? "smtp://127.0.0.1:12525";

  // 1. A company, from the API.
  setStep("reports: pick a company from the API");
  const company = (await get("/api/companies?page=1&page_size=1"))?.items?.[0];
  if (!company?.id) fail("/api/companies lists no company");
  const schedulesOf = async () => (await get(`/api/report-schedules?company=${enc(company.id)}`))?.schedules ?? [];
  const before = await schedulesOf();

  setStep("reports: open the company's page");
  await page.goto(`${base}/companies/${enc(company.id)}`, { waitUntil: "domcontentloaded" });
  const card = page.getByTestId("client-report");
  await card.waitFor({ state: "visible" });
  const period = await page.getByTestId("client-report-period").inputValue();
  if (period !== "last_month") fail(`the report's period starts at ${JSON.stringify(period)}, expected last_month`);
  await page
    .waitForFunction((s) => /^Covers \d/.test(document.querySelector(s)?.textContent ?? ""), sel("client-report-covers"), { timeout })
    .catch(async () => fail(`the card does not say what the report covers: ${JSON.stringify(await text(page.getByTestId("client-report-covers")))}`));

  // 2. Download: the route's answer is a PDF, saved under the server's name.
  setStep("reports: download the PDF");
  const isPdfRoute = (r) => {
    const u = new URL(r.url());
    return decodeURIComponent(u.pathname) === `/api/analytics/companies/${company.id}/report.pdf`;
  };
  const [download, response] = await Promise.all([
    page.waitForEvent("download", { timeout: timeout * 2 }),
    page.waitForResponse(isPdfRoute, { timeout: timeout * 2 }),
    page.getByTestId("client-report-download").click(),
  ]).catch(async (e) => {
    const err = await text(page.locator(`${sel("client-report")} ${sel("error")}`));
    return fail(`no PDF downloaded${err ? `; the card says ${JSON.stringify(err)}` : ""} (${e.message.split("\n")[0]})`);
  });
  if (response.status() !== 200) fail(`report.pdf answered ${response.status()}`);
  const type = response.headers()["content-type"] ?? "";
  if (!type.startsWith("application/pdf")) fail(`report.pdf answered Content-Type ${JSON.stringify(type)}`);
  if (new URL(response.url()).searchParams.get("period") !== "last_month") fail(`report.pdf asked for ${response.url()}`);
  const auth = (await response.request().allHeaders()).authorization ?? "";
  if (!auth.startsWith("Bearer ")) fail("report.pdf was fetched without the user's token");
  const disposition = response.headers()["content-disposition"] ?? "";
  const served = /filename="([^"]+)"/.exec(disposition)?.[1];
  if (!served || !/-report-\d{4}-\d{2}-\d{2}\.pdf$/.test(served)) fail(`report.pdf's Content-Disposition is ${JSON.stringify(disposition)}`);
  if (download.suggestedFilename() !== served) fail(`the PDF was saved as ${download.suggestedFilename()}, the server named it ${served}`);
  const pdfPath = await download.path();
  if (!pdfPath) fail("the download saved nothing");
  const pdf = fs.readFileSync(pdfPath);
  if (pdf.subarray(0, 5).toString("latin1") !== "%PDF-") fail(`the saved file does not start with %PDF-: ${JSON.stringify(pdf.subarray(0, 16).toString("latin1"))}`);
  // Its pages say whose report it is, for which month, with its sections.
  const pages = pdfText(pdfPath);
  const wantText = (t, what, where) => {
    if (!t.includes(what)) fail(`${where} does not say ${JSON.stringify(what)}: ${JSON.stringify(t.slice(0, 300))}`);
  };
  wantText(pages, company.name, "the PDF");
  for (const heading of ["Tickets", "Hours"]) wantText(pages, heading, "the PDF");
  log(`PDF: ${served}, ${pdf.length} bytes; its text names ${company.name}`);

  // 3. E-mail now: the dialog's focus, a refused word, then a made-up address.
  setStep("reports: the e-mail dialog opens and closes by keyboard");
  await page.getByTestId("client-report-email").click();
  await page.getByTestId("report-email-dialog").waitFor({ state: "visible" });
  if ((await activeTestId()) !== "report-email-to") fail(`the e-mail dialog opened with the focus on ${await activeTestId()}, expected its recipients`);
  if (await page.getByTestId("report-email-contacts").isChecked()) fail("the e-mail dialog starts with the company's contacts ticked");
  await page.keyboard.press("Escape");
  await gone("report-email-dialog", "Escape on the e-mail dialog");
  if ((await activeTestId()) !== "client-report-email") fail(`after Escape the focus is on ${await activeTestId()}, expected the "E-mail report…" button`);

  setStep("reports: a recipient that is not an address is refused");
  await page.getByTestId("client-report-email").click();
  await page.getByTestId("report-email-dialog").waitFor({ state: "visible" });
  await page.getByTestId("report-email-to").fill("not-an-address");
  await page.getByTestId("report-email-send").click();
  const toError = page.getByTestId("report-email-to-error");
  await toError.waitFor({ state: "visible" });
  if (!/not an e-mail address/.test(await text(toError))) fail(`the recipients' error says ${JSON.stringify(await text(toError))}`);
  if ((await page.getByTestId("report-email-to").inputValue()) !== "not-an-address") fail("the recipients were cleared after the error");

  setStep("reports: e-mail the report to a made-up address");
  await page.getByTestId("report-email-to").fill(mailTo);
  await page.getByTestId("report-email-message").fill("Sent by the AVESA end-to-end test.");
  await page.getByTestId("report-email-send").click();
  const outcome = await page
    .locator([sel("report-email-sent"), sel("report-email-error"), sel("report-email-to-error"), sel("report-email-message-error")].join(", "))
    .first()
    .elementHandle({ timeout: timeout * 3 })
    .catch(() => fail(`no answer to the e-mail within ${(timeout * 3) / 1000}s`));
  const outcomeId = await outcome.getAttribute("data-testid");
  if (outcomeId !== "report-email-sent") {
    const why = ((await outcome.textContent()) ?? "").trim();
    if (/off on this server|smtp\.url/i.test(why)) {
      fail(
        `e-mailing reports is off on the server under test (${JSON.stringify(why)}): serve it with smtp.url (and smtp.from) ` +
          `pointing at an SMTP sink, e.g. ${smtp} (scripts/services.sh start_smtp)`,
      );
    }
    fail(`the e-mail was not sent: ${JSON.stringify(why)}`);
  }
  const sentText = await text(page.getByTestId("report-email-sent"));
  if (!sentText.startsWith("Sent to 1 recipient")) fail(`after sending the dialog says ${JSON.stringify(sentText)}`);
  const sentTo = await page.locator(`${sel("report-email-sent-to")} li`).allTextContents();
  if (sentTo.length !== 1 || sentTo[0].trim() !== mailTo) fail(`the dialog lists ${JSON.stringify(sentTo)}, expected [${mailTo}]`);
  if ((await activeTestId()) !== "report-email-done") fail(`after sending the focus is on ${await activeTestId()}, expected "Done"`);
  log(`e-mail: sent to ${mailTo}`);

  if (maildir) {
    setStep("reports: the e-mail reached the SMTP sink");
    const dir = path.join(maildir, "new");
    const deadline = Date.now() + timeout;
    let found = null;
    while (!found && Date.now() < deadline) {
      for (const f of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
        const body = fs.readFileSync(path.join(dir, f), "latin1");
        if (body.includes(mailTo)) {
          found = { f, body };
          break;
        }
      }
      if (!found) await new Promise((r) => setTimeout(r, 250));
    }
    if (!found) fail(`no message to ${mailTo} in ${dir}`);
    if (!/application\/pdf/i.test(found.body)) fail(`the message to ${mailTo} (${found.f}) has no PDF attached`);
    // The attachment (base64 after its part's headers) is a PDF naming the company.
    const part = found.body.split(/\r?\n--/).find((p) => /Content-Type:\s*application\/pdf/i.test(p));
    const b64 = (part ?? "").split(/\r?\n\r?\n/).slice(1).join("").replace(/[^A-Za-z0-9+/=]/g, "");
    const attached = path.join(os.tmpdir(), `avesa-e2e-${stamp}.pdf`);
    fs.writeFileSync(attached, Buffer.from(b64, "base64"));
    wantText(pdfText(attached), company.name, "the e-mailed PDF");
    fs.rmSync(attached, { force: true });
    log(`e-mail: in the sink's Maildir (${found.f}) with the PDF, whose text names ${company.name}`);
  }
  await page.getByTestId("report-email-done").click();
  await gone("report-email-dialog", "Done on the e-mail dialog");

  // 4. A monthly schedule: made, listed in words, deleted.
  setStep("reports: make a monthly schedule");
  await page.getByTestId("report-schedule-new").click();
  await page.getByTestId("report-schedule-dialog").waitFor({ state: "visible" });
  if (!(await page.getByTestId("report-schedule-cadence-monthly").isChecked())) fail("a new schedule does not start monthly");
  await page.getByTestId("report-schedule-day").selectOption("3");
  await page.getByTestId("report-schedule-hour").selectOption("9");
  await page.getByTestId("report-schedule-period").selectOption("last_month");
  await page.getByTestId("report-schedule-to").fill(scheduleTo);
  const preview = await text(page.getByTestId("report-schedule-preview"));
  if (!preview.startsWith("Monthly on day 3 at 09:00") || !preview.includes(`last month's report to ${scheduleTo}`)) fail(`the schedule's preview says ${JSON.stringify(preview)}`);
  await page.getByTestId("report-schedule-save").click();
  await page
    .locator(sel("report-schedule-dialog"))
    .waitFor({ state: "detached", timeout: timeout })
    .catch(async () => {
      const why = await text(page.locator(`${sel("report-schedule-dialog")} [role="alert"], ${sel("report-schedule-dialog")} .text-danger`));
      fail(`the schedule was not made${why ? `: ${JSON.stringify(why)}` : ""}`);
    });

  setStep("reports: the schedule is in the API and on the card");
  const made = (await schedulesOf()).filter((s) => !before.some((b) => b.id === s.id));
  if (made.length !== 1) fail(`the API lists ${made.length} new schedules for ${company.id}, expected 1`);
  const s = made[0];
  const want = { cadence: "monthly", day: 3, hour: 9, period: "last_month", contacts: false };
  for (const [k, v] of Object.entries(want)) if (s[k] !== v) fail(`the new schedule's ${k} is ${JSON.stringify(s[k])}, expected ${JSON.stringify(v)}`);
  if (JSON.stringify(s.to) !== JSON.stringify([scheduleTo])) fail(`the new schedule goes to ${JSON.stringify(s.to)}`);
  const item = page.locator(`${sel("report-schedule")}[data-id="${s.id}"]`);
  await item.waitFor({ state: "visible" });
  const summary = await text(item.getByTestId("report-schedule-summary"));
  const expected = `Monthly on day 3 at 09:00 (${s.tz}): last month's report to ${scheduleTo}`;
  if (summary !== expected) fail(`the card tells the schedule as ${JSON.stringify(summary)}, expected ${JSON.stringify(expected)}`);
  if (!/next \d{1,2} [A-Z][a-z]{2} \d{4} 09:00/.test(await text(item))) fail(`the schedule's next run is not shown: ${JSON.stringify(await text(item))}`);
  log(`schedule ${s.id}: ${summary}`);

  // 5. The card's layout: 1280 px, a phone; dark under a dark OS.
  setStep("reports: the card at 1280 px and on a phone");
  const viewport = page.viewportSize();
  const fits = async (what) => {
    const box = await card.evaluate((el) => {
      const r = el.getBoundingClientRect();
      const over = [...el.querySelectorAll("*")].filter((e) => {
        const b = e.getBoundingClientRect();
        return b.width > 0 && (b.right > r.right + 1 || b.left < r.left - 1);
      }).length;
      return { left: r.left, right: r.right, width: window.innerWidth, over };
    });
    if (box.left < 0 || box.right > box.width + 1) fail(`${what}: the card spans ${box.left}–${box.right} of a ${box.width} px window`);
    if (box.over) fail(`${what}: ${box.over} element(s) stick out of the card`);
  };
  for (const [w, h, name] of [[1280, 900, "client-report.png"], [390, 844, "client-report-phone.png"]]) {
    await page.setViewportSize({ width: w, height: h });
    await card.scrollIntoViewIfNeeded();
    await fits(`at ${w} px`);
    await card.screenshot({ path: path.join(artifacts, name) });
  }
  if (viewport) await page.setViewportSize(viewport);

  setStep("reports: the card in dark");
  const toggle = page.getByTestId("theme-toggle");
  if ((await toggle.count()) && (await toggle.getAttribute("data-choice")) !== "system") await page.getByTestId("theme-system").click();
  await page.emulateMedia({ colorScheme: "dark" });
  try {
    await page
      .waitForFunction(() => document.documentElement.classList.contains("dark"), null, { timeout })
      .catch(() => fail("under a dark OS on System the page did not turn dark"));
    const look = await card.evaluate((el) => {
      const canvas = document.createElement("canvas");
      canvas.width = canvas.height = 1;
      const ctx = canvas.getContext("2d", { willReadFrequently: true });
      const lum = (css) => {
        ctx.clearRect(0, 0, 1, 1);
        ctx.fillStyle = "#000";
        ctx.fillStyle = css;
        ctx.fillRect(0, 0, 1, 1);
        const [r, g, b] = ctx.getImageData(0, 0, 1, 1).data;
        const f = (c) => ((c /= 255) <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
        return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
      };
      let e = el;
      while (e && getComputedStyle(e).backgroundColor === "rgba(0, 0, 0, 0)") e = e.parentElement;
      const title = el.querySelector("h2");
      const summary = el.querySelector('[data-testid="report-schedule-summary"]');
      return {
        bg: lum(e ? getComputedStyle(e).backgroundColor : "#fff"),
        title: lum(getComputedStyle(title).color),
        summary: summary ? lum(getComputedStyle(summary).color) : 1,
      };
    });
    if (!(look.bg < 0.05)) fail(`in dark the card's background has luminance ${look.bg.toFixed(3)}`);
    if (!(look.title > 0.5 && look.summary > 0.5)) fail(`in dark the card's text is dark (title ${look.title.toFixed(3)}, schedule ${look.summary.toFixed(3)})`);
    await card.screenshot({ path: path.join(artifacts, "dark-client-report.png") });
  } finally {
    await page.emulateMedia({ colorScheme: "light" });
  }
  log("card: fits at 1280 px and 390 px, dark in dark");

  setStep("reports: delete the schedule (asked first)");
  await item.getByTestId("report-schedule-delete").click();
  await page.getByTestId("report-schedule-delete-dialog").waitFor({ state: "visible" });
  if ((await activeTestId()) === "report-schedule-delete-confirm") fail("the delete dialog opened with the focus on Delete, not Cancel");
  await page.getByTestId("report-schedule-delete-confirm").click();
  await gone("report-schedule-delete-dialog", "after confirming the delete");
  await item.waitFor({ state: "detached", timeout }).catch(() => fail(`schedule ${s.id} is still on the card after its delete`));
  await page
    .waitForFunction(() => document.activeElement?.getAttribute("data-testid") === "report-schedule-new", null, { timeout })
    .catch(async () => fail(`after the delete the focus is on ${await activeTestId()}, expected "Schedule…"`));
  if ((await schedulesOf()).some((x) => x.id === s.id)) fail(`the API still lists schedule ${s.id} after its delete`);
  log(`schedule ${s.id}: deleted`);
}
