// src/api/schema.ts is generated from openapi.json (`npm run api-types`, part of the build); this fails when the
// committed file differs from what the committed document generates. The API's tests check openapi.json itself.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import openapiTS, { astToString } from "openapi-typescript";
import { describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "..");

describe("generated API types", () => {
  it("match openapi.json; run `npm run api-types` after changing it", async () => {
    const document = JSON.parse(readFileSync(resolve(ROOT, "openapi.json"), "utf-8"));
    const generated = astToString(await openapiTS(document));
    const committed = readFileSync(resolve(ROOT, "src/api/schema.ts"), "utf-8");
    expect(committed.replace(/^\/\*\*[\s\S]*?\*\/\n\n/, "")).toBe(generated);
  }, 30_000);
});
