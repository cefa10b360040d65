import { cleanup, render } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { ParallelCoordinates } from "../src/components/ParallelCoordinates";
import { makeAxis, standings, type ParallelRow } from "../src/parallel";

afterEach(cleanup);

const ROWS: ParallelRow[] = [
  { id: "a", label: "run a", values: { learning_rate: 0.1, optimizer: "sgd", layers: 2 }, score: 0.9 },
  { id: "b", label: "run b", values: { learning_rate: 0.001, optimizer: "adam", layers: 4 }, score: 0.2 },
  { id: "c", label: "run c", values: { learning_rate: 0.0001, optimizer: "adam", layers: 3 }, score: 0.5 },
  { id: "d", label: "run d", values: { learning_rate: 0.01, optimizer: "sgd" }, score: null },
];

describe("axes", () => {
  it("are logarithmic for numbers spanning two decades, linear otherwise", () => {
    const rate = makeAxis("learning_rate", [0.1, 0.001, 0.0001]);
    expect(rate.kind).toBe("log");
    expect([0.0001, 0.001, 0.1].map(rate.at)).toEqual([0, 1 / 3, 1]);
    const layers = makeAxis("layers", [2, 4, 3, undefined]);
    expect(layers.kind).toBe("linear");
    expect([2, 3, 4, undefined, "x"].map(layers.at)).toEqual([0, 0.5, 1, null, null]);
    expect(layers.ticks).toEqual([
      { label: "2", at: 0 },
      { label: "4", at: 1 },
    ]);
    expect(makeAxis("same", [5, 5]).at(5)).toBe(0.5);
    // A scale the caller knows wins over the values' span; a log scale cannot hold 0.
    expect(makeAxis("learning_rate", [0.01, 0.05], "log").kind).toBe("log");
    expect(makeAxis("learning_rate", [0.1, 0.001], "linear").kind).toBe("linear");
    expect(makeAxis("offset", [0, 1000], "log").kind).toBe("linear");
  });

  it("give every distinct other value its own stop, in order", () => {
    const optimizer = makeAxis("optimizer", ["sgd", "adam", "sgd", true]);
    expect(optimizer.kind).toBe("category");
    expect(optimizer.ticks.map((tick) => [tick.label, tick.at])).toEqual([
      ["adam", 0],
      ["sgd", 0.5],
      ["true", 1],
    ]);
    expect(optimizer.at("rmsprop")).toBeNull();
    expect(makeAxis("mixed", [1, "a"]).kind).toBe("category");
  });

  it("rank runs by the metric's direction, ties alike, runs without it unranked", () => {
    expect(Object.fromEntries(standings(ROWS, "lower"))).toEqual({ a: 0, c: 0.5, b: 1 });
    expect(Object.fromEntries(standings(ROWS, "higher"))).toEqual({ b: 0, c: 0.5, a: 1 });
    const tied = standings([...ROWS, { id: "e", label: "e", values: {}, score: 0.2 }], "lower");
    expect([tied.get("b"), tied.get("e")]).toEqual([2 / 3, 2 / 3]);
  });
});

describe("ParallelCoordinates", () => {
  it("draws an axis per field and the metric, a line per run, the best on top and thickest", () => {
    const { container } = render(
      <ParallelCoordinates fields={["learning_rate", "optimizer", "layers"]} rows={ROWS} metric="val_loss" direction="lower" title="Grid summary" />,
    );
    const axes = [...container.querySelectorAll("[data-axis]")].map((axis) => [axis.getAttribute("data-axis"), axis.getAttribute("data-kind")]);
    expect(axes).toEqual([
      ["learning_rate", "log"],
      ["optimizer", "category"],
      ["layers", "linear"],
      ["val_loss", "linear"],
    ]);
    const lines = [...container.querySelectorAll("path[data-row]")];
    expect(lines.map((line) => line.getAttribute("data-row"))).toEqual(["d", "a", "c", "b"]);
    const best = lines.at(-1);
    expect(best?.getAttribute("stroke-width")).toBe("3");
    expect(best?.getAttribute("stroke")).toBe("hsl(130, 70%, 45%)");
    expect(best?.querySelector("title")?.textContent).toBe(
      "run b\nlearning_rate = 0.001\noptimizer = adam\nlayers = 4\nval_loss = 0.2",
    );
    // Run d has no layers and no metric: its line stops after optimizer, grey and dashed.
    expect(lines[0]?.getAttribute("d")?.match(/[ML]/g)).toEqual(["M", "L"]);
    expect(lines[0]?.getAttribute("stroke-dasharray")).toBe("4 3");
    expect(container.querySelector("figcaption")?.textContent).toContain("lower is better");
  });
});
