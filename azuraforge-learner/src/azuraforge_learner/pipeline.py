"""BasePipeline: the template every app fills in, and RunResult, what a run returns.

`run` validates the config, seeds every generator, loads and prepares the data, trains, evaluates against a
naive baseline and writes the run directory:

    config.json      the validated config          model.npz / model.json   weights and the data shape (spec)
    history.csv      one row per epoch             metrics.json             model vs baseline, beats_baseline
    images/*.png     loss curve and task charts    report.md                written last, atomically

A report.md is only ever written complete: with status "succeeded" or "cancelled" at the end of a run, or with
status "failed" and the error when the run raises (the exception then propagates to the caller).

Apps subclass TimeSeriesPipeline or ImageClassificationPipeline, which implement the task steps (`_prepare`,
`_create_loss`, `_evaluate`, ...). An app writes `Config`, `_load_data` and `_create_model`; it may extend
`_evaluate` and `_report` (call super() and add to what it returns).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import random
import time
import traceback
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, Literal, TypeVar, cast

import numpy as np
from pydantic import BaseModel

from azuraforge_core import manual_seed, nn, optim
from azuraforge_learner.artifacts import list_files, save_weights, write_json, write_text
from azuraforge_learner.callbacks import Callback, CSVLogger, EarlyStopping
from azuraforge_learner.config import ConfigT, PipelineConfig, validate_config
from azuraforge_learner.data import Array
from azuraforge_learner.learner import Learner, LossFn
from azuraforge_learner.metrics import MetricFn, higher_is_better
from azuraforge_learner.report import ReportSection, code_block, escape, image, plot_history, render, table

REPORT_FILE = "report.md"
METRICS_FILE = "metrics.json"
CONFIG_FILE = "config.json"
HISTORY_FILE = "history.csv"
WEIGHTS_FILE = "model.npz"
MODEL_FILE = "model.json"

Status = Literal["succeeded", "cancelled"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Splits:
    """Model-ready (inputs, targets) arrays; `val` is None when the app trains without a validation split."""

    train: tuple[Array, Array]
    val: tuple[Array, Array] | None
    test: tuple[Array, Array]


@dataclass
class Prepared:
    """Prepared data: the splits, the shape information the model is built from (`spec`, a dataclass saved in
    model.json so the model can be rebuilt later) and a summary for the report's data section."""

    splits: Splits
    spec: Any
    summary: dict[str, Any]


PreparedT = TypeVar("PreparedT", bound=Prepared)


@dataclass
class Evaluation:
    """What `_evaluate` measured on the test split. `primary_metrics` decide the beats_baseline verdict;
    `details` (JSON-able) go into metrics.json; `outputs` (arrays for charts) are for `_report` only."""

    metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    baseline: str
    primary_metrics: tuple[str, ...]
    details: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)

    def beats_baseline(self) -> dict[str, bool]:
        """Per primary metric: is the model strictly better than the baseline?"""
        return {
            name: _model_wins(name, self.metrics[name], self.baseline_metrics[name]) for name in self.primary_metrics
        }


@dataclass(frozen=True)
class RunResult:
    """The outcome of `BasePipeline.run`; `artifacts` are "/"-separated paths relative to `output_dir`."""

    status: Status
    stopped_early: bool
    epochs_completed: int
    metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    beats_baseline: dict[str, bool]
    history: dict[str, list[float]]
    artifacts: list[str]
    output_dir: Path

    @property
    def report_path(self) -> Path:
        return self.output_dir / REPORT_FILE


def seed_everything(seed: int | None) -> None:
    """Seed Python's and numpy's global generators and the core's (initialisation, dropout); None leaves them."""
    if seed is None:
        return
    random.seed(seed)
    np.random.seed(seed)
    manual_seed(seed)


def default_output_dir(app: str) -> Path:
    """runs/<app>-<UTC timestamp> under the current directory."""
    return Path("runs") / f"{app}-{dt.datetime.now(dt.UTC).strftime('%Y%m%d-%H%M%S-%f')}"


