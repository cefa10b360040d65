"""What a run is and what it produces, as one set of pydantic models: metrics.json is `RunResult` serialised,
and every consumer (the CLI, the worker, later the API and the dashboard) reads these shapes, never a copy.

- `MetricSpec`: a metric an app declares (name, direction, unit, description); the learner declares only its
  own generic metrics (see `metrics.SPECS`) and knows no app's metric names.
- `Plan`: what a run is about to do (app, validated config, total epochs, the metrics it will report).
- `RunResult`: how it ended (`status`, `stop_reason`), the model's test metrics, every baseline with its
  metrics, the verdict per metric against the strongest baseline for that metric, provenance, artifacts and
  timings.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import math
import platform
from collections.abc import Iterable, Mapping, Sequence
from importlib import metadata
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

Direction = Literal["higher", "lower"]
Status = Literal["succeeded", "cancelled", "failed"]
StopKind = Literal["completed", "early_stopped", "pruned", "cancelled", "interrupted", "failed"]
# A user's cancel and a shutdown both end training early with the partial model; only `stop_reason` tells them
# apart, so `status` stays one of the experiment statuses the services already know. A sweep's pruner stopping an
# unpromising trial is an early stop decided from outside: the run still evaluates and keeps what it trained.
STATUS_OF_STOP: dict[StopKind, Status] = {
    "completed": "succeeded",
    "early_stopped": "succeeded",
    "pruned": "succeeded",
    "cancelled": "cancelled",
    "interrupted": "cancelled",
    "failed": "failed",
}


class Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MetricSpec(Record):
    """A metric as its app declares it. `headline` metrics are the ones a summary (a list row, a badge) shows."""

    name: str
    direction: Direction
    unit: str = ""
    description: str = ""
    headline: bool = False

    def better(self, value: float, other: float) -> bool:
        """Is `value` strictly better than `other`?"""
        return value > other if self.direction == "higher" else value < other


class Plan(Record):
    app: str
    config: dict[str, Any]
    total_epochs: int
    metrics: list[MetricSpec] = Field(description="Declarations of every test metric the run reports.")
    epoch_metrics: list[MetricSpec] = Field(
        default_factory=list,
        description="Declarations of what every epoch reports (the loss and the training metrics, on the training "
        "split and, as val_<name>, the validation split; in the model's units); empty in records made before "
        "they were declared.",
    )


class StopReason(Record):
    kind: StopKind
    message: str


class BaselineResult(Record):
    """A forecast or guess that needs no model, scored on the same test data as the model."""

    name: str
    description: str = ""
    metrics: dict[str, float]


class MetricVerdict(Record):
    """The model against the strongest baseline for one metric; `beaten` only when the model is strictly better."""

    metric: str
    model: float
    strongest_baseline: str
    baseline: float
    beaten: bool


class DatasetRef(Record):
    """An uploaded dataset version: equal sha256 means equal bytes."""

    id: str
    name: str
    sha256: str = Field(description="SHA-256 of the uploaded file: the dataset's version.")


class DataSource(Record):
    """Where the data came from, as the app's loader knows it."""

    requested: str = Field(description="The source the config asked for, e.g. open-meteo.")
    used: str = Field(description="The source the run actually trained on.")
    description: str = Field(description="What the data is, in words: place, ticker, dataset.")
    fallback_reason: str | None = Field(
        default=None, description="Why an offline sample stood in for the requested source; null when it did not."
    )
    dataset: DatasetRef | None = Field(default=None, description="The uploaded dataset the run trained on, if any.")

    @property
    def fallback(self) -> bool:
        return self.fallback_reason is not None


class DataProvenance(Record):
    source: DataSource
    first: str | None = Field(default=None, description="First timestamp or index of the data (time series).")
    last: str | None = None
    rows: int = Field(description="Rows (time series) or samples (images) loaded.")
    sha256: str = Field(description="Fingerprint of the loaded data: equal fingerprints mean equal data.")


class Provenance(Record):
    """Enough to reproduce a run: equal data fingerprints, seeds, config and versions give equal results."""

    data: DataProvenance | None = Field(description="Null when the run failed before its data was loaded.")
    seed: int | None
    python: str
    numpy: str
    packages: dict[str, str] = Field(description="Version of every installed azuraforge distribution.")
    app_distribution: str | None
    app_version: str | None


