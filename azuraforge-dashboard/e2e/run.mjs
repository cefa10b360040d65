// `npm run e2e [-- files...]`: starts one stack (stack.mjs; or uses E2E_BASE_URL's) for the whole browser test
// run, runs the test files against it one at a time (default: every e2e/*.test.mjs), then stops it.
import { spawn } from "node:child_process";
import { startStack } from "./stack.mjs";

const files = process.argv.slice(2);
const stack = await startStack();
let code;
try {
  const env = {
    ...process.env,
    E2E_BASE_URL: stack.baseUrl,
    E2E_TOKEN: stack.token ?? "",
    E2E_USERNAME: stack.username ?? "",
    E2E_PASSWORD: stack.password ?? "",
    E2E_APP: stack.app ?? "",
    E2E_CONFIG: JSON.stringify(stack.config),
  };
  for (const key of ["E2E_TOKEN", "E2E_USERNAME", "E2E_PASSWORD", "E2E_APP"]) if (!env[key]) delete env[key];
  const tests = spawn(process.execPath, ["--test", "--test-concurrency=1", ...(files.length ? files : ["e2e/"])], {
    env,
    stdio: "inherit",
  });
  code = await new Promise((done) => tests.once("exit", (status, signal) => done(status ?? (signal ? 1 : 0))));
} finally {
  await stack.stop();
}
process.exit(code);
