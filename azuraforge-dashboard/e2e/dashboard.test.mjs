// End to end in a real headless Chromium against the real stack: start an experiment through the form,
// watch its chart gain points while it trains, read its report, cancel a run, compare two runs.
// Every page is saved as a screenshot under test-output/; any browser console error fails the run.
//
// Environment: E2E_BASE_URL (a running stack; else `azuraforge up` is started here with the sine_test app,
// see stack.mjs), and with E2E_BASE_URL: E2E_TOKEN (its bootstrap API token, if it has one), E2E_USERNAME and
// E2E_PASSWORD (a site admin's account, if it has accounts), E2E_APP (the app to run;
// default: the first installed), E2E_CONFIG (JSON of config fields to type into the form, e.g. to slow the
// app down enough to watch it). Always: E2E_EPOCHS (epochs of the watched run, default 8), E2E_CANCEL_EPOCHS
// (epochs of the run that is cancelled, default 500), CHROMIUM (default /usr/bin/chromium).
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { logIn, openBrowser, startStack } from "./stack.mjs";

const OUTPUT = resolve(import.meta.dirname, "../test-output");
const RUN_TIMEOUT_MS = Number(process.env.E2E_RUN_TIMEOUT_MS ?? 300_000);
const EPOCHS = process.env.E2E_EPOCHS ?? "8";
const CANCEL_EPOCHS = process.env.E2E_CANCEL_EPOCHS ?? "500";

