// A sweep end to end in a real headless Chromium against the real stack: start it from the New experiment form
// in "search" mode, watch its leaderboard fill while its trials run, read the sampled values against the
// objective in parallel coordinates, register the best trial's model, open the best trial's run.
// Screenshots go under test-output/; any browser console error (after logging in) fails the run.
//
// Environment: as dashboard.test.mjs (E2E_BASE_URL, E2E_TOKEN, E2E_APP, CHROMIUM); E2E_SWEEP_TRIALS (default 4).
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { logIn, openBrowser, startStack } from "./stack.mjs";

const OUTPUT = resolve(import.meta.dirname, "../test-output");
const RUN_TIMEOUT_MS = Number(process.env.E2E_RUN_TIMEOUT_MS ?? 300_000);
const TRIALS = Number(process.env.E2E_SWEEP_TRIALS ?? 4);

describe("a sweep in a real browser", { timeout: 15 * 60_000 }, () => {
  let stack;
  let browser;
  let page;
  let consoleErrors;

  before(async () => {
    mkdirSync(OUTPUT, { recursive: true });
    stack = await startStack();
    browser = await openBrowser(stack);
    ({ page, consoleErrors } = browser);
    await page.goto("/");
    if (stack.username) {
      await logIn(page, stack.username, stack.password);
    }
    consoleErrors.splice(0); // the refused requests before logging in
  });

  after(async () => {
    await browser?.close();
    await stack?.stop();
  });

  it("refuses a search space the form can tell is wrong, before sending it", async () => {
    await openSearchForm();
    await page.getByRole("button", { name: "Start sweep" }).click();
    await page.getByText("Search at least one field.").waitFor();
    await page.locator("#search-learning_rate").check();
    await page.getByLabel("Learning Rate from").fill("0.1");
    await page.getByLabel("Learning Rate to").fill("0.001");
    await page.getByRole("button", { name: "Start sweep" }).click();
    await page.locator('[data-search="learning_rate"] .field-error', { hasText: "below" }).waitFor();
    assert.match(page.url(), /\/new/);
  });

  it("starts a sweep from the form and fills its leaderboard live", async () => {
    await openSearchForm();
    await page.locator("#sweep-name").fill("e2e sweep");
    await page.locator("#search-learning_rate").check();
    await page.getByLabel("Learning Rate from").fill("0.001");
    await page.getByLabel("Learning Rate to").fill("0.1");
    await page.getByLabel("Learning Rate log").check();
    await page.locator("#sweep-trials").fill(String(TRIALS));
    await page.locator("#sweep-parallelism").fill("2");
    await page.locator("#field-epochs").fill("2");
    for (const [field, value] of Object.entries(stack.config)) await fillField(field, value);
    await page.screenshot({ path: join(OUTPUT, "new-sweep.png"), fullPage: true });
    await page.getByRole("button", { name: "Start sweep" }).click();
    await page.waitForURL(/\/sweeps\/[0-9a-f]+$/);

    // Samples of (trials done, rows on the board) while the page itself says the sweep runs.
    const samples = [];
    const deadline = Date.now() + RUN_TIMEOUT_MS;
    await page.locator("[data-testid=sweep-state]").waitFor();
    while (Date.now() < deadline) {
      const sample = await page.evaluate(() => ({
        state: document.querySelector("[data-testid=sweep-state]")?.textContent,
        done: Number(document.querySelector("[data-testid=sweep-progress]")?.textContent ?? 0),
        rows: document.querySelectorAll("table.leaderboard tbody tr").length,
      }));
      const last = samples.at(-1);
      if (!last || last.done !== sample.done || last.rows !== sample.rows || last.state !== sample.state) {
        samples.push(sample);
        if (sample.done === 1) await page.screenshot({ path: join(OUTPUT, "sweep-live.png"), fullPage: true });
      }
      if (sample.state === "finished") break;
      await page.waitForTimeout(100);
    }
    const live = samples.filter((s) => s.state === "running");
    assert.ok(
      live.length >= 2 && live.some((s) => s.done > 0) && live[0].done < live.at(-1).done,
      `the leaderboard should fill while the sweep runs; saw ${JSON.stringify(samples)}`,
    );
    assert.deepEqual(samples.at(-1), { state: "finished", done: TRIALS, rows: TRIALS });
    const states = await page.locator("table.leaderboard tbody tr").evaluateAll((rows) =>
      rows.map((row) => row.getAttribute("data-state")),
    );
    assert.ok(states.every((state) => state === "complete" || state === "pruned"), states.join(", "));
    await page.locator('figure.chart[aria-label^="Best val_loss"]').waitFor();
    await page.locator('.importance[data-param="learning_rate"]').waitFor();
    // Parallel coordinates: an axis for the searched field and the objective, a line per trial, the best on top.
    const best = await page.locator("table.leaderboard tbody tr").first().getAttribute("data-trial");
    const lines = page.locator("figure.parallel path[data-row]");
    assert.equal(await lines.count(), TRIALS);
    const axes = await page
      .locator("figure.parallel [data-axis]")
      .evaluateAll((found) => found.map((axis) => `${axis.getAttribute("data-axis")}:${axis.getAttribute("data-kind")}`));
    assert.deepEqual(axes, ["learning_rate:log", "val_loss:linear"]);
    assert.equal(await page.locator('figure.parallel path[data-standing="1"]').getAttribute("data-row"), best);
    await page.screenshot({ path: join(OUTPUT, "sweep-finished.png"), fullPage: true });

    // "Promote best": register the best trial's model through the registry, then open the trial's own run.
    const sweepPage = page.url();
    const bestRun = await page.locator("table.leaderboard tbody tr").first().getByRole("link", { name: "open" }).getAttribute("href");
    await page.getByRole("button", { name: `Register the model of trial #${best}` }).click();
    await page.locator("#model-name").fill("e2e-sweep-best");
    await page.getByRole("button", { name: "Register", exact: true }).click();
    await page.waitForURL(/\/models\/e2e-sweep-best/);
    const source = page.locator('tr[data-version="1"] a[href^="/experiments/"]');
    assert.equal(await source.getAttribute("href"), bestRun, "version 1 is the best trial's model");
    await page.goto(sweepPage);
    await page.getByRole("link", { name: `Open best trial (#${best})` }).click();
    await page.waitForURL(/\/experiments\/[0-9a-f]+$/);
    await page.getByText(`e2e sweep #${best}`).first().waitFor();
    assert.deepEqual(consoleErrors, []);
  });

  async function openSearchForm() {
    const app = stack.app ? `app=${stack.app}&` : "";
    await page.goto(`/new?${app}mode=search`);
    await page.locator("#sweep-trials").waitFor();
  }

  async function fillField(field, value) {
    const input = page.locator(`#field-${field}`);
    if ((await input.getAttribute("type")) === "checkbox") await input.setChecked(Boolean(value));
    else await input.fill(String(value));
  }
});
