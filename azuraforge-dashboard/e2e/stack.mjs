// The stack under test: the one at E2E_BASE_URL, or else one `azuraforge up` started here (and stopped after)
// with a fresh data directory, this folder's built dist/, a bootstrap API token, a site admin's account and the
// worker's sine_test app. `npm run e2e` (e2e/run.mjs) starts one for all the files and passes it on as
// E2E_BASE_URL, so each file must keep to its own data: its own names, or its own project (createProject).
// Also the one way to open the browser on it (openBrowser).
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { chromium } from "playwright-core";

const HERE = resolve(import.meta.dirname, "..");
const OUTPUT = join(HERE, "test-output");
const START_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 30_000;
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-quic",
  "--no-first-run",
  "--disable-component-update",
  "--disable-sync",
];

/**
 * @typedef {object} Stack
 * @property {string} baseUrl
 * @property {string | null} token the bootstrap API token (AZURAFORGE_API_TOKEN), for calls from the tests
 * @property {string | null} username a site admin's account, to log in to the dashboard with (null: an open API)
 * @property {string | null} password its password
 * @property {string | null} app the app to run, null for the first installed one
 * @property {Record<string, unknown>} config config fields to type into the form
 * @property {() => Promise<void>} stop
 */

/** @returns {Promise<Stack>} */
export async function startStack() {
  if (process.env.E2E_BASE_URL) {
    const baseUrl = process.env.E2E_BASE_URL.replace(/\/$/, "");
    const token = process.env.E2E_TOKEN ?? null;
    await waitForHealth(baseUrl, token, null);
    return {
      baseUrl,
      token,
      username: process.env.E2E_USERNAME ?? null,
      password: process.env.E2E_PASSWORD ?? null,
      app: process.env.E2E_APP ?? null,
      config: JSON.parse(process.env.E2E_CONFIG ?? "{}"),
      stop: async () => {},
    };
  }
  const command = process.env.AZURAFORGE_BIN ?? resolve(HERE, "../.venv/bin/azuraforge");
  if (!existsSync(command)) {
    throw new Error(
      `Neither E2E_BASE_URL nor ${command} exists: start the stack (azuraforge up) and set E2E_BASE_URL, ` +
        "or set AZURAFORGE_BIN to the azuraforge command.",
    );
  }
  const dashboard = resolve(HERE, "dist");
  if (!existsSync(join(dashboard, "index.html"))) throw new Error("dist/ is missing: run `npm run build` first.");
  const dataDir = mkdtempSync(join(tmpdir(), "azuraforge-e2e-"));
  const appsDir = join(dataDir, "test-apps");
  // The worker's test app, slowed down so the browser can watch it train (see azuraforge_worker.testing).
  execFileSync(join(dirname(command), "python"), [
    "-c",
    "import sys, pathlib; from azuraforge_worker.testing import register_test_app; " +
      "register_test_app(pathlib.Path(sys.argv[1]))",
    appsDir,
  ]);
  const token = randomBytes(16).toString("hex");
  const port = await freePort();
  const env = {
    ...process.env,
    AZURAFORGE_DATA_DIR: dataDir,
    AZURAFORGE_DASHBOARD_DIR: dashboard,
    AZURAFORGE_API_TOKEN: token,
    PYTHONPATH: [appsDir, process.env.PYTHONPATH].filter(Boolean).join(":"),
  };
  // The dashboard signs in with an account; the first one is made as an operator would, with the CLI.
  const username = "e2e-admin";
  const password = randomBytes(12).toString("hex");
  execFileSync(command, ["users", "create", username, "--admin", "--password-stdin"], { env, input: `${password}\n` });
  // setpriv: `up` gets SIGTERM when this process dies, so a killed test run leaves no platform behind.
  const up = [command, "up", "--host", "127.0.0.1", "--port", String(port)];
  const [program, ...args] = process.platform === "linux" ? ["setpriv", "--pdeathsig", "TERM", "--", ...up] : up;
  const child = spawn(program, args, {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  // Kept for a failure to start, and in test-output/ for whatever fails later.
  let output = "";
  mkdirSync(OUTPUT, { recursive: true });
  const log = createWriteStream(join(OUTPUT, "e2e-azuraforge-up.log"));
  for (const stream of [child.stdout, child.stderr]) {
    stream.on("data", (chunk) => {
      output += chunk;
      log.write(chunk);
    });
  }
  const exited = new Promise((done) => child.once("exit", done));
  const baseUrl = `http://127.0.0.1:${port}`;
  const stop = async () => {
    child.kill("SIGTERM");
    const stopped = await Promise.race([exited.then(() => true), delay(STOP_TIMEOUT_MS).then(() => false)]);
    if (!stopped) child.kill("SIGKILL");
    log.end();
    rmSync(dataDir, { recursive: true, force: true });
    if (!stopped) throw new Error(`azuraforge up did not stop within ${STOP_TIMEOUT_MS / 1000}s of SIGTERM`);
  };
  try {
    await waitForHealth(baseUrl, token, child);
  } catch (error) {
    await stop().catch(() => {});
    throw new Error(`${error.message}\n--- azuraforge up output ---\n${output}`, { cause: error });
  }
  return {
    baseUrl,
    token,
    username,
    password,
    app: "sine_test",
    config: { epoch_sleep_s: 0.4, live_predictions: true },
    stop,
  };
}

async function waitForHealth(baseUrl, token, child) {
  const deadline = Date.now() + START_TIMEOUT_MS;
  let last = "no answer";
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) throw new Error(`azuraforge up exited with ${child.exitCode}`);
    try {
      const response = await fetch(`${baseUrl}/api/v1/health`, {
        headers: token ? { Authorization: `Bearer ${token}` } : {},
      });
      const health = await response.json();
      if (health.status === "ok") return;
      last = JSON.stringify(health);
    } catch (error) {
      last = error.message;
    }
    await delay(500);
  }
  throw new Error(`The API at ${baseUrl} was not healthy within ${START_TIMEOUT_MS / 1000}s (last: ${last})`);
}

