import { cleanup, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { LoggedModels, loggedModelIds } from "../src/components/LoggedModels";

const first = `m-${"a".repeat(32)}`;
const second = `m-${"0123456789abcdef".repeat(2)}`;

afterEach(cleanup);

describe("a run's logged models", () => {
  it("are the MLmodel files under models/<id>/artifacts/ of its artifacts", () => {
    const artifacts = [
      "report.md",
      `models/${second}/artifacts/MLmodel`,
      `models/${second}/artifacts/python_model.pkl`,
      `models/${first}/artifacts/MLmodel`,
      `outputs/models/${first}/artifacts/MLmodel`, // not at the top of the run's folder
      "models/m-short/artifacts/MLmodel",
    ];
    expect(loggedModelIds(artifacts)).toEqual([second, first]); // by id
  });

  it("are listed with how to load each, and nothing is shown for a run without one", () => {
    const { unmount } = render(<LoggedModels artifacts={[`models/${first}/artifacts/MLmodel`]} />);
    expect(screen.getByRole("heading", { name: "Logged models" })).toBeTruthy();
    expect(screen.getByText(`mlflow.pyfunc.load_model("models:/${first}")`)).toBeTruthy();
    unmount();
    const { container } = render(<LoggedModels artifacts={["report.md", "model.npz"]} />);
    expect(container.innerHTML).toBe("");
  });
});
