// Datasets in a real headless Chromium against the real stack: upload a small CSV on the Datasets page, see it
// listed with its version, then pick it as the data source in the New experiment form and start a run that
// trains on it (its record names the dataset), and in the search form, where a sweep's trials train on it.
// Screenshots go under test-output/.
//
// Environment: as dashboard.test.mjs (E2E_BASE_URL, E2E_TOKEN, CHROMIUM). The app must take CSV datasets with
// columns step and value (the worker's sine_test, which the stack started here has).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { logIn, openBrowser, startStack } from "./stack.mjs";

const OUTPUT = resolve(import.meta.dirname, "../test-output");
const RUN_TIMEOUT_MS = Number(process.env.E2E_RUN_TIMEOUT_MS ?? 120_000);
const CSV = "step,value\n" + Array.from({ length: 80 }, (_, step) => `${step},${Math.sin(step / 6).toFixed(5)}\n`).join("");

describe("datasets in a real browser", { timeout: 10 * 60_000 }, () => {
  let stack;
  let browser;
  let page;
  let consoleErrors;
  let folder;

  before(async () => {
    mkdirSync(OUTPUT, { recursive: true });
    stack = await startStack();
    folder = mkdtempSync(join(tmpdir(), "azuraforge-dataset-"));
    writeFileSync(join(folder, "series.csv"), CSV);
    browser = await openBrowser(stack);
    ({ page, consoleErrors } = browser);
    await page.goto("/");
    if (stack.username) await logIn(page, stack.username, stack.password);
    consoleErrors.splice(0); // the refused requests before logging in
  });

  after(async () => {
    await browser?.close();
    if (folder) rmSync(folder, { recursive: true, force: true });
    await stack?.stop();
  });

  it("uploads a CSV, offers it as the data source of a new run, and the run trains on it", async () => {
    await page.getByRole("link", { name: "Datasets" }).click();
    await page.getByRole("heading", { name: "Datasets" }).waitFor();
    await page.locator('input[type="file"]').setInputFiles(join(folder, "series.csv"));
    await page.getByPlaceholder("the file's name").fill("e2e series");
    await page.getByRole("button", { name: "Upload" }).click();
    await page.getByRole("status").filter({ hasText: "Uploaded e2e series." }).waitFor();
    const sha256 = createHash("sha256").update(CSV).digest("hex");
    const row = page.getByRole("row", { name: /e2e series/ });
    await row.getByText(sha256.slice(0, 12)).waitFor();
    await row.getByText("80 rows: step, value").waitFor();
    await page.screenshot({ path: join(OUTPUT, "datasets.png"), fullPage: true });

    await page.getByRole("link", { name: "New experiment" }).click();
    await page.locator("#app").selectOption("sine_test");
    const source = page.locator("#data-source");
    await source.selectOption({ label: "uploaded: e2e series (80 rows: step, value)" });
    await page.locator("#field-epochs").fill("1");
    await page.screenshot({ path: join(OUTPUT, "new-experiment-dataset.png"), fullPage: true });
    await page.getByRole("button", { name: "Start experiment" }).click();
    await page.waitForURL(/\/experiments\/[0-9a-f]{32}$/);
    const id = page.url().split("/").pop();

    const headers = stack.token ? { Authorization: `Bearer ${stack.token}` } : {};
    const deadline = Date.now() + RUN_TIMEOUT_MS;
    let run;
    do {
      await new Promise((done) => setTimeout(done, 500));
      run = await (await fetch(`${stack.baseUrl}/api/v1/experiments/${id}`, { headers })).json();
    } while (!["succeeded", "failed", "cancelled"].includes(run.status) && Date.now() < deadline);
    assert.equal(run.status, "succeeded", run.error ?? "the run did not finish");
    const dataset = run.result.provenance.data.source.dataset;
    assert.deepEqual([dataset.name, dataset.sha256], ["e2e series", sha256]);
    assert.deepEqual(consoleErrors, []);
  });

  it("offers the dataset in the search form too, and the sweep's trials train on it", async () => {
    await page.goto("/new?app=sine_test&mode=search");
    await page.locator("#data-source").selectOption({ label: "uploaded: e2e series (80 rows: step, value)" });
    await page.locator("#search-window").check();
    await page.getByLabel("Window from").fill("3");
    await page.getByLabel("Window to").fill("5");
    await page.locator("#sweep-sampler").selectOption("random");
    await page.locator("#sweep-trials").fill("1");
    await page.locator("#sweep-parallelism").fill("1");
    await page.locator("#field-epochs").fill("1");
    await page.getByRole("button", { name: "Start sweep" }).click();
    await page.waitForURL(/\/sweeps\/[0-9a-f]+$/);
    const id = page.url().split("/").pop();

    const headers = stack.token ? { Authorization: `Bearer ${stack.token}` } : {};
    const get = async (path) => (await fetch(`${stack.baseUrl}/api/v1/${path}`, { headers })).json();
    const deadline = Date.now() + RUN_TIMEOUT_MS;
    let sweep;
    do {
      await new Promise((done) => setTimeout(done, 500));
      sweep = await get(`sweeps/${id}`);
    } while (sweep.state !== "finished" && Date.now() < deadline);
    assert.equal(sweep.state, "finished", JSON.stringify(sweep.trials));
    const trial = await get(`experiments/${sweep.trials[0].experiment_id}`);
    assert.equal(trial.status, "succeeded", trial.error ?? "");
    const dataset = trial.result.provenance.data.source.dataset;
    assert.deepEqual([dataset.id, dataset.name], [sweep.base_config.dataset_id, "e2e series"]);
    assert.deepEqual(consoleErrors, []);
  });
});