function freePort() {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

function delay(ms) {
  return new Promise((done) => setTimeout(done, ms));
}

/** Logs in through the dashboard's login page and waits for the experiments list. */
export async function logIn(page, username, password) {
  await page.locator("#login-username").waitFor();
  await page.locator("#login-username").fill(username);
  await page.locator("#login-password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("heading", { name: "Experiments" }).waitFor();
}

/** A project of its own for a test file (named `name` plus a random suffix); returns its id. */
export async function createProject(stack, name) {
  const response = await fetch(`${stack.baseUrl}/api/v1/projects`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...(stack.token && { Authorization: `Bearer ${stack.token}` }) },
    body: JSON.stringify({ name: `${name}-${randomBytes(4).toString("hex")}` }),
  });
  if (response.status !== 201) throw new Error(`POST /projects: ${response.status} ${await response.text()}`);
  return (await response.json()).id;
}

/**
 * @typedef {object} Browser
 * @property {import("playwright-core").BrowserContext} context
 * @property {import("playwright-core").Page} page its one page, at the stack's base URL, 30 s default timeout
 * @property {string[]} consoleErrors every console error and uncaught exception of the page, as "url: text"
 * @property {() => Promise<void>} close
 */

/**
 * Headless Chromium (CHROMIUM, default /usr/bin/chromium) on a fresh profile, pointed at the stack. It records
 * console errors, accepts downloads, and answers every confirm() with OK.
 * @returns {Promise<Browser>}
 */
export async function openBrowser(stack, { viewport = { width: 1440, height: 900 } } = {}) {
  const profile = mkdtempSync(join(tmpdir(), "azuraforge-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: CHROMIUM_ARGS,
    headless: true,
    viewport,
    baseURL: stack.baseUrl,
    acceptDownloads: true,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(30_000);
  const consoleErrors = [];
  page.on("console", (message) => {
    if (message.type() === "error") consoleErrors.push(`${page.url()}: ${message.text()}`);
  });
  page.on("pageerror", (error) => consoleErrors.push(`${page.url()}: uncaught ${error.message}`));
  page.on("dialog", (dialog) => dialog.accept());
  return {
    context,
    page,
    consoleErrors,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
