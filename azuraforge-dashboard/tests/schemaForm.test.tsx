import { cleanup, fireEvent, render, screen, within } from "@testing-library/react";
import { MemoryRouter } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { AppInfo, JsonSchema } from "../src/api/types";
import { buildConfig, fieldsFromSchema, initialValues } from "../src/schema/fields";
import { placeServerErrors } from "../src/schema/serverErrors";
import { ExperimentForm } from "../src/pages/NewExperimentPage";

// What pydantic v2 writes for a config with Literal, Enum ($defs), optional and bounded fields.
const schema: JsonSchema = {
  $defs: { Activation: { enum: ["relu", "tanh"], title: "Activation", type: "string" } },
  properties: {
    epochs: { default: 10, description: "Passes over the data", minimum: 1, maximum: 500, title: "Epochs", type: "integer" },
    learning_rate: { default: 0.001, exclusiveMinimum: 0, title: "Learning Rate", type: "number" },
    optimizer: { default: "adam", enum: ["adam", "sgd"], title: "Optimizer", type: "string" },
    activation: { $ref: "#/$defs/Activation", default: "relu" },
    seed: { anyOf: [{ type: "integer" }, { type: "null" }], default: null, title: "Seed" },
    hidden_sizes: { default: [64, 32], items: { type: "integer" }, title: "Hidden Sizes", type: "array" },
    live_predictions: { default: false, title: "Live Predictions", type: "boolean" },
    ticker: { minLength: 1, title: "Ticker", type: "string" },
  },
  required: ["ticker"],
  title: "Config",
  type: "object",
};

const app: AppInfo = {
  name: "demo",
  description: "A demo app",
  config_schema: schema,
  datasets: [],
  defaults: { epochs: 10, learning_rate: 0.001, optimizer: "adam", activation: "relu", seed: null, hidden_sizes: [64, 32], live_predictions: false, ticker: "MSFT" },
  metrics: [],
  epoch_metrics: [],
  app_distribution: null,
  app_version: null,
  packages: {},
  published_by: "worker@host",
  published_at: "2026-12-02T00:00:00Z",
};

function renderForm() {
  return render(
    <MemoryRouter>
      <ExperimentForm app={app} />
    </MemoryRouter>,
  );
}

function fieldBox(name: string): HTMLElement {
  return document.querySelector<HTMLElement>(`[data-field="${name}"]`)!;
}

