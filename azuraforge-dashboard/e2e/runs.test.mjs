// Run management and observability in a real headless Chromium against the real stack: a run's log followed
// live and searched, its system-metrics charts, notes, a failed run opening on its error, server-side search,
// bulk delete, CSV export, delete from the run page, and the list and run page at a phone's 390 px width.
// Screenshots go to test-output/runs-*.png. Needs the worker's sine_test app (the stack stack.mjs starts).
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { createProject, logIn, openBrowser, startStack } from "./stack.mjs";

const OUTPUT = resolve(import.meta.dirname, "../test-output");
const RUN_TIMEOUT_MS = 180_000;

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
    await page.screenshot({ path: join(OUTPUT, "runs-logs-live.png"), fullPage: true });
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
    await page.screenshot({ path: join(OUTPUT, "runs-system.png"), fullPage: true });
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
    await page.screenshot({ path: join(OUTPUT, "runs-failed-log.png"), fullPage: true });
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
    await page.screenshot({ path: join(OUTPUT, "runs-list.png"), fullPage: true });

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
    await page.screenshot({ path: join(OUTPUT, "runs-phone-list.png"), fullPage: true });
    await page.goto(`/experiments/${runs.chatty}`);
    await page.getByRole("button", { name: "Delete" }).waitFor();
    assert.deepEqual(await overflowing(), [], "the run page overflows 390 px");
    await page.screenshot({ path: join(OUTPUT, "runs-phone-run.png"), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 900 });
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