class Timings(Record):
    started_at: dt.datetime
    finished_at: dt.datetime
    load_seconds: float = 0.0
    train_seconds: float = 0.0
    evaluate_seconds: float = 0.0


class RunResult(Record):
    """The outcome of a run, written as metrics.json. `artifacts` are "/"-separated paths relative to the run
    directory; `details` holds app-specific JSON (per-class scores, a confusion matrix)."""

    plan: Plan
    status: Status
    stop_reason: StopReason
    epochs_completed: int
    metrics: dict[str, float]
    baselines: list[BaselineResult]
    verdict: list[MetricVerdict]
    history: dict[str, list[float | None]] = Field(description="Per-epoch values; null where not finite.")
    provenance: Provenance
    timings: Timings
    artifacts: list[str] = []
    details: dict[str, Any] = {}

    @property
    def stopped_early(self) -> bool:
        return self.stop_reason.kind != "completed"

    def strongest_baseline_metrics(self) -> dict[str, float]:
        """Per metric, the score of the strongest baseline (the bar the model has to clear)."""
        return {entry.metric: entry.baseline for entry in self.verdict}

    def beats_baselines(self) -> dict[str, bool]:
        """Per metric: is the model strictly better than every baseline?"""
        return {entry.metric: entry.beaten for entry in self.verdict}


def unstated_source(app: str) -> DataSource:
    """The source of data whose loader did not say where it came from."""
    return DataSource(requested=app, used=app, description=f"data loaded by the {app} app (its loader names no source)")


def judge(
    metrics: Mapping[str, float], baselines: Sequence[BaselineResult], specs: Iterable[MetricSpec]
) -> list[MetricVerdict]:
    """The model against the strongest baseline of each declared metric that some baseline scored."""
    verdict = []
    for spec in specs:
        if spec.name not in metrics:
            continue
        scored = [
            (baseline.metrics[spec.name], baseline.name)
            for baseline in baselines
            if math.isfinite(baseline.metrics.get(spec.name, math.nan))
        ]
        if not scored:
            continue
        best_value, best_name = scored[0]
        for value, name in scored[1:]:
            if spec.better(value, best_value):
                best_value, best_name = value, name
        model = metrics[spec.name]
        verdict.append(
            MetricVerdict(
                metric=spec.name,
                model=model,
                strongest_baseline=best_name,
                baseline=best_value,
                beaten=spec.better(model, best_value),
            )
        )
    return verdict


def fingerprint(*parts: Any) -> str:
    """sha256 over arrays (dtype, shape and bytes) and strings, in order. Object arrays are hashed as the text of
    their items, since their bytes are only pointers."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray) and part.dtype == object:
            part = "\n".join(map(str, part.ravel()))
        if isinstance(part, str):
            digest.update(b"s" + part.encode("utf-8") + b"\0")
            continue
        array = np.ascontiguousarray(part)
        digest.update(f"a{array.dtype.str}{array.shape}".encode() + b"\0")
        digest.update(array.tobytes())
    return digest.hexdigest()


def environment(module: str) -> tuple[str, str, dict[str, str], str | None, str | None]:
    """Python and numpy versions, every azuraforge distribution's version, and the distribution (with its
    version) that provides `module`, the app's module."""
    packages, app_distribution, app_version = _installed(module.split(".")[0])
    return platform.python_version(), np.__version__, dict(packages), app_distribution, app_version


@functools.cache
def _installed(top_level: str) -> tuple[tuple[tuple[str, str], ...], str | None, str | None]:
    # Reading every distribution's metadata takes about a second; what is installed does not change while a
    # process runs (an upgrade restarts the workers), so each process reads it once.
    packages = {}
    for distribution in metadata.distributions():
        name = distribution.metadata["Name"] or ""
        if name.lower().replace("_", "-").startswith("azuraforge"):
            packages[name] = distribution.version
    providers = metadata.packages_distributions().get(top_level, [])
    app_distribution = providers[0] if providers else None
    app_version = metadata.version(app_distribution) if app_distribution else None
    return tuple(sorted(packages.items())), app_distribution, app_version