function jsonResponse(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

describe("fieldsFromSchema", () => {
  it("reads types, enums, $refs, nullable anyOf and bounds", () => {
    const fields = Object.fromEntries(fieldsFromSchema(schema).map((f) => [f.name, f]));
    expect(fields.epochs).toMatchObject({ kind: "integer", minimum: 1, maximum: 500, default: 10, description: "Passes over the data" });
    expect(fields.learning_rate).toMatchObject({ kind: "number", exclusiveMinimum: 0 });
    expect(fields.optimizer).toMatchObject({ kind: "enum", options: ["adam", "sgd"] });
    expect(fields.activation).toMatchObject({ kind: "enum", options: ["relu", "tanh"], title: "Activation" });
    expect(fields.seed).toMatchObject({ kind: "integer", nullable: true, default: null });
    expect(fields.hidden_sizes?.kind).toBe("json");
    expect(fields.live_predictions?.kind).toBe("boolean");
    expect(fields.ticker).toMatchObject({ required: true, minLength: 1 });
  });

  it("builds the config from the defaults unchanged", () => {
    const fields = fieldsFromSchema(schema);
    const built = buildConfig(fields, initialValues(fields, app.defaults));
    expect(built.errors).toEqual({});
    expect(built.config).toEqual(app.defaults);
    expect(built.grid).toEqual({});
  });
});

describe("ExperimentForm", () => {
  it("shows the defaults in the inputs and the enum options in a select", () => {
    renderForm();
    expect(screen.getByLabelText(/Epochs/)).toHaveProperty("value", "10");
    expect(screen.getByLabelText(/Learning Rate/)).toHaveProperty("value", "0.001");
    expect(screen.getByLabelText(/Hidden Sizes/)).toHaveProperty("value", "[64,32]");
    const optimizer = screen.getByLabelText(/Optimizer/) as HTMLSelectElement;
    expect(optimizer.tagName).toBe("SELECT");
    expect(Array.from(optimizer.options, (o) => o.value)).toEqual(["adam", "sgd"]);
    expect(optimizer.value).toBe("adam");
    expect(screen.getByLabelText(/Seed/)).toHaveProperty("value", "");
  });

  it("checks bounds and types before sending anything", () => {
    const fetch = vi.fn();
    vi.stubGlobal("fetch", fetch);
    renderForm();
    fireEvent.change(screen.getByLabelText(/Epochs/), { target: { value: "0" } });
    fireEvent.change(screen.getByLabelText(/Learning Rate/), { target: { value: "0" } });
    fireEvent.change(screen.getByLabelText(/Seed/), { target: { value: "1.5" } });
    fireEvent.change(screen.getByLabelText(/Ticker/), { target: { value: "" } });
    fireEvent.click(screen.getByRole("button", { name: "Start experiment" }));
    expect(within(fieldBox("epochs")).getByRole("alert").textContent).toBe("Must be at least 1.");
    expect(within(fieldBox("learning_rate")).getByRole("alert").textContent).toBe("Must be greater than 0.");
    expect(within(fieldBox("seed")).getByRole("alert").textContent).toMatch(/whole number/);
    expect(within(fieldBox("ticker")).getByRole("alert").textContent).toBe("Enter a value.");
    expect(fetch).not.toHaveBeenCalled();
  });

  it("shows the server's 422 messages next to their fields", async () => {
    vi.stubGlobal(
      "fetch",
      vi.fn(async () =>
        jsonResponse(422, {
          detail: [
            { loc: ["body", "config", "ticker"], msg: "Unknown ticker ZZZZ", type: "value_error" },
            { loc: ["body", "tags"], msg: "Too many tags", type: "value_error" },
          ],
        }),
      ),
    );
    renderForm();
    fireEvent.click(screen.getByRole("button", { name: "Start experiment" }));
    expect((await within(fieldBox("ticker")).findByRole("alert")).textContent).toBe("Unknown ticker ZZZZ");
    expect(screen.getByText("body.tags: Too many tags")).toBeTruthy();
    expect(within(fieldBox("epochs")).queryByRole("alert")).toBeNull();
    // Editing the field clears the server's message about it.
    fireEvent.change(screen.getByLabelText(/Ticker/), { target: { value: "AAPL" } });
    expect(within(fieldBox("ticker")).queryByRole("alert")).toBeNull();
  });

  it("sends a grid for the fields switched to a list of values", async () => {
    const fetch = vi.fn(async (_url: string, _init: RequestInit) => jsonResponse(202, { batch_id: "b1", experiments: [] }));
    vi.stubGlobal("fetch", fetch);
    renderForm();
    const box = fieldBox("learning_rate");
    fireEvent.click(within(box).getByRole("checkbox", { name: /grid/ }));
    fireEvent.change(screen.getByLabelText(/Learning Rate/), { target: { value: "0.1, 0.01, -1" } });
    fireEvent.click(screen.getByRole("button", { name: /Start/ }));
    expect(within(box).getByRole("alert").textContent).toBe("-1: Must be greater than 0.");
    fireEvent.change(screen.getByLabelText(/Learning Rate/), { target: { value: "0.1, 0.01" } });
    fireEvent.click(screen.getByRole("button", { name: /Start 2 experiments/ }));
    await vi.waitFor(() => expect(fetch).toHaveBeenCalledTimes(1));
    const [url, init] = fetch.mock.calls[0]!;
    expect(url).toBe("/api/v1/experiments");
    const body = JSON.parse(init.body as string);
    expect(body.grid).toEqual({ learning_rate: [0.1, 0.01] });
    expect(body.config).not.toHaveProperty("learning_rate");
    expect(body.config.epochs).toBe(10);
    expect(new Headers(init.headers).get("Idempotency-Key")).toMatch(/^[0-9a-f]{32}$/);
  });
});

describe("ExperimentForm from another run", () => {
  it("starts from that run's config and tags, and sends what the user changed", async () => {
    const fetch = vi.fn(async (_url: string, _init: RequestInit) => jsonResponse(202, { id: "e2" }));
    vi.stubGlobal("fetch", fetch);
    const start = { app: "demo", project: "default", config: { ...app.defaults, epochs: 3, optimizer: "sgd", seed: 7, ticker: "AAPL" }, tags: ["a", "b"] };
    render(
      <MemoryRouter>
        <ExperimentForm app={app} start={start} />
      </MemoryRouter>,
    );
    expect(screen.getByLabelText(/Epochs/)).toHaveProperty("value", "3");
    expect(screen.getByLabelText(/Optimizer/)).toHaveProperty("value", "sgd");
    expect(screen.getByLabelText(/Seed/)).toHaveProperty("value", "7");
    expect(screen.getByLabelText("Tags")).toHaveProperty("value", "a, b");
    fireEvent.change(screen.getByLabelText(/Learning Rate/), { target: { value: "0.05" } });
    fireEvent.click(screen.getByRole("button", { name: "Start experiment" }));
    await vi.waitFor(() => expect(fetch).toHaveBeenCalledTimes(1));
    const body = JSON.parse(fetch.mock.calls[0]![1].body as string);
    expect(body.config).toMatchObject({ epochs: 3, optimizer: "sgd", seed: 7, ticker: "AAPL", learning_rate: 0.05 });
    expect(body.tags).toEqual(["a", "b"]);
  });
});

describe("placeServerErrors", () => {
  it("places config and grid issues on their field and keeps the rest apart", () => {
    const placed = placeServerErrors(
      [
        { loc: ["body", "config", "epochs"], msg: "Input should be greater than 0", type: "greater_than" },
        { loc: ["body", "config", "epochs"], msg: "Too big for this app.", type: "value_error" },
        { loc: ["body", "grid", "learning_rate", 1], msg: "Input should be a number", type: "float_type" },
        { loc: ["body", "config", "unknown_field"], msg: "Extra inputs are not permitted", type: "extra_forbidden" },
        { loc: ["body", "name"], msg: "Too long", type: "string_too_long" },
      ],
      ["epochs", "learning_rate", "name"],
    );
    expect(placed.fields).toEqual({
      epochs: "Input should be greater than 0 Too big for this app.",
      learning_rate: "Input should be a number",
    });
    expect(placed.other).toEqual([
      "body.config.unknown_field: Extra inputs are not permitted",
      "body.name: Too long",
    ]);
  });
});
