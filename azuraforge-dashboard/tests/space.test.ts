// The sweep form's search space: ranges and choices checked against the field's schema before sending.
import { describe, expect, it } from "vitest";
import type { JsonSchema } from "../src/api/types";
import { fieldsFromSchema } from "../src/schema/fields";
import { buildSpace, initialRow, type SearchRow } from "../src/schema/space";

const SCHEMA: JsonSchema = {
  properties: {
    learning_rate: { type: "number", exclusiveMinimum: 0, maximum: 10 },
    window: { type: "integer", minimum: 1, maximum: 100 },
    scaler: { enum: ["standard", "minmax", "none"], type: "string" },
    live_predictions: { type: "boolean" },
    features: { anyOf: [{ type: "array", items: { type: "string" } }, { type: "null" }] },
  },
};
const fields = fieldsFromSchema(SCHEMA);

function rows(changes: Record<string, Partial<SearchRow>>): Record<string, SearchRow> {
  return Object.fromEntries(
    fields.map((field) => [field.name, { ...initialRow(field), ...(changes[field.name] ?? {}) }]),
  );
}

describe("buildSpace", () => {
  it("turns searched fields into ranges and choices, and leaves the others out", () => {
    const built = buildSpace(
      fields,
      rows({
        learning_rate: { on: true, low: "0.001", high: "0.1", log: true },
        window: { on: true, low: "4", high: "32", step: "4" },
        scaler: { on: true },
        live_predictions: { on: true },
        features: { on: true },
      }),
    );
    expect(built.errors).toEqual({});
    expect(built.space).toEqual({
      learning_rate: { type: "float", low: 0.001, high: 0.1, log: true },
      window: { type: "int", low: 4, high: 32, step: 4, log: false },
      scaler: { type: "categorical", choices: ["standard", "minmax", "none"] },
      live_predictions: { type: "categorical", choices: [true, false] },
    });
  });

  it("names what is wrong with a range or a choice", () => {
    const built = buildSpace(
      fields,
      rows({
        learning_rate: { on: true, low: "0", high: "0.1" },
        window: { on: true, low: "8", high: "4" },
        scaler: { on: true, choices: "standard, bogus" },
      }),
    );
    expect(built.errors.learning_rate).toMatch(/From: Must be greater than 0/);
    expect(built.errors.window).toBe("From must be below To.");
    expect(built.errors.scaler).toMatch(/^bogus: Choose one of/);
    expect(built.space).toEqual({});
  });
});
