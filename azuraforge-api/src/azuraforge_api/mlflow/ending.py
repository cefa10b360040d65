"""Ending an external run: its record gets the final metrics, a compact history and its artifact list, its
files a report.md with history plots (drawn aside, then stored), and watchers the final status event
(azuraforge_common.lifecycle)."""

import math
import re
import tempfile
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

from matplotlib.figure import Figure
from sqlalchemy.orm import Session

from azuraforge_api.files import run_files
from azuraforge_api.mlflow import store
from azuraforge_api.platform import Platform
from azuraforge_common.artifacts import run_key
from azuraforge_common.events import ExperimentStatus
from azuraforge_common.lifecycle import end_experiment
from azuraforge_common.models import Experiment, RunParam
from azuraforge_learner.artifacts import list_files, write_text
from azuraforge_learner.report import image, save_figure

REPORT = "report.md"
HISTORY_POINTS = 1000
"""Per metric in the record's history (evenly spaced steps, the last always kept), which the dashboard charts;
every value stays in the run's metrics table (metrics/get-history)."""
PLOTTED_METRICS = 30


def end_run(
    platform: Platform,
    session: Session,
    run: Experiment,
    status: ExperimentStatus,
    end_time: datetime | None = None,
    error: str | None = None,
) -> bool:
    """Ends the running run as `status`; returns whether this call ended it (another may have first)."""
    histories = store.histories(session, run.id)
    params = store.key_values(session, RunParam, [run.id])[run.id]
    with tempfile.TemporaryDirectory(prefix="azuraforge-report-") as scratch:
        directory = Path(scratch)
        write_report(directory, run.name, status, histories, params, error)
        for relative in list_files(directory):
            platform.artifacts.upload(run_key(run.id, relative), directory / relative)
    ended = end_experiment(
        session,
        platform.redis,
        run.id,
        ["running", "queued"],
        status,
        metrics={key: values[-1].value for key, values in histories.items()},
        history={key: [metric.value for metric in _thinned(values)] for key, values in histories.items()},
        artifacts=run_files(platform, run.id),
        config=params,
        error=error,
    )
    if ended and end_time is not None:
        session.refresh(run)
        run.finished_at = end_time
        session.commit()
    return ended


def _thinned(values: Sequence[store.StoredMetric]) -> Sequence[store.StoredMetric]:
    if len(values) <= HISTORY_POINTS:
        return values
    stride = len(values) / HISTORY_POINTS
    return [values[int(i * stride)] for i in range(HISTORY_POINTS - 1)] + [values[-1]]


def write_report(
    directory: Path,
    name: str,
    status: ExperimentStatus,
    histories: Mapping[str, Sequence[store.StoredMetric]],
    params: Mapping[str, str],
    error: str | None,
) -> None:
    lines = [f"# {name}", "", f"Logged through the MLflow tracking API; ended **{status}**.", ""]
    if error:
        lines += [f"> {error}", ""]
    lines += ["## Final metrics", ""]
    if histories:
        lines += ["| metric | value | step |", "|---|---|---|"]
        lines += [f"| {key} | {_shown(values[-1].value)} | {values[-1].step} |" for key, values in histories.items()]
    else:
        lines.append("No metrics were logged.")
    lines += ["", "## Params", ""]
    if params:
        lines += ["| param | value |", "|---|---|"]
        lines += [f"| {key} | {_cell(value)} |" for key, value in params.items()]
    else:
        lines.append("No params were logged.")
    plotted = [(key, values) for key, values in histories.items() if len(values) > 1][:PLOTTED_METRICS]
    if plotted:
        lines += ["", "## History", ""]
        used: set[str] = set()
        for index, (key, values) in enumerate(plotted):
            file_name = "metric-" + re.sub(r"[^\w.-]", "_", key)[:100]
            file_name = f"{file_name}-{index}" if file_name in used else file_name
            used.add(file_name)
            lines += [image(key, _plot(directory, file_name, key, values)), ""]
    write_text(directory / REPORT, "\n".join(lines) + "\n")


def _plot(directory: Path, file_name: str, key: str, values: Sequence[store.StoredMetric]) -> str:
    figure = Figure(figsize=(7, 3.5))
    axes = figure.add_subplot()
    axes.plot([metric.step for metric in values], [metric.value for metric in values], linewidth=1.2)
    axes.set(xlabel="step", ylabel=key, title=key)
    axes.grid(alpha=0.3)
    return save_figure(figure, directory, file_name)


def _shown(value: float) -> str:
    return str(value) if math.isfinite(value) else "not finite"


def _cell(text: str) -> str:
    return re.sub(r"[|\n\r]", " ", text)[:200]
