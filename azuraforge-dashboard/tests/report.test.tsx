import { cleanup, render, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { artifactPathOf, MarkdownReport } from "../src/components/MarkdownReport";

const REPORT = `# Report

| metric | model | baseline |
|---|---:|---:|
| rmse | 1.25 | 2.50 |
| mae | 0.90 | 1.80 |

![Loss curves](images/loss.png)

See [the metrics](metrics.json) or [the docs](https://example.org/docs).
`;

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

describe("MarkdownReport", () => {
  it("renders GFM tables and loads relative images from the experiment's artifacts", async () => {
    const fetch = vi.fn(async () => new Response("png", { headers: { "Content-Type": "image/png" } }));
    vi.stubGlobal("fetch", fetch);
    vi.spyOn(URL, "createObjectURL").mockReturnValue("blob:loss");
    vi.spyOn(URL, "revokeObjectURL").mockReturnValue(undefined);
    render(<MarkdownReport experimentId="abc" markdown={REPORT} />);

    const table = screen.getByRole("table");
    const headers = within(table).getAllByRole("columnheader").map((th) => th.textContent);
    expect(headers).toEqual(["metric", "model", "baseline"]);
    const cells = within(table).getAllByRole("cell").map((td) => td.textContent);
    expect(cells).toEqual(["rmse", "1.25", "2.50", "mae", "0.90", "1.80"]);

    const image = await screen.findByRole("img", { name: "Loss curves" });
    expect(image.getAttribute("src")).toBe("blob:loss");
    expect(fetch).toHaveBeenCalledWith("/api/v1/experiments/abc/artifacts/images/loss.png", expect.anything());

    expect(screen.getByRole("link", { name: "the metrics" }).getAttribute("href")).toBe(
      "/api/v1/experiments/abc/artifacts/metrics.json",
    );
    expect(screen.getByRole("link", { name: "the docs" }).getAttribute("href")).toBe("https://example.org/docs");
  });

  it("loads no remote image, whatever the report says", () => {
    const fetch = vi.fn();
    vi.stubGlobal("fetch", fetch);
    const { container } = render(
      <MarkdownReport experimentId="abc" markdown={"![x](http://tracker.example/t.png) ![y](//tracker.example/u.png)"} />,
    );
    expect(container.querySelectorAll("img")).toHaveLength(0);
    expect(container.textContent).toContain("[image not loaded: x]");
    expect(fetch).not.toHaveBeenCalled();
  });

  it("treats only report-relative paths as artifacts", () => {
    expect(artifactPathOf("images/loss.png")).toBe("images/loss.png");
    expect(artifactPathOf("./history.csv")).toBe("history.csv");
    expect(artifactPathOf("https://example.org/a.png")).toBeNull();
    expect(artifactPathOf("data:image/png;base64,AAA")).toBeNull();
    expect(artifactPathOf("/elsewhere.png")).toBeNull();
    expect(artifactPathOf("#metrics")).toBeNull();
  });
});
