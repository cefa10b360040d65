import { cleanup, render } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { ExternalBadge } from "../src/components/StatusBadge";

afterEach(cleanup);

describe("ExternalBadge", () => {
  it("marks a run tracked from outside", () => {
    const { container } = render(<ExternalBadge source="external" />);
    const badge = container.querySelector("[data-source=external]");
    expect(badge?.textContent).toBe("external");
    expect(badge?.getAttribute("title")).toMatch(/MLflow client/);
  });

  it("leaves worker runs unmarked", () => {
    const { container } = render(<ExternalBadge source="worker" />);
    expect(container.innerHTML).toBe("");
  });
});
