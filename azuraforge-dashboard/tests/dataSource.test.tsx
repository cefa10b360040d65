import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { MemoryRouter } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";
import { api } from "../src/api/client";
import type { AppInfo, Dataset, NewSweep, Sweep } from "../src/api/types";
import { SweepForm } from "../src/pages/SweepForm";

const app: AppInfo = {
  name: "series",
  description: "A forecaster that takes uploaded series",
  config_schema: {
    properties: {
      epochs: { default: 5, minimum: 1, title: "Epochs", type: "integer" },
      learning_rate: { default: 0.01, exclusiveMinimum: 0, title: "Learning Rate", type: "number" },
      dataset_id: { anyOf: [{ type: "string" }, { type: "null" }], default: null, title: "Dataset Id" },
    },
    title: "Config",
    type: "object",
  },
  datasets: [{ kind: "csv", columns: ["date", "value"], description: "A CSV series." }],
  defaults: { epochs: 5, learning_rate: 0.01, dataset_id: null },
  metrics: [],
  epoch_metrics: [],
  app_distribution: null,
  app_version: null,
  packages: {},
  published_by: "worker@host",
  published_at: "2026-12-02T00:00:00Z",
};

function dataset(id: string, kind: Dataset["kind"], name: string): Dataset {
  const summary = kind === "csv" ? { rows: 80, columns: ["date", "value"] } : { images: 10, classes: { a: 5, b: 5 } };
  return { id, kind, name, summary, created_at: "", created_by: "ada", project_id: "default", sha256: "0".repeat(64), size: 1 };
}

afterEach(() => {
  cleanup();
  vi.restoreAllMocks();
});

describe("the sweep form's data source", () => {
  it("offers the project's datasets of the app's kinds and sends the chosen one in the base config", async () => {
    vi.spyOn(api, "listDatasets").mockResolvedValue([
      dataset("d-csv", "csv", "sales"),
      dataset("d-img", "image-folder", "photos"),
    ]);
    const createSweep = vi.spyOn(api, "createSweep").mockResolvedValue({ id: "s1" } as Sweep);
    render(
      <MemoryRouter>
        <SweepForm app={app} />
      </MemoryRouter>,
    );
    const source = screen.getByLabelText<HTMLSelectElement>("Data source");
    await waitFor(() => expect(source.options).toHaveLength(2));
    expect([...source.options].map((option) => option.text)).toEqual([
      "the app's own (see the config)",
      "uploaded: sales (80 rows: date, value)",
    ]);
    // The id is picked, not typed: no config input and no search row for it.
    expect(screen.queryByLabelText(/Dataset Id/)).toBeNull();
    expect(document.querySelector('[data-search="dataset_id"]')).toBeNull();

    fireEvent.change(source, { target: { value: "d-csv" } });
    fireEvent.click(screen.getByLabelText("search Learning Rate"));
    fireEvent.change(screen.getByLabelText("Learning Rate from"), { target: { value: "0.001" } });
    fireEvent.change(screen.getByLabelText("Learning Rate to"), { target: { value: "0.1" } });
    fireEvent.click(screen.getByRole("button", { name: "Start sweep" }));
    await waitFor(() => expect(createSweep).toHaveBeenCalledTimes(1));
    const [body] = createSweep.mock.lastCall as [NewSweep];
    expect(body.base_config).toEqual({ epochs: 5, learning_rate: 0.01, dataset_id: "d-csv" });
    expect(Object.keys(body.space)).toEqual(["learning_rate"]);
  });

  it("sends no dataset for the app's own data", async () => {
    vi.spyOn(api, "listDatasets").mockResolvedValue([dataset("d-csv", "csv", "sales")]);
    const createSweep = vi.spyOn(api, "createSweep").mockResolvedValue({ id: "s1" } as Sweep);
    render(
      <MemoryRouter>
        <SweepForm app={app} />
      </MemoryRouter>,
    );
    fireEvent.click(screen.getByLabelText("search Epochs"));
    fireEvent.change(screen.getByLabelText("Epochs from"), { target: { value: "1" } });
    fireEvent.change(screen.getByLabelText("Epochs to"), { target: { value: "3" } });
    fireEvent.click(screen.getByRole("button", { name: "Start sweep" }));
    await waitFor(() => expect(createSweep).toHaveBeenCalledTimes(1));
    const [body] = createSweep.mock.lastCall as [NewSweep];
    expect(body.base_config).not.toHaveProperty("dataset_id");
  });

  it("shows no data source for an app that takes no uploads, and says when the datasets cannot be read", async () => {
    const listDatasets = vi.spyOn(api, "listDatasets").mockRejectedValue(new Error("503: Redis is down"));
    const { unmount } = render(
      <MemoryRouter>
        <SweepForm app={{ ...app, datasets: [] }} />
      </MemoryRouter>,
    );
    expect(screen.queryByLabelText("Data source")).toBeNull();
    expect(listDatasets).not.toHaveBeenCalled();
    unmount();
    render(
      <MemoryRouter>
        <SweepForm app={{ ...app, name: "series-2" }} />
      </MemoryRouter>,
    );
    await screen.findByText("Could not load the project's datasets: 503: Redis is down");
  });
});
