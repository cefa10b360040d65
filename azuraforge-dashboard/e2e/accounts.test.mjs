// Accounts in a real headless Chromium against the real stack: a user logs in, sees only the runs of its own
// projects (not another team's), switches projects, creates an API token that is shown once, and logs out,
// after which its session is refused. Screenshots under test-output/; any unexpected console error fails.
//
// Environment: as e2e/dashboard.test.mjs; with E2E_BASE_URL, E2E_TOKEN (the bootstrap token, which creates the
// two users and their projects) is required.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { logIn, openBrowser, startStack } from "./stack.mjs";

const OUTPUT = resolve(import.meta.dirname, "../test-output");

describe("accounts in a real browser", { timeout: 10 * 60_000 }, () => {
  let stack;
  let browser;
  let page;
  let consoleErrors;
  const suffix = randomBytes(4).toString("hex");
  const ann = { username: `ann-${suffix}`, password: randomBytes(12).toString("hex") };
  const ben = { username: `ben-${suffix}`, password: randomBytes(12).toString("hex") };
  const runs = {};
  let annProject;

  /** A call as the bootstrap admin, or with a user's bearer token. */
  async function call(method, path, body, token = stack.token) {
    const response = await fetch(`${stack.baseUrl}/api/v1${path}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, ...(body && { "Content-Type": "application/json" }) },
      body: body && JSON.stringify(body),
    });
    const text = await response.text();
    assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
    return text ? JSON.parse(text) : null;
  }

  /** A user, its own project, and one experiment in it. */
  async function team(user, project) {
    await call("POST", "/users", user);
    const login = await fetch(`${stack.baseUrl}/api/v1/auth/login`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(user),
    });
    assert.equal(login.status, 200);
    const cookies = login.headers.getSetCookie().map((cookie) => cookie.split(";")[0]);
    const csrf = (await login.json()).csrf_token;
    const session = { Cookie: cookies.join("; "), "X-CSRF-Token": csrf, "Content-Type": "application/json" };
    const post = async (path, body) => {
      const response = await fetch(`${stack.baseUrl}/api/v1${path}`, { method: "POST", headers: session, body: JSON.stringify(body) });
      const text = await response.text();
      assert.ok(response.ok, `${path}: ${response.status} ${text}`);
      return JSON.parse(text);
    };
    const made = await post("/projects", { name: project });
    const run = await post("/experiments", { app: stack.app ?? "sine_test", project: made.id, name: `${project} run`, config: { epochs: 1 } });
    return { project: made.id, run: run.id };
  }

  before(async () => {
    mkdirSync(OUTPUT, { recursive: true });
    stack = await startStack();
    assert.ok(stack.token, "set E2E_TOKEN: this test creates its users with the bootstrap token");
    const annTeam = await team(ann, `ann-project-${suffix}`);
    const benTeam = await team(ben, `ben-project-${suffix}`);
    annProject = annTeam.project;
    runs.ann = annTeam.run;
    runs.ben = benTeam.run;
    browser = await openBrowser(stack);
    ({ page, consoleErrors } = browser);
  });

  after(async () => {
    await browser?.close();
    await stack?.stop();
  });

  it("logs in and sees only its own project's runs", async () => {
    await page.goto("/");
    await page.screenshot({ path: join(OUTPUT, "accounts-login.png") });
    await logIn(page, ann.username, ann.password);
    const projects = await page.getByLabel("Project").locator("option").allTextContents();
    assert.ok(projects.some((name) => name.startsWith(`ann-project-${suffix}`)), projects.join(", "));
    assert.ok(!projects.some((name) => name.includes("ben-project")), "ann sees ben's project");
    await page.getByLabel("Project").selectOption(annProject);
    await page.locator(`a[href="/experiments/${runs.ann}"]`).first().waitFor();
    assert.equal(await page.locator(`a[href="/experiments/${runs.ben}"]`).count(), 0);
    await page.screenshot({ path: join(OUTPUT, "accounts-own-project.png") });
    // Ben's run by its address: the API answers 404, as for a run that does not exist.
    await page.goto(`/experiments/${runs.ben}`);
    const refusal = page.locator("p.error", { hasText: "no experiment" });
    await refusal.waitFor();
    assert.match((await refusal.textContent()) ?? "", new RegExp(`no experiment '?${runs.ben}`));
    const refused = consoleErrors.splice(0);
    for (const error of refused) assert.match(error, /\b40[14]\b/);
  });

  it("creates an API token shown once, and lists the project's members", async () => {
    await page.goto("/tokens");
    await page.getByLabel("Token name").fill("laptop");
    await page.getByRole("button", { name: "Create token" }).click();
    const token = (await page.locator("code.new-token").textContent()) ?? "";
    assert.match(token, /^azf_/);
    const me = await call("GET", "/auth/me", undefined, token);
    assert.equal(me.username, ann.username);
    await page.screenshot({ path: join(OUTPUT, "accounts-token.png") });
    await page.reload();
    await page.getByRole("cell", { name: "laptop" }).waitFor();
    assert.equal(await page.locator("code.new-token").count(), 0, "the token is not shown again");

    await page.goto("/members");
    await page.getByRole("cell", { name: ann.username }).waitFor();
    await page.screenshot({ path: join(OUTPUT, "accounts-members.png") });
  });

  it("logs out, and the session is over", async () => {
    await page.goto("/");
    await page.getByRole("button", { name: "Log out" }).click();
    await page.locator("#login-username").waitFor();
    const status = await page.evaluate(async () => (await fetch("/api/v1/experiments")).status);
    assert.equal(status, 401);
    await page.screenshot({ path: join(OUTPUT, "accounts-logged-out.png") });
    const unexpected = consoleErrors.filter((error) => !/\b401\b/.test(error));
    assert.deepEqual(unexpected, []);
  });
});