describe("dashboard in a real browser", { timeout: 20 * 60_000 }, () => {
  let stack;
  let browser;
  let page;
  let consoleErrors;
  const runs = {};

  before(async () => {
    mkdirSync(OUTPUT, { recursive: true });
    stack = await startStack();
    browser = await openBrowser(stack); // it confirms the "Cancel …?" question
    ({ page, consoleErrors } = browser);
  });

  after(async () => {
    await browser?.close();
    await stack?.stop();
  });

  it("asks for a login when the API requires one", async () => {
    await page.goto("/");
    if (!stack.username) {
      await page.getByRole("heading", { name: "Experiments" }).waitFor();
      assert.equal(await page.locator("#login-username").count(), 0);
      return;
    }
    await logIn(page, stack.username, stack.password);
    await page.screenshot({ path: join(OUTPUT, "logged-in.png") });
    await page.locator("table.experiments").waitFor();
    // Before logging in, the browser itself logs the refused requests (401): expected here only.
    const refused = consoleErrors.splice(0);
    for (const error of refused) assert.match(error, /\b40[13]\b|WebSocket connection to/);
  });

  it("lists experiments and offers the installed apps", async () => {
    await page.goto("/");
    await page.getByRole("heading", { name: "Experiments" }).waitFor();
    await page.getByRole("link", { name: "New experiment" }).first().click();
    await page.getByRole("heading", { name: "New experiment" }).waitFor();
    await page.locator("#app option, p.error").first().waitFor({ state: "attached" });
    const apps = await page.locator("#app option").allTextContents();
    assert.ok(apps.length > 0, "no app is installed in the stack under test");
    if (stack.app) {
      assert.ok(apps.includes(stack.app), `${stack.app} is not among ${apps.join(", ")}`);
      await page.locator("#app").selectOption(stack.app);
    }
    await page.locator("#field-epochs").waitFor();
  });

  it("rejects an invalid value in the form before sending it", async () => {
    await page.locator("#field-epochs").fill("0");
    await page.getByRole("button", { name: /^Start/ }).click();
    await page.locator('[data-field="epochs"] .field-error').waitFor();
    assert.match(page.url(), /\/new/);
  });

  it("starts an experiment from the form and draws its chart live while it trains", async () => {
    await fillForm("e2e live run", EPOCHS);
    await page.screenshot({ path: join(OUTPUT, "new-experiment.png"), fullPage: true });
    await page.getByRole("button", { name: /^Start/ }).click();
    await page.waitForURL(/\/experiments\/[0-9a-f-]+$/);
    runs.live = experimentIdOf(page.url());

    // Points counted while the page says the run is queued or running: they came live, not from the final record.
    await page.locator(".page-head .status").waitFor();
    // The final event carries the record: the page asks the API for nothing more until the run has ended.
    const recordRequests = [];
    const onRequest = (request) => {
      if (new URL(request.url()).pathname.startsWith("/api/v1/experiments/")) recordRequests.push(request.url());
    };
    page.on("request", onRequest);
    const livePoints = [];
    const deadline = Date.now() + RUN_TIMEOUT_MS;
    while (Date.now() < deadline && livePoints.at(-1) !== "done") {
      const sample = await page.evaluate(() => {
        const status = document.querySelector(".page-head .status")?.textContent;
        const chart = document.querySelector("figure.chart[data-points]");
        return status === "queued" || status === "running" ? Number(chart?.getAttribute("data-points") ?? 0) : "done";
      });
      if (sample !== livePoints.at(-1)) {
        livePoints.push(sample);
        if (sample === 2) await page.screenshot({ path: join(OUTPUT, "experiment-live.png"), fullPage: true });
      }
      await page.waitForTimeout(100);
    }
    const counts = livePoints.filter((sample) => typeof sample === "number" && sample > 0);
    assert.ok(
      counts.length >= 2 && counts.at(-1) > counts[0],
      `the chart should gain points while training runs; saw ${JSON.stringify(livePoints)}`,
    );
    await page.locator(".status", { hasText: "succeeded" }).first().waitFor({ timeout: RUN_TIMEOUT_MS });
    await page.getByRole("link", { name: "Report" }).waitFor();
    await page.locator(".verdict-panel").waitFor();
    page.off("request", onRequest);
    assert.deepEqual(recordRequests, [], "the run page polled the record instead of reading the final event");
    await checkRunRecord(runs.live);
    const finalPoints = Number(await page.locator("figure.chart").first().getAttribute("data-points"));
    assert.equal(finalPoints, Number(EPOCHS));
    await page.screenshot({ path: join(OUTPUT, "experiment-finished.png"), fullPage: true });
  });

  it("replays the charts of a finished run on reload", async () => {
    await page.reload();
    await page.locator("figure.chart").first().waitFor();
    assert.equal(Number(await page.locator("figure.chart").first().getAttribute("data-points")), Number(EPOCHS));
    await checkRunRecord(runs.live);
  });

  it("renders the report with its tables and images, and lists the artifacts", async () => {
    await page.getByRole("link", { name: "Report" }).click();
    await page.locator("article.report h1, article.report h2").first().waitFor();
    await page.locator("article.report table").first().waitFor();
    const images = page.locator("article.report img");
    await images.first().waitFor();
    await page.waitForFunction(() =>
      Array.from(document.querySelectorAll("article.report img")).every((img) => img.complete && img.naturalWidth > 0),
    );
    assert.ok((await page.locator(".artifacts li").count()) > 0, "the report page lists no artifact");
    await page.screenshot({ path: join(OUTPUT, "report.png"), fullPage: true });
  });

  it("cancels a running experiment", async () => {
    await page.goto("/new");
    if (stack.app) await page.locator("#app").selectOption(stack.app);
    await fillForm("e2e cancelled run", CANCEL_EPOCHS);
    await page.getByRole("button", { name: /^Start/ }).click();
    await page.waitForURL(/\/experiments\/[0-9a-f-]+$/);
    runs.cancelled = experimentIdOf(page.url());
    // Cancel once two epochs are drawn, so the run has a curve to compare.
    await page.waitForFunction(
      () => Number(document.querySelector("figure.chart")?.getAttribute("data-points")) >= 2,
      null,
      { timeout: RUN_TIMEOUT_MS },
    );
    await page.getByRole("button", { name: "Cancel" }).click();
    await page.locator(".status", { hasText: "cancelled" }).first().waitFor({ timeout: RUN_TIMEOUT_MS });
    await page.getByText(/^Ran for/).waitFor();
    await page.screenshot({ path: join(OUTPUT, "experiment-cancelled.png"), fullPage: true });
  });

  it("lists both runs with their final statuses and compares them", async () => {
    await page.goto("/");
    const live = page.locator(`tr[data-experiment="${runs.live}"]`);
    const cancelled = page.locator(`tr[data-experiment="${runs.cancelled}"]`);
    await live.locator(".status", { hasText: "succeeded" }).waitFor();
    await cancelled.locator(".status", { hasText: "cancelled" }).waitFor();
    // The list marks each headline metric with the verdict against the strongest baseline, as the record says.
    const record = await getRecord(runs.live);
    const headline = new Set(record.result.plan.metrics.filter((spec) => spec.headline).map((spec) => spec.name));
    const expected = record.result.verdict
      .filter((entry) => headline.size === 0 || headline.has(entry.metric))
      .map((entry) => `${entry.metric} ${entry.beaten ? "✓" : "✗"}`);
    assert.deepEqual(await live.locator(".verdict").allTextContents(), expected);
    const offline = record.result.provenance.data?.source.fallback_reason ? 1 : 0;
    assert.equal(await live.locator(".badge-offline").count(), offline);
    await page.screenshot({ path: join(OUTPUT, "experiments.png"), fullPage: true });
    await live.getByRole("checkbox").check();
    await cancelled.getByRole("checkbox").check();
    await page.getByRole("button", { name: /^Compare/ }).click();
    await page.getByRole("heading", { name: "Compare 2 experiments" }).waitFor();
    await page.locator("figure.chart").first().waitFor();
    const differing = await page.locator("table.compare").first().locator("tbody th").allTextContents();
    assert.ok(differing.includes("epochs"), `epochs differ between the runs; the table shows ${differing.join(", ")}`);
    await page.screenshot({ path: join(OUTPUT, "compare.png"), fullPage: true });
  });

  it("follows a run's status and result on the list page without fetching the list or the record", async () => {
    const headers = { "Content-Type": "application/json", ...(stack.token && { Authorization: `Bearer ${stack.token}` }) };
    const apps = await (await fetch(`${stack.baseUrl}/api/v1/apps`, { headers })).json();
    const response = await fetch(`${stack.baseUrl}/api/v1/experiments`, {
      method: "POST",
      headers,
      body: JSON.stringify({ app: stack.app ?? apps[0].name, name: "e2e list run", config: { ...stack.config, epochs: 10 } }),
    });
    assert.equal(response.status, 202);
    const { id } = await response.json();
    const requests = [];
    const onRequest = (request) => {
      const path = new URL(request.url()).pathname;
      if (path === "/api/v1/experiments" || path === `/api/v1/experiments/${id}`) requests.push(request.url());
    };
    await page.goto("/");
    const row = page.locator(`tr[data-experiment="${id}"]`);
    await row.waitFor();
    page.on("request", onRequest);
    await row.locator(".status", { hasText: "succeeded" }).waitFor({ timeout: RUN_TIMEOUT_MS });
    // The final event carries the record: its metrics and verdict show up with the status.
    await row.locator(".metric").first().waitFor();
    await row.locator(".verdict").first().waitFor();
    page.off("request", onRequest);
    assert.deepEqual(requests, []);
  });

  it("switches to the other theme", async () => {
    const before = await page.evaluate(() => document.documentElement.dataset.theme);
    await page.getByRole("button", { name: "Toggle dark and light theme" }).click();
    const after = await page.evaluate(() => document.documentElement.dataset.theme);
    assert.notEqual(after, before);
    await page.screenshot({ path: join(OUTPUT, `experiments-${after}.png`), fullPage: true });
  });

  it("logged no error in the browser console", () => {
    assert.deepEqual(consoleErrors, []);
  });

  async function getRecord(id) {
    const headers = stack.token ? { Authorization: `Bearer ${stack.token}` } : {};
    const response = await fetch(`${stack.baseUrl}/api/v1/experiments/${id}`, { headers });
    assert.equal(response.status, 200);
    return response.json();
  }

  /** The run page shows the record's verdict, its data provenance (with the offline badge exactly when the
   * offline sample stood in) and every config value exactly as stored. */
  async function checkRunRecord(id) {
    const record = await getRecord(id);
    const { result } = record;
    assert.ok(result, "the finished run has no record");
    const rows = await page.locator(".verdict-panel tbody tr").evaluateAll((trs) =>
      trs.map((tr) => [tr.dataset.metric, tr.lastElementChild?.textContent]),
    );
    assert.deepEqual(rows, result.verdict.map((entry) => [entry.metric, entry.beaten ? "beats" : "loses"]));
    const data = result.provenance.data;
    await page.locator(".provenance").getByText(String(data.rows), { exact: true }).waitFor();
    assert.equal(await page.locator(".provenance .badge-offline").count(), data.source.fallback_reason ? 1 : 0);
    const shown = await page.locator("h2:text-is('Config') + table.kv tr").evaluateAll((trs) =>
      trs.map((tr) => [tr.children[0].textContent, tr.children[1].textContent]),
    );
    const stored = Object.entries(record.config).map(([key, value]) => [
      key,
      typeof value === "string" ? value : JSON.stringify(value),
    ]);
    assert.deepEqual(shown, stored);
  }

  async function fillForm(name, epochs) {
    await page.locator("#experiment-name").fill(name);
    await page.locator("#field-epochs").fill(epochs);
    for (const [field, value] of Object.entries(stack.config)) {
      const input = page.locator(`#field-${field}`);
      const tag = await input.evaluate((element) => `${element.tagName}:${element.getAttribute("type")}`);
      if (tag === "SELECT:null") await input.selectOption(String(value));
      else if (tag === "INPUT:checkbox") await input.setChecked(Boolean(value));
      else await input.fill(typeof value === "string" ? value : JSON.stringify(value));
    }
  }
});

function experimentIdOf(url) {
  return new URL(url).pathname.split("/").at(-1);
}
