// Run management and observability in a real headless Chromium against the real stack: a run's log followed
// live and searched, its system-metrics charts, notes, a failed run opening on its error, server-side search,
// bulk delete, CSV export, a grid batch's summary and compare, a new run from another's config, delete from the
// run page, and the list and run page at a phone's 390 px width. Screenshots go to test-output/runs-*.png; with
// E2E_DOCS_SCREENSHOTS=1 the README's ones are written to docs/screenshots/ too (to refresh them). Needs the
// worker's sine_test app (the stack stack.mjs starts).
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { createProject, logIn, openBrowser, startStack } from "./stack.mjs";

const OUTPUT = resolve(import.meta.dirname, "../test-output");
const RUN_TIMEOUT_MS = 180_000;
const DOCS = resolve(import.meta.dirname, "../docs/screenshots");

/** A full-page screenshot in test-output/, and in docs/screenshots/ for the README when asked to refresh it. */
async function screenshot(page, name, { readme = false } = {}) {
  await page.screenshot({ path: join(OUTPUT, name), fullPage: true });
  if (readme && process.env.E2E_DOCS_SCREENSHOTS === "1") await page.screenshot({ path: join(DOCS, name), fullPage: true });
}

describe("run management in a real browser", { timeout: 15 * 60_000 }, () => {
  let stack;
  let browser;
  let page;
  let consoleErrors;
  // Its own project: the list, its search and CSV export hold only this file's runs.
  let project;
  const runs = {};

  const call = async (method, path, body) => {
    const response = await fetch(`${stack.baseUrl}/api/v1${path}`, {
      method,
      headers: {
        ...(stack.token ? { Authorization: `Bearer ${stack.token}` } : {}),
        ...(body ? { "Content-Type": "application/json" } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    });
    assert.ok(response.ok || response.status === 404, `${method} ${path}: ${response.status} ${await response.clone().text()}`);
    return response;
  };
  const start = async (name, config) =>
    (await (await call("POST", "/experiments", { app: "sine_test", project, name, config })).json()).id;
  const waitForStatus = async (id, wanted) => {
    const deadline = Date.now() + RUN_TIMEOUT_MS;
    for (;;) {
      const { status } = await (await call("GET", `/experiments/${id}`)).json();
      if (wanted.includes(status)) return status;
      assert.ok(Date.now() < deadline, `experiment ${id} is still ${status}`);
      await new Promise((done) => setTimeout(done, 250));
    }
  };
  /** Elements reaching past the right edge of the screen (none when the page fits), as tag.class. */
  const overflowing = async () =>
    page.evaluate(() =>
      [...document.querySelectorAll("body *")]
        .filter((element) => element.getBoundingClientRect().right > window.innerWidth + 1)
        .filter((element) => !element.closest("table.experiments, table.kv, pre"))
        .map((element) => `${element.tagName.toLowerCase()}.${element.className}`)
        .slice(0, 10),
    );

  before(async () => {
    mkdirSync(OUTPUT, { recursive: true });
    stack = await startStack();
    const apps = await (await call("GET", "/apps")).json();
    assert.ok(apps.some((app) => app.name === "sine_test"), "runs.test.mjs needs the sine_test app: run it without E2E_BASE_URL");
    project = await createProject(stack, "e2e-runs");
    browser = await openBrowser(stack, { viewport: { width: 1280, height: 900 } });
    ({ page, consoleErrors } = browser);
    await page.goto("/");
    if (stack.username) {
      await logIn(page, stack.username, stack.password);
      consoleErrors.splice(0); // the refused requests before logging in are expected
    }
    await page.getByLabel("Project").selectOption(project);
  });

  after(async () => {
    await browser?.close();
    await stack?.stop();
  });

  it("follows a run's log live, searches it, and charts its system metrics", async () => {
    runs.chatty = await start("chatty run", { epochs: 6, chatter: 3, epoch_sleep_s: 0.6 });
    await page.goto(`/experiments/${runs.chatty}`);
    await page.getByRole("tab", { name: "Logs" }).click();
    // Lines appear while the run trains (from its log events).
    await page.locator(".log-line", { hasText: "stdout: epoch 2 line 3" }).waitFor();
    const { status } = await (await call("GET", `/experiments/${runs.chatty}`)).json();
    assert.ok(["queued", "running"].includes(status), `the log was only shown after the run ended (${status})`);
    await screenshot(page, "runs-logs-live.png", { readme: true });
    await waitForStatus(runs.chatty, ["succeeded"]);
    await page.locator(".log-line", { hasText: "stdout: epoch 6 line 3" }).waitFor();

    await page.getByLabel("Search the log").fill("line 2");
    assert.equal(await page.locator(".log-line").count(), 6);
    assert.equal(await page.locator(".log-line", { hasText: "line 2" }).count(), 6);
    await page.getByLabel("Search the log").fill("");
    const download = page.waitForEvent("download");
    await page.getByRole("button", { name: "Download run.log" }).click();
    const log = readFileSync(await (await download).path(), "utf8");
    assert.match(log, /INFO stdout: epoch 6 line 3/);
    assert.match(log, /WARNING warnings: .*sine_test warns at epoch 1/);

    await page.reload();
    await page.getByRole("tab", { name: "System" }).click();
    await page.locator(".system-charts canvas").nth(3).waitFor();
    await screenshot(page, "runs-system.png", { readme: true });
  });

  it("previews CSV, JSON and image artifacts and downloads them all as a zip", async () => {
    await page.goto(`/experiments/${runs.chatty}/report`);
    await page.getByRole("button", { name: "history.csv", exact: true }).click();
    await page.locator(".csv-preview th", { hasText: "val_loss" }).waitFor();
    assert.equal(await page.locator(".csv-preview tbody tr").count(), 6);
    await page.getByRole("button", { name: "metrics.json", exact: true }).click();
    await page.locator("pre.artifact-preview", { hasText: '"stop_reason"' }).waitFor();
    await page.getByRole("button", { name: "images/residuals.png", exact: true }).click();
    await page.locator(".artifacts li img[alt='images/residuals.png']").waitFor();
    await page.screenshot({ path: join(OUTPUT, "runs-artifact-previews.png"), fullPage: true });
    const download = page.waitForEvent("download");
    await page.getByRole("button", { name: "Download all (zip)" }).click();
    const zip = readFileSync(await (await download).path());
    assert.equal(zip.subarray(0, 4).toString("latin1"), "PK\x03\x04");
    assert.ok(zip.includes("run.log") && zip.includes("history.csv"), "the zip lacks run.log or history.csv");
  });

  it("keeps markdown notes and renders them", async () => {
    await page.goto(`/experiments/${runs.chatty}`);
    await page.getByRole("button", { name: "Edit notes" }).click();
    await page.getByLabel("Notes (markdown)").fill("## Finding\n\nThe **learning rate** was too high.");
    await page.getByRole("button", { name: "Save notes" }).click();
    await page.locator(".notes-text h2", { hasText: "Finding" }).waitFor();
    await page.reload();
    await page.locator(".notes-text strong", { hasText: "learning rate" }).waitFor();
  });

  it("opens a failed run on its error in the log", async () => {
    runs.failed = await start("failing run", { epochs: 3, fail_at_epoch: 2 });
    await waitForStatus(runs.failed, ["failed"]);
    await page.goto(`/experiments/${runs.failed}`);
    assert.equal(await page.getByRole("tab", { name: "Logs" }).getAttribute("aria-selected"), "true");
    await page.locator(".log-line.log-error", { hasText: `experiment ${runs.failed} failed` }).waitFor();
    await page.locator(".log-line", { hasText: "RuntimeError: sine_test was told to fail at epoch 2" }).waitFor();
    await screenshot(page, "runs-failed-log.png", { readme: true });
  });

  it("searches on the server, shows time per epoch and peak memory, exports and bulk-deletes", async () => {
    runs.spare = await start("spare run", { epochs: 1 });
    await waitForStatus(runs.spare, ["succeeded"]);
    await page.goto("/?q=chatty");
    await page.locator(`tr[data-experiment="${runs.chatty}"]`).waitFor();
    assert.equal(await page.locator("tr[data-experiment]").count(), 1);
    const row = await page.locator(`tr[data-experiment="${runs.chatty}"]`).textContent();
    assert.match(row, /\d+ MB/);
    assert.match(row, /\d+\.\d\d/);

    await page.goto("/");
    await page.locator(`tr[data-experiment="${runs.spare}"]`).waitFor();
    const download = page.waitForEvent("download");
    await page.getByRole("button", { name: "Export CSV" }).click();
    const csv = readFileSync(await (await download).path(), "utf8");
    assert.match(csv.split("\n")[0], /^id,name,app,status,.*peak_rss_bytes,mean_epoch_s,metric\./);
    assert.equal(csv.trim().split("\n").length, 4);
    await screenshot(page, "runs-list.png", { readme: true });

    await page.goto(`/compare?ids=${runs.chatty},${runs.spare}`);
    await page.getByLabel("Metric to overlay").selectOption("mae");
    await page.locator("figure.chart figcaption", { hasText: "val_mae" }).waitFor();
    assert.equal(await page.locator(".warning").count(), 0);
    const other = (await (await call("GET", "/apps")).json()).find((app) => app.name !== "sine_test").name;
    const otherId = (await (await call("POST", "/experiments", { app: other, project, config: {} })).json()).id;
    await call("POST", "/experiments/bulk", { action: "cancel", ids: [otherId] });
    await page.goto(`/compare?ids=${runs.chatty},${otherId}`);
    await page.getByRole("alert").filter({ hasText: "different apps" }).waitFor();
    await page.screenshot({ path: join(OUTPUT, "runs-compare-apps.png"), fullPage: true });

    await page.goto("/");
    await page.locator(`tr[data-experiment="${runs.spare}"]`).waitFor();
    await page.locator(`tr[data-experiment="${runs.spare}"] input[type=checkbox]`).check();
    await page.locator(`tr[data-experiment="${runs.failed}"] input[type=checkbox]`).check();
    await page.locator(`tr[data-experiment="${otherId}"] input[type=checkbox]`).check();
    await page.getByRole("button", { name: "Delete selected" }).click();
    await page.locator(`tr[data-experiment="${runs.spare}"]`).waitFor({ state: "detached" });
    await page.locator(`tr[data-experiment="${runs.failed}"]`).waitFor({ state: "detached" });
    assert.equal((await call("GET", `/experiments/${runs.spare}`)).status, 404);
  });

  it("is usable at a phone's 390 px width", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto("/");
    await page.locator(`tr[data-experiment="${runs.chatty}"]`).waitFor();
    assert.deepEqual(await overflowing(), [], "the list overflows 390 px");
    await screenshot(page, "runs-phone-list.png", { readme: true });
    await page.goto(`/experiments/${runs.chatty}`);
    await page.getByRole("button", { name: "Delete" }).waitFor();
    assert.deepEqual(await overflowing(), [], "the run page overflows 390 px");
    await page.screenshot({ path: join(OUTPUT, "runs-phone-run.png"), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it("summarises a grid batch: parallel coordinates against a chosen metric, baselines, best per row", async () => {
    const grid = { learning_rate: [0.1, 0.01, 0.001] };
    const created = await (await call("POST", "/experiments", { app: "sine_test", project, name: "grid", config: { epochs: 2, epoch_sleep_s: 0 }, grid })).json();
    const records = {};
    for (const { id } of created.experiments) {
      await waitForStatus(id, ["succeeded"]);
      records[id] = await (await call("GET", `/experiments/${id}`)).json();
    }
    const lowest = (value) => Object.keys(records).sort((a, b) => value(records[a]) - value(records[b]))[0];

    await page.goto(`/?batch=${created.batch_id}`);
    await page.getByRole("link", { name: "Compare the whole batch" }).click();
    await page.waitForURL(/\/compare\?batch=/);
    const lines = page.locator("figure.parallel path[data-row]");
    await lines.nth(2).waitFor();
    assert.equal(await lines.count(), 3, "one line per run of the batch");
    const axes = await page
      .locator("figure.parallel [data-axis]")
      .evaluateAll((found) => found.map((axis) => `${axis.getAttribute("data-axis")}:${axis.getAttribute("data-kind")}`));
    assert.deepEqual(axes, ["learning_rate:log", "val_loss:linear"]);
    // The thickest line is the run with the lowest val_loss at its last epoch (lower is better, says the API).
    const bestLine = page.locator('figure.parallel path[data-standing="1"]');
    assert.equal(await bestLine.getAttribute("data-row"), lowest((r) => r.history.val_loss.at(-1)));
    await page.getByLabel("Metric of the summary").selectOption("rmse");
    await page.locator("figure.parallel [data-axis=rmse]").waitFor();
    assert.equal(await bestLine.getAttribute("data-row"), lowest((r) => r.metrics.rmse));
    await screenshot(page, "runs-grid-summary.png", { readme: true });

    // Each metric row: the strongest naive baseline from the record, and a best mark where a direction is known.
    const baseline = await page.locator('tr[data-metric="rmse"] td.baseline').textContent();
    const stored = Object.values(records).map((r) => r.baseline_metrics.rmse);
    assert.ok(stored.every((value) => typeof value === "number"), "the runs have a baseline rmse");
    assert.ok(baseline.includes(String(Number(stored[0].toPrecision(4)))), `baseline cell ${baseline} lacks ${stored[0]}`);
    const rows = await page.locator("table.metrics-compare tbody tr").evaluateAll((found) =>
      found.map((row) => ({
        metric: row.getAttribute("data-metric"),
        ranked: /[↓↑]/.test(row.querySelector("th")?.textContent ?? ""),
        best: row.querySelectorAll("td.best").length,
      })),
    );
    assert.ok(rows.some((row) => row.metric === "val_loss") && rows.some((row) => row.metric === "rmse"), JSON.stringify(rows));
    for (const row of rows) assert.equal(row.best > 0, row.ranked, `best marks of ${row.metric}`);

    // The list: a per-epoch metric as a column, sorted by on the server, and as a condition.
    const lastValLoss = (id) => records[id].history.val_loss.at(-1);
    const showing = (ids) =>
      page.waitForFunction(
        (wanted) => [...document.querySelectorAll("tr[data-experiment]")].map((row) => row.dataset.experiment).join() === wanted,
        ids.join(),
      );
    await page.goto(`/?batch=${created.batch_id}&sort=-metric.val_loss`);
    await page.getByLabel("Add a metric column").selectOption("val_loss");
    const ascending = Object.keys(records).sort((a, b) => lastValLoss(a) - lastValLoss(b));
    await showing([...ascending].reverse());
    await page.locator("th button.sort", { hasText: "val_loss" }).click();
    await page.waitForURL(/sort=metric\.val_loss/);
    await showing(ascending);
    const best = ascending[0];
    await page.getByLabel("Conditions").fill(`metric.val_loss<=${lastValLoss(best)}`);
    await page.getByLabel("Conditions").press("Enter");
    await showing([best]);
  });

  it("starts a new experiment from a run's config, changed in the form", async () => {
    const original = await (await call("GET", `/experiments/${runs.chatty}/clone`)).json(); // the config as it ran
    await page.goto(`/experiments/${runs.chatty}`);
    await page.getByRole("link", { name: "New from this" }).click();
    await page.locator("[data-testid=prefilled]").waitFor();
    assert.equal(await page.locator("#field-epochs").inputValue(), "6");
    assert.equal(await page.locator("#field-chatter").inputValue(), "3");
    assert.equal(await page.locator("#field-seed").inputValue(), String(original.config.seed));
    await page.locator("#field-epochs").fill("1");
    await page.locator("#field-epoch_sleep_s").fill("0");
    await page.getByRole("button", { name: "Start experiment" }).click();
    await page.waitForURL((url) => /\/experiments\/[0-9a-f]+$/.test(url.pathname) && !url.pathname.endsWith(runs.chatty));
    const id = page.url().split("/").at(-1);
    const { config } = await (await call("GET", `/experiments/${id}`)).json();
    const unchanged = Object.fromEntries(Object.entries(original.config).filter(([key, value]) => value !== null && !["epochs", "epoch_sleep_s"].includes(key)));
    assert.deepEqual({ ...config, ...unchanged, epochs: 1, epoch_sleep_s: 0 }, config, "the rest is the original's config");
    assert.equal(config.epochs, 1);
    await waitForStatus(id, ["succeeded"]);
  });

  it("deletes a running run from its page after confirmation, cancelling it first", async () => {
    const id = await start("long run", { epochs: 200, epoch_sleep_s: 0.3 });
    await waitForStatus(id, ["running"]);
    await page.goto(`/experiments/${id}`);
    await page.getByRole("button", { name: "Delete" }).click();
    await page.getByRole("heading", { name: "Experiments" }).waitFor();
    assert.equal((await call("GET", `/experiments/${id}`)).status, 404);
    assert.deepEqual(consoleErrors, []);
  });
});