class BasePipeline(ABC, Generic[ConfigT, PreparedT]):
    """The template of an experiment. See the module docstring for the run directory it writes."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    Config: ClassVar[type[PipelineConfig]] = PipelineConfig

    # ----- what an app writes ----------------------------------------------------------------------
    @abstractmethod
    def _load_data(self, config: ConfigT) -> Any:
        """The raw data of a run (its type depends on the task base class)."""

    @abstractmethod
    def _create_model(self, config: ConfigT, spec: Any) -> nn.Module:
        """A fresh model for data of shape `spec` (the task base class defines what the spec holds)."""

    # ----- what a task base class writes -----------------------------------------------------------
    @abstractmethod
    def _prepare(self, config: ConfigT, raw: Any) -> PreparedT:
        """Splits, spec and summary from the raw data."""

    @abstractmethod
    def _create_loss(self, config: ConfigT) -> LossFn: ...

    @abstractmethod
    def _evaluate(self, config: ConfigT, learner: Learner, data: PreparedT) -> Evaluation:
        """Model and baseline metrics on the test split, in the data's own units."""

    def _check_model(self, config: ConfigT, model: nn.Module, data: PreparedT) -> None:
        """Raise a clear error when the app's model cannot fit the data (e.g. a wrong output width)."""

    def _train_metrics(self, config: ConfigT) -> Sequence[str | MetricFn]:
        """Metrics the Learner reports every epoch (in the model's units, e.g. scaled)."""
        return ()

    def _create_optimizer(self, config: ConfigT, model: nn.Module) -> optim.Optimizer:
        return optim.Adam(model.parameters(), lr=config.learning_rate)

    def _callbacks(self, config: ConfigT, data: PreparedT) -> list[Callback]:
        """Callbacks of the task itself; they run before the caller's, so callers see what they add to logs."""
        return []

    def _save_artifacts(self, config: ConfigT, data: PreparedT, output_dir: Path) -> None:
        """Files besides the weights that predicting again needs (scalers, class names, ...)."""

    def _report(self, config: ConfigT, evaluation: Evaluation, output_dir: Path) -> list[ReportSection]:
        """Task-specific report sections (charts, tables); appended after the metrics."""
        return []

    # ----- the template ------------------------------------------------------------------------------
    @classmethod
    def default_config(cls) -> dict[str, Any]:
        """Every config field with its default, as JSON-able values."""
        return cls.Config().model_dump(mode="json")

    @classmethod
    def config_schema(cls) -> dict[str, Any]:
        return cls.Config.model_json_schema()

    @classmethod
    def validate(cls, config: Mapping[str, Any] | BaseModel) -> ConfigT:
        """The config as this app's Config, or ConfigError naming every bad field."""
        return cast(ConfigT, validate_config(cls.name or cls.__name__, cls.Config, config))

    def run(
        self,
        config: Mapping[str, Any] | BaseModel,
        callbacks: Sequence[Callback] = (),
        output_dir: Path | str | None = None,
    ) -> RunResult:
        """Validate, train, evaluate and write the run directory (default: runs/<app>-<timestamp>)."""
        validated = self.validate(config)
        out = Path(output_dir) if output_dir is not None else default_output_dir(self.name)
        out.mkdir(parents=True, exist_ok=True)
        # The verdict of an earlier run in the same directory must not outlive this one.
        for stale in (REPORT_FILE, METRICS_FILE):
            (out / stale).unlink(missing_ok=True)
        write_json(out / CONFIG_FILE, validated.model_dump(mode="json"))
        seed_everything(validated.seed)
        try:
            return self._run(validated, list(callbacks), out)
        except BaseException as exc:
            self._record_failure(validated, exc, out)
            raise

    def _run(self, config: ConfigT, callbacks: list[Callback], out: Path) -> RunResult:
        data = self._prepare(config, self._load_data(config))
        model = self._create_model(config, data.spec)
        self._check_model(config, model, data)
        early_stopping = self._early_stopping(config, data)
        learner = Learner(
            model,
            self._create_loss(config),
            self._create_optimizer(config, model),
            callbacks=[*self._callbacks(config, data), *early_stopping, CSVLogger(out / HISTORY_FILE), *callbacks],
            metrics=self._train_metrics(config),
            progress=False,  # a caller who wants a bar passes a ProgressBar (the CLI does)
        )
        config_json = config.model_dump(mode="json")
        started = time.monotonic()
        learner.fit(
            data.splits.train,
            data.splits.val,
            epochs=config.epochs,
            batch_size=config.batch_size,
            logs={"app": self.name, "config": config_json},
        )
        train_seconds = time.monotonic() - started
        evaluation = self._evaluate(config, learner, data)
        _require_finite(evaluation)
        save_weights(out / WEIGHTS_FILE, model.state_dict())
        write_json(out / MODEL_FILE, {"app": self.name, "spec": _jsonable(data.spec)})
        self._save_artifacts(config, data, out)
        epochs_completed = len(learner.history.get("loss", []))
        status: Status = "cancelled" if learner.cancelled else "succeeded"
        early_stopped = any(callback.stopped_epoch is not None for callback in early_stopping)
        status_line = self._status_line(status, learner.stop_training, early_stopped, epochs_completed, config.epochs)
        sections = [
            *self._summary_sections(evaluation, learner.history, train_seconds, out),
            *self._report(config, evaluation, out),
            ReportSection("Data", table(["item", "value"], list(data.summary.items()))),
            ReportSection("Configuration", table(["field", "value"], list(config_json.items()))),
        ]
        beats = evaluation.beats_baseline()
        write_json(
            out / METRICS_FILE,
            {
                "app": self.name,
                "status": status,
                "stopped_early": learner.stop_training,
                "epochs_completed": epochs_completed,
                "train_seconds": train_seconds,
                "metrics": evaluation.metrics,
                "baseline": {"name": evaluation.baseline, "metrics": evaluation.baseline_metrics},
                "beats_baseline": beats,
                **evaluation.details,
            },
        )
        write_text(out / REPORT_FILE, render(self._title(), status_line, self.description, sections))
        return RunResult(
            status=status,
            stopped_early=learner.stop_training,
            epochs_completed=epochs_completed,
            metrics=evaluation.metrics,
            baseline_metrics=evaluation.baseline_metrics,
            beats_baseline=beats,
            history=learner.history,
            artifacts=list_files(out),
            output_dir=out,
        )

    def _early_stopping(self, config: ConfigT, data: PreparedT) -> list[EarlyStopping]:
        if config.early_stopping_patience is None:
            return []
        monitor = "val_loss" if data.splits.val is not None else "loss"
        return [EarlyStopping(monitor, patience=config.early_stopping_patience, restore_best_weights=True)]

    def _title(self) -> str:
        return f"{self.name or type(self).__name__} — run report"

    @staticmethod
    def _status_line(status: Status, stopped: bool, early_stopped: bool, completed: int, planned: int) -> str:
        if status == "cancelled":
            return (
                f"cancelled — stopped on request after {completed} of {planned} epochs; "
                "the results below are those of the model as it was then."
            )
        if early_stopped:
            return (
                f"succeeded — stopped early after {completed} of {planned} epochs because the monitored loss "
                "stopped improving; the weights of the best epoch were kept."
            )
        if stopped:
            return f"succeeded — a callback ended training after {completed} of {planned} epochs."
        return f"succeeded — trained all {planned} epochs."

    @staticmethod
    def _summary_sections(
        evaluation: Evaluation, history: Mapping[str, Sequence[float]], train_seconds: float, out: Path
    ) -> list[ReportSection]:
        beats = evaluation.beats_baseline()
        won = [name for name, better in beats.items() if better]
        lost = [name for name, better in beats.items() if not better]
        if not lost:
            verdict = f"The model **beats** the baseline ({evaluation.baseline}) on {', '.join(won)}."
        elif not won:
            verdict = f"The model does **not** beat the baseline ({evaluation.baseline}) on {', '.join(lost)}."
        else:
            verdict = (
                f"Mixed result against the baseline ({evaluation.baseline}): better on {', '.join(won)}, "
                f"not better on {', '.join(lost)}."
            )
        rows = [
            [name, value, evaluation.baseline_metrics.get(name, float("nan")), _better(name, value, evaluation)]
            for name, value in evaluation.metrics.items()
        ]
        metrics_table = table(["metric (test split)", "model", f"baseline: {evaluation.baseline}", "better"], rows)
        sections = [ReportSection("Result", f"{verdict}\n\n{metrics_table}")]
        epochs = len(history.get("loss", []))
        timing = f"{epochs} epochs in {train_seconds:.1f} s."
        if epochs:
            chart = image("Training and validation loss", plot_history(history, out))
            sections.append(ReportSection("Training", f"{timing}\n\n{chart}"))
        else:
            sections.append(ReportSection("Training", f"{timing} No epoch completed, so there is no loss curve."))
        return sections

    def _record_failure(self, config: PipelineConfig, exc: BaseException, out: Path) -> None:
        """Replace any success claim with a report that says the run failed and why."""
        error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        sections = [
            ReportSection("Error", code_block(error)),
            ReportSection("Configuration", table(["field", "value"], list(config.model_dump(mode="json").items()))),
        ]
        status_line = f"failed — {escape(error.splitlines()[0])}. No results were measured."
        report = render(self._title(), status_line, self.description, sections)
        try:
            (out / METRICS_FILE).unlink(missing_ok=True)
            write_text(out / REPORT_FILE, report)
        except OSError:
            log.exception("could not write the failure report into %s", out)


def _require_finite(evaluation: Evaluation) -> None:
    broken = [name for name, value in evaluation.metrics.items() if not math.isfinite(value)]
    if broken:
        raise FloatingPointError(
            f"the model's test {', '.join(broken)} came out as NaN or infinite, so training diverged; "
            "lower learning_rate, or check the data for extreme values"
        )


def _model_wins(name: str, model: float, baseline: float) -> bool:
    return model > baseline if higher_is_better(name) else model < baseline


def _better(name: str, value: float, evaluation: Evaluation) -> str:
    if name not in evaluation.baseline_metrics:
        return "—"
    baseline = evaluation.baseline_metrics[name]
    if value == baseline:
        return "tie"
    return "model" if _model_wins(name, value, baseline) else "baseline"


def _jsonable(spec: Any) -> Any:
    return asdict(spec) if is_dataclass(spec) and not isinstance(spec, type) else spec
