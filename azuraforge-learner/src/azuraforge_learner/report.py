"""Report pieces: charts drawn with matplotlib's Agg backend (no display, safe in workers) and the markdown of
report.md. Charts use matplotlib's object API (no pyplot state), so runs in threads do not share figures.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from numpy.typing import NDArray

from azuraforge_learner.artifacts import atomic_write

# Never a display backend, even if pyplot gets imported later by an app: runs happen in headless workers.
matplotlib.use("Agg")

IMAGES_DIR = "images"


@dataclass(frozen=True)
class ReportSection:
    """A titled block of markdown; image links are relative to the run directory (e.g. images/loss.png)."""

    title: str
    body: str


def save_figure(figure: Figure, output_dir: Path, name: str) -> str:
    """Write `figure` as images/<name>.png under `output_dir`; returns the relative path for markdown links."""
    relative = f"{IMAGES_DIR}/{name}.png"
    with atomic_write(output_dir / relative) as handle:
        figure.savefig(handle, format="png", dpi=100, bbox_inches="tight")
    return relative


def image(caption: str, relative_path: str) -> str:
    return f"![{caption}]({relative_path})"


def plot_history(history: Mapping[str, Sequence[float]], output_dir: Path) -> str:
    """Loss and validation loss per epoch (epochs counted from 1)."""
    figure = Figure(figsize=(7, 4))
    axes = figure.add_subplot()
    for key in ("loss", "val_loss"):
        if history.get(key):
            values = history[key]
            axes.plot(range(1, len(values) + 1), values, marker="o" if len(values) < 30 else None, label=key)
    axes.set(xlabel="epoch", ylabel="loss", title="Training and validation loss")
    axes.grid(alpha=0.3)
    axes.legend()
    return save_figure(figure, output_dir, "loss")


def plot_predictions(
    actual: NDArray[Any], predicted: NDArray[Any], baseline: NDArray[Any] | None, output_dir: Path, label: str
) -> str:
    """Prediction against actual values over the test split, with the baseline if given."""
    figure = Figure(figsize=(10, 4))
    axes = figure.add_subplot()
    steps = np.arange(len(actual))
    axes.plot(steps, actual, label="actual", linewidth=1.5)
    axes.plot(steps, predicted, label="model", linewidth=1.2)
    if baseline is not None:
        axes.plot(steps, baseline, label="baseline", linewidth=1.0, linestyle="--", alpha=0.7)
    axes.set(xlabel="test sample", ylabel=label, title=f"{label}: prediction vs actual (test split)")
    axes.grid(alpha=0.3)
    axes.legend()
    return save_figure(figure, output_dir, "predictions")


def plot_residuals(actual: NDArray[Any], predicted: NDArray[Any], output_dir: Path, label: str) -> str:
    """Residuals (actual - predicted) over the test split and their histogram."""
    residuals = np.asarray(actual, dtype=np.float64) - np.asarray(predicted, dtype=np.float64)
    figure = Figure(figsize=(10, 4))
    over_time, histogram = figure.subplots(1, 2, width_ratios=[2, 1])
    over_time.plot(residuals, linewidth=1.0)
    over_time.axhline(0.0, color="black", linewidth=0.8)
    over_time.set(xlabel="test sample", ylabel=f"actual - predicted ({label})", title="Residuals")
    over_time.grid(alpha=0.3)
    histogram.hist(residuals, bins=max(10, min(50, int(math.sqrt(len(residuals))))))
    histogram.set(xlabel="residual", ylabel="count", title="Residual distribution")
    return save_figure(figure, output_dir, "residuals")


def plot_confusion_matrix(matrix: NDArray[np.int64], class_names: Sequence[str], output_dir: Path) -> str:
    """Counts with true classes as rows and predicted classes as columns."""
    size = max(4.0, 0.5 * len(class_names) + 2.0)
    figure = Figure(figsize=(size + 1.0, size))
    axes = figure.add_subplot()
    shown = axes.imshow(matrix, cmap="Blues")
    figure.colorbar(shown, ax=axes)
    ticks = np.arange(len(class_names))
    axes.set_xticks(ticks, labels=list(class_names), rotation=45, ha="right")
    axes.set_yticks(ticks, labels=list(class_names))
    axes.set(xlabel="predicted", ylabel="true", title="Confusion matrix (test split)")
    threshold = matrix.max() / 2 if matrix.size else 0
    for row, column in np.ndindex(matrix.shape):
        color = "white" if matrix[row, column] > threshold else "black"
        axes.text(column, row, str(matrix[row, column]), ha="center", va="center", color=color, fontsize=8)
    return save_figure(figure, output_dir, "confusion_matrix")


# What could make a value a link, an image (which a browser would fetch), HTML, code or a new table cell;
# emphasis is harmless and escaping it would litter the raw file with backslashes.
_MARKDOWN_SPECIALS = re.compile(r"([\\`\[\]<>|])")


def escape(text: str) -> str:
    """`text` shown literally in markdown, on one line: config values and data descriptions come from users."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", " ".join(text.splitlines()))


def code_block(text: str) -> str:
    """`text` in a fenced block whose fence is longer than any run of backticks inside, so it cannot end early."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}\n{text}\n{fence}"


def format_value(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return escape(str(value))


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A markdown table; floats shown with 4 significant digits."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(format_value(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def render(title: str, status_line: str, description: str, sections: Sequence[ReportSection]) -> str:
    """The whole report.md: title, status line, what the app does, then each section."""
    parts = [f"# {title}", f"**Status:** {status_line}"] + ([f"_{description}_"] if description else [])
    parts += [f"## {section.title}\n\n{section.body.strip()}" for section in sections]
    return "\n\n".join(parts) + "\n"
