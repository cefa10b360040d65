// The model registry in a real headless Chromium against the real stack (`azuraforge up`, see stack.mjs): train
// the image classifier on the digits, register it from its run page, point `production` at it (with the
// confirmation), upload a digit image in "Try it" and see the right class. Screenshots go to test-output/; any
// browser console error fails the run.
//
// Environment: as dashboard.test.mjs (E2E_BASE_URL, E2E_TOKEN, CHROMIUM); the stack must have the
// image-classifier app installed.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { logIn, openBrowser, startStack } from "./stack.mjs";

const OUTPUT = resolve(import.meta.dirname, "../test-output");
const PYTHON = resolve(import.meta.dirname, "../../.venv/bin/python");
const TRAIN_TIMEOUT_MS = 300_000;
// A digit of scikit-learn's set as an 8x8 grey PNG: (index, its class).
const DIGIT = { index: 13, label: "3" };
const CLASSIFIER = { epochs: 6, conv_channels: 8, hidden_units: 32, seed: 0 };

describe("model registry in a real browser", { timeout: 15 * 60_000 }, () => {
  let stack;
  let browser;
  let page;
  let consoleErrors;
  let runId;
  let folder;
  let digitPng;

  before(async () => {
    mkdirSync(OUTPUT, { recursive: true });
    stack = await startStack();
    folder = mkdtempSync(join(tmpdir(), "azuraforge-digit-"));
    digitPng = join(folder, "digit.png");
    execFileSync(PYTHON, [
      "-c",
      "import sys, numpy as np; from PIL import Image; from sklearn.datasets import load_digits; " +
        "pixels = load_digits().images[int(sys.argv[1])] * 255 / 16; " +
        "Image.fromarray(pixels.astype(np.uint8), mode='L').save(sys.argv[2])",
      String(DIGIT.index),
      digitPng,
    ]);
    browser = await openBrowser(stack);
    ({ page, consoleErrors } = browser);
  });

  after(async () => {
    await browser?.close();
    if (folder) rmSync(folder, { recursive: true, force: true });
    await stack?.stop();
  });

  it("trains the image classifier", async () => {
    const created = await rest("POST", "/api/v1/experiments", { app: "image-classifier", config: CLASSIFIER });
    runId = created.id;
    const deadline = Date.now() + TRAIN_TIMEOUT_MS;
    let status = created.status;
    while (!["succeeded", "failed", "cancelled"].includes(status)) {
      assert.ok(Date.now() < deadline, `the image classifier did not finish within ${TRAIN_TIMEOUT_MS / 1000}s`);
      await new Promise((done) => setTimeout(done, 500));
      status = (await rest("GET", `/api/v1/experiments/${runId}`)).status;
    }
    assert.equal(status, "succeeded");
  });

  it("registers the model from the run's page", async () => {
    if (stack.username) {
      await page.goto("/");
      await logIn(page, stack.username, stack.password);
      consoleErrors.splice(0); // the refused requests before logging in are expected
    }
    await page.goto(`/experiments/${runId}`);
    await page.getByRole("button", { name: "Register this model" }).click();
    await page.locator("#model-name").fill("digits");
    await page.getByRole("button", { name: "Register", exact: true }).click();
    await page.waitForURL(/\/models\/digits\?project=default$/); // the run's project
    await page.locator('tr[data-version="1"]').waitFor();
    const source = page.locator('tr[data-version="1"] a');
    assert.equal(await source.getAttribute("href"), `/experiments/${runId}`);
    await page.screenshot({ path: join(OUTPUT, "model-registered.png"), fullPage: true });
  });

  it("points production at version 1 after a confirmation", async () => {
    await page.locator("#alias-name").fill("production");
    await page.locator("#alias-version").selectOption("1");
    await page.getByRole("button", { name: "Move alias" }).click();
    const confirmation = page.getByRole("alertdialog", { name: "Confirm the alias move" });
    assert.match(await confirmation.innerText(), /Point production at v1 \(a new alias\)/);
    assert.equal(await page.locator('tr[data-version="1"] [data-alias="production"]').count(), 0, "not before");
    await confirmation.getByRole("button", { name: "Confirm" }).click();
    await page.locator('tr[data-version="1"] [data-alias="production"]').waitFor();
    assert.match(await page.locator(".alias-history").innerText(), /production: set → v1/);
  });

  it("classifies an uploaded digit in Try it", async () => {
    assert.match(await page.locator("#try-version option:checked").innerText(), /v1 \(production\)/);
    await page.locator("#try-image").setInputFiles(digitPng);
    await page.getByRole("button", { name: "Predict" }).click();
    const top = page.locator(".prediction .top-class");
    await top.waitFor();
    assert.equal(await top.innerText(), DIGIT.label);
    assert.equal(await page.locator('.prediction figure[aria-label="Class probabilities"]').getAttribute("data-points"), "10");
    await page.screenshot({ path: join(OUTPUT, "model-try-it.png"), fullPage: true });
    await page.goto("/models");
    await page.locator('table.models [data-alias="production"]').waitFor();
    assert.deepEqual(consoleErrors, []);
  });

  async function rest(method, path, body) {
    const headers = { "Content-Type": "application/json" };
    if (stack.token) headers.Authorization = `Bearer ${stack.token}`;
    const response = await fetch(`${stack.baseUrl}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    assert.ok(response.ok, `${method} ${path} answered ${response.status}: ${await response.clone().text()}`);
    return response.json();
  }
});
