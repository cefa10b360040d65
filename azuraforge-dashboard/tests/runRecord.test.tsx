import { cleanup, render, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { DataProvenancePanel, OfflineBadge, Verdict, VerdictMarks } from "../src/components/RunRecord";
import { runResult } from "./records";

const FALLBACK = "open-meteo could not be reached (no network), so the shipped Greensboro sample stood in.";

afterEach(cleanup);

describe("Verdict", () => {
  it("says where the strongest baseline wins, per headline metric, and scores every judged metric", () => {
    const { container } = render(<Verdict result={runResult()} />);
    expect(screen.getByText(/the model loses to the strongest baseline/)).toHaveProperty(
      "textContent",
      "On rmse the model loses to the strongest baseline, same hour yesterday.",
    );
    const rows = [...container.querySelectorAll("tbody tr")].map((row) =>
      [...row.querySelectorAll("td")].map((cell) => cell.textContent),
    );
    expect(rows).toEqual([
      ["mae", "0.23 °C", "0.25 °C (same hour yesterday)", "beats"],
      ["rmse", "0.29 °C", "0.11 °C (same hour yesterday)", "loses"],
    ]);
    expect(screen.getByText(/Stopped: completed/)).toBeTruthy();
  });

  it("marks a list row with the verdict of each headline metric", () => {
    const { container } = render(<VerdictMarks result={runResult()} />);
    const marks = [...container.querySelectorAll("[data-verdict]")];
    expect(marks.map((mark) => [mark.textContent, mark.getAttribute("title")])).toEqual([
      ["rmse ✗", "loses to same hour yesterday on rmse"],
    ]);
  });
});

describe("data provenance", () => {
  it("shows a badge and the reason when the offline sample stood in", () => {
    const { container } = render(<DataProvenancePanel provenance={runResult({}, FALLBACK).provenance} />);
    expect(within(container).getByText("offline sample").getAttribute("title")).toBe(FALLBACK);
    expect(container.querySelector(".fallback-reason")?.textContent).toBe(FALLBACK);
    expect(within(container).getByText("offline sample (requested: open-meteo)")).toBeTruthy();
    expect(within(container).getByText("8760")).toBeTruthy();
    expect(within(container).getByText("2010-01-01 … 2010-12-31")).toBeTruthy();
  });

  it("shows no badge when the requested source was used", () => {
    const { container } = render(<OfflineBadge provenance={runResult().provenance} />);
    expect(container.innerHTML).toBe("");
  });
});
