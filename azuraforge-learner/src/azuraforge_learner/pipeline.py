"""BasePipeline: the template every app fills in.

`run` validates the config, seeds every generator, loads and prepares the data, trains, evaluates against the
baselines and writes the run directory:

    config.json      the validated config          model.npz / model.json   weights; the data shape (spec) and task
    history.csv      one row per epoch             metrics.json             the RunResult (see record.py)
    images/*.png     loss curve and task charts    report.md                written last, atomically

metrics.json and report.md are only ever written complete: with status "succeeded" or "cancelled" at the end of
a run, or with status "failed" and the error when the run raises (the exception then propagates to the caller).

Callers follow a run through reporters (see reporter.py): the plan when training begins, every epoch, live
predictions when the pipeline has them, and the RunResult at the end.

Apps subclass TimeSeriesPipeline or ImageClassificationPipeline, which implement the task steps (`_prepare`,
`_create_loss`, `_evaluate`, ...). An app writes `Config`, `_load_data` and `_create_model`; it may extend
`_metric_specs`, `_evaluate` and `_report` (call super() and add to what it returns). Every metric the model is
scored on must be declared in `_metric_specs`, with the direction in which it improves.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import random
import time
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar, cast

import numpy as np
from pydantic import BaseModel

from azuraforge_core import manual_seed, nn, optim
from azuraforge_learner.artifacts import list_files, save_weights, write_json, write_text
from azuraforge_learner.callbacks import Callback, CSVLogger, EarlyStopping, Logs, numeric_logs
from azuraforge_learner.config import ConfigError, ConfigT, PipelineConfig, validate_config
from azuraforge_learner.data import Array
from azuraforge_learner.datasets import DATASET_ID_FIELD, DatasetSpec, LocalDataset
from azuraforge_learner.learner import Learner, LossFn
from azuraforge_learner.metrics import SPECS, MetricFn, resolve
from azuraforge_learner.record import (
    STATUS_OF_STOP,
    BaselineResult,
    DataProvenance,
    MetricSpec,
    Plan,
    Provenance,
    RunResult,
    StopReason,
    Timings,
    environment,
    judge,
)
from azuraforge_learner.report import (
    ReportSection,
    code_block,
    escape,
    format_value,
    image,
    plot_history,
    render,
    table,
)
from azuraforge_learner.reporter import Reporter
from azuraforge_learner.serving import CannotPredictError, Predictor, Task

REPORT_FILE = "report.md"
METRICS_FILE = "metrics.json"
CONFIG_FILE = "config.json"
HISTORY_FILE = "history.csv"
WEIGHTS_FILE = "model.npz"
MODEL_FILE = "model.json"

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
    """What `_evaluate` measured on the test split: the model's metrics and every baseline's. `details`
    (JSON-able) go into metrics.json; `outputs` (arrays for charts) are for `_report` only."""

    metrics: dict[str, float]
    baselines: list[BaselineResult]
    details: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Attempt:
    """What a run has learnt so far, so a failure report can say as much as is known."""

    started_at: dt.datetime
    data: DataProvenance | None = None
    learner: Learner | None = None
    load_seconds: float = 0.0
    train_seconds: float = 0.0
    evaluate_seconds: float = 0.0


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
    task: ClassVar[Task | None] = None
    """The prediction contract of the task (see serving.py); None: a saved model cannot predict."""
    queue: ClassVar[str | None] = None
    """The queue (resource class: "cpu", "gpu", "long", or one the deployment defines) its runs go to; None for
    the deployment's default. A request may name another."""
    memory_mb: ClassVar[int | None] = None
    """The memory a run needs; a worker with less free memory leaves the run to another. None: the workers learn
    it from the peak memory of earlier runs of the app."""
    datasets: ClassVar[tuple[DatasetSpec, ...]] = ()
    """The kinds of uploaded dataset the app trains on (its Config then has a `dataset_id: DatasetId` field)."""
    dataset: LocalDataset | None = None
    """The uploaded dataset of the current run, for `_load_data` (set by `run`)."""

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
    def _describe_data(self, config: ConfigT, raw: Any) -> DataProvenance:
        """Where the raw data came from, its extent and its fingerprint."""

    @abstractmethod
    def _metric_specs(self, config: ConfigT) -> list[MetricSpec]:
        """A declaration of every test metric `_evaluate` reports; apps extend it with their own metrics."""

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

    def _live_predictions(
        self, config: ConfigT, learner: Learner, data: PreparedT
    ) -> tuple[list[float], list[float]] | None:
        """(actual, predicted) on part of the validation split after an epoch, for live charts; None: none."""
        return None

    def _save_artifacts(self, config: ConfigT, data: PreparedT, output_dir: Path) -> None:
        """Files besides the weights that predicting again needs (scalers, class names, ...)."""

    def _report(self, config: ConfigT, evaluation: Evaluation, output_dir: Path) -> list[ReportSection]:
        """Task-specific report sections (charts, tables); appended after the metrics."""
        return []

    def load_predictor(self, output_dir: Path) -> Predictor:
        """The model a run saved in `output_dir`, loaded once for many predictions (the task base classes
        implement it)."""
        raise CannotPredictError(
            f"app {self.name!r} cannot predict from a saved model: it is neither a time-series nor an "
            "image-classification app"
        )

    # ----- the template ------------------------------------------------------------------------------
    @classmethod
    def default_config(cls) -> dict[str, Any]:
        """Every config field with its default, as JSON-able values."""
        return cls.Config().model_dump(mode="json")

    @classmethod
    def config_schema(cls) -> dict[str, Any]:
        return cls.Config.model_json_schema()

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """What the platform shows of this app before any run, as JSON: its config's schema and defaults, and the
        metrics a run of the default config declares. The API serves it unchanged (GET /apps), so a field added
        here reaches clients without changes there."""
        plan = cls().plan(cls.validate(cls.default_config()))
        _, _, _, app_distribution, app_version = environment(cls.__module__)
        return {
            "name": cls.name,
            "description": cls.description,
            "task": cls.task,
            "config_schema": cls.config_schema(),
            "defaults": cls.default_config(),
            "metrics": [spec.model_dump(mode="json") for spec in plan.metrics],
            "epoch_metrics": [spec.model_dump(mode="json") for spec in plan.epoch_metrics],
            "datasets": [spec.model_dump(mode="json") for spec in cls.datasets],
            "queue": cls.queue,
            "app_distribution": app_distribution,
            "app_version": app_version,
        }

    @classmethod
    def validate(cls, config: Mapping[str, Any] | BaseModel) -> ConfigT:
        """The config as this app's Config, or ConfigError naming every bad field."""
        return cast(ConfigT, validate_config(cls.name or cls.__name__, cls.Config, config))

    def run(
        self,
        config: Mapping[str, Any] | BaseModel,
        callbacks: Sequence[Callback] = (),
        output_dir: Path | str | None = None,
        reporters: Sequence[Reporter] = (),
        dataset: LocalDataset | None = None,
    ) -> RunResult:
        """Validate, train, evaluate and write the run directory (default: runs/<app>-<timestamp>), telling
        `reporters` what happens. `dataset`: the uploaded dataset the config's dataset_id names, on this disk."""
        validated = self.validate(config)
        wanted = getattr(validated, DATASET_ID_FIELD, None)
        if wanted is not None and (dataset is None or dataset.ref.id != wanted):
            message = f"dataset {wanted} is kept by the platform: start the run there, whose worker downloads it"
            raise ConfigError(self.name, [{"field": DATASET_ID_FIELD, "message": message}])
        self.dataset = dataset
        out = Path(output_dir) if output_dir is not None else default_output_dir(self.name)
        out.mkdir(parents=True, exist_ok=True)
        # The verdict of an earlier run in the same directory must not outlive this one.
        for stale in (REPORT_FILE, METRICS_FILE):
            (out / stale).unlink(missing_ok=True)
        write_json(out / CONFIG_FILE, validated.model_dump(mode="json"))
        seed_everything(validated.seed)
        attempt = _Attempt(started_at=dt.datetime.now(dt.UTC))
        try:
            result = self._run(validated, list(callbacks), out, attempt, reporters)
        except BaseException as exc:
            self._record_failure(validated, exc, out, attempt, reporters)
            raise
        for reporter in reporters:
            reporter.finished(result)
        return result

    def plan(self, config: ConfigT) -> Plan:
        """What a run of `config` is: the app, the config, the epochs and the declared test metrics."""
        return Plan(
            app=self.name,
            config=config.model_dump(mode="json"),
            total_epochs=config.epochs,
            metrics=self._metric_specs(config),
            epoch_metrics=self._epoch_metric_specs(config),
        )

    def _epoch_metric_specs(self, config: ConfigT) -> list[MetricSpec]:
        """The loss and `_train_metrics`, each also as val_<name>; an app whose training metric is a function of
        its own overrides this to declare it."""
        specs = []
        for name in ["loss", *resolve(self._train_metrics(config))]:
            if name not in SPECS:
                raise ValueError(f"training metric {name!r} has no declaration; declare it in _epoch_metric_specs")
            spec = SPECS[name]
            validation = f"{name} on the validation split ({spec.description.rstrip('.').lower()})."
            specs += [spec, spec.model_copy(update={"name": f"val_{name}", "description": validation})]
        return specs

    def _run(
        self, config: ConfigT, callbacks: list[Callback], out: Path, attempt: _Attempt, reporters: Sequence[Reporter]
    ) -> RunResult:
        plan = self.plan(config)
        clock = time.monotonic()
        raw = self._load_data(config)
        attempt.data = self._describe_data(config, raw)
        data = self._prepare(config, raw)
        attempt.load_seconds = time.monotonic() - clock
        model = self._create_model(config, data.spec)
        self._check_model(config, model, data)
        early_stopping = self._early_stopping(config, data)
        learner = attempt.learner = Learner(
            model,
            self._create_loss(config),
            self._create_optimizer(config, model),
            callbacks=[
                *self._callbacks(config, data),
                *early_stopping,
                CSVLogger(out / HISTORY_FILE),
                *callbacks,
                _EpochReports(reporters, config.epochs, lambda: self._live_predictions(config, learner, data)),
            ],
            metrics=self._train_metrics(config),
            progress=False,  # a caller who wants a bar passes a ProgressBar (the CLI does)
        )
        for reporter in reporters:
            reporter.train_begin(plan)
        clock = time.monotonic()
        learner.fit(data.splits.train, data.splits.val, epochs=config.epochs, batch_size=config.batch_size)
        attempt.train_seconds = time.monotonic() - clock
        clock = time.monotonic()
        evaluation = self._evaluate(config, learner, data)
        _require_finite(evaluation)
        _require_declared(evaluation, plan.metrics)
        attempt.evaluate_seconds = time.monotonic() - clock
        save_weights(out / WEIGHTS_FILE, model.state_dict())
        write_json(out / MODEL_FILE, {"app": self.name, "task": self.task, "spec": _jsonable(data.spec)})
        self._save_artifacts(config, data, out)
        epochs_completed = len(learner.history.get("loss", []))
        stop = _stop_reason(learner, early_stopping, epochs_completed, config.epochs)
        result = RunResult(
            plan=plan,
            status=STATUS_OF_STOP[stop.kind],
            stop_reason=stop,
            epochs_completed=epochs_completed,
            metrics=evaluation.metrics,
            baselines=evaluation.baselines,
            verdict=judge(evaluation.metrics, evaluation.baselines, plan.metrics),
            history=_finite(learner.history),
            provenance=self._provenance(config, attempt.data),
            timings=_timings(attempt),
            details=evaluation.details,
        )
        sections = [
            *self._summary_sections(result, learner.history, out),
            *self._report(config, evaluation, out),
            ReportSection("Data", _data_body(data.summary, result.provenance)),
            ReportSection("Configuration", table(["field", "value"], list(plan.config.items()))),
        ]
        status_line = f"{result.status} — {stop.message}"
        write_text(out / REPORT_FILE, render(self._title(), status_line, self.description, sections))
        result = result.model_copy(update={"artifacts": sorted({*list_files(out), METRICS_FILE})})
        write_json(out / METRICS_FILE, result.model_dump(mode="json"))
        return result

    def _provenance(self, config: ConfigT, data: DataProvenance | None) -> Provenance:
        python, numpy_version, packages, app_distribution, app_version = environment(type(self).__module__)
        return Provenance(
            data=data,
            seed=config.seed,
            python=python,
            numpy=numpy_version,
            packages=packages,
            app_distribution=app_distribution,
            app_version=app_version,
        )

    def _early_stopping(self, config: ConfigT, data: PreparedT) -> list[EarlyStopping]:
        if config.early_stopping_patience is None:
            return []
        monitor = "val_loss" if data.splits.val is not None else "loss"
        return [EarlyStopping(monitor, patience=config.early_stopping_patience, restore_best_weights=True)]

    def _title(self) -> str:
        return f"{self.name or type(self).__name__} — run report"

    @staticmethod
    def _summary_sections(result: RunResult, history: Mapping[str, Sequence[float]], out: Path) -> list[ReportSection]:
        sections = [
            ReportSection("Verdict", verdict_markdown(result)),
            ReportSection("Result", _result_table(result)),
        ]
        epochs = result.epochs_completed
        timing = f"{epochs} epochs in {result.timings.train_seconds:.1f} s."
        if epochs:
            chart = image("Training and validation loss", plot_history(history, out))
            sections.append(ReportSection("Training", f"{timing}\n\n{chart}"))
        else:
            sections.append(ReportSection("Training", f"{timing} No epoch completed, so there is no loss curve."))
        return sections

    def _record_failure(
        self, config: ConfigT, exc: BaseException, out: Path, attempt: _Attempt, reporters: Sequence[Reporter]
    ) -> None:
        """Replace any success claim with a result and a report that say the run failed and why."""
        error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        sections = [
            ReportSection("Error", code_block(error)),
            ReportSection("Configuration", table(["field", "value"], list(config.model_dump(mode="json").items()))),
        ]
        status_line = f"failed — {escape(error.splitlines()[0])}. No results were measured."
        report = render(self._title(), status_line, self.description, sections)
        try:
            history = attempt.learner.history if attempt.learner is not None else {}
            result = RunResult(
                plan=self.plan(config),
                status="failed",
                stop_reason=StopReason(kind="failed", message=error.splitlines()[0]),
                epochs_completed=len(history.get("loss", [])),
                metrics={},
                baselines=[],
                verdict=[],
                history=_finite(history),
                provenance=self._provenance(config, attempt.data),
                timings=_timings(attempt),
                artifacts=sorted({*list_files(out), METRICS_FILE, REPORT_FILE}),
            )
            write_json(out / METRICS_FILE, result.model_dump(mode="json"))
            write_text(out / REPORT_FILE, report)
            for reporter in reporters:
                reporter.finished(result)
        except Exception:
            log.exception("could not write or report the failure record of %s", out)


class _EpochReports(Callback):
    """Tells the reporters about every completed epoch, and its live predictions when the pipeline has them."""

    def __init__(
        self,
        reporters: Sequence[Reporter],
        total_epochs: int,
        live_predictions: Callable[[], tuple[list[float], list[float]] | None],
    ) -> None:
        self.reporters = reporters
        self.total_epochs = total_epochs
        self.live_predictions = live_predictions

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        if not self.reporters:
            return
        metrics = numeric_logs(logs)
        for reporter in self.reporters:
            reporter.epoch(epoch + 1, self.total_epochs, metrics)
        predictions = self.live_predictions()
        if predictions is not None:
            for reporter in self.reporters:
                reporter.predictions(epoch + 1, *predictions)


def verdict_markdown(result: RunResult) -> str:
    """The report's opening: which baselines the model beats on which metrics, and where a baseline wins."""
    if not result.verdict:
        return "No baseline was scored on the model's metrics, so there is no verdict."
    lost = [entry for entry in result.verdict if not entry.beaten]
    if not lost:
        names = ", ".join(entry.metric for entry in result.verdict)
        headline = f"The model **beats every baseline** on every metric ({names})."
    else:
        losses = "; ".join(
            f"{entry.strongest_baseline} on {entry.metric} "
            f"({format_value(entry.baseline)} vs {format_value(entry.model)})"
            for entry in lost
        )
        headline = f"The model does **not** beat every baseline. A baseline is as good or better: {losses}."
    lines = [headline, ""]
    specs = {spec.name: spec for spec in result.plan.metrics}
    for baseline in result.baselines:
        shared = [name for name in baseline.metrics if name in result.metrics and name in specs]
        won = [name for name in shared if specs[name].better(result.metrics[name], baseline.metrics[name])]
        wins = [name for name in shared if specs[name].better(baseline.metrics[name], result.metrics[name])]
        ties = [name for name in shared if name not in won and name not in wins]
        parts = [f"the model is better on {', '.join(won)}"] if won else []
        parts += [f"**the baseline wins** on {', '.join(wins)}"] if wins else []
        parts += [f"they tie on {', '.join(ties)}"] if ties else []
        lines.append(f"- {baseline.name}: {'; '.join(parts) or 'no metric in common with the model'}.")
    return "\n".join(lines)


def _result_table(result: RunResult) -> str:
    specs = {spec.name: spec for spec in result.plan.metrics}
    verdicts = {entry.metric: entry for entry in result.verdict}
    header = ["metric (test split)", "unit", "model", *(f"baseline: {b.name}" for b in result.baselines), "verdict"]
    rows = []
    for name, value in result.metrics.items():
        entry = verdicts.get(name)
        if entry is None:
            verdict = "—"
        elif entry.beaten:
            verdict = "beats every baseline"
        else:
            verdict = f"not beaten ({entry.strongest_baseline})"
        arrow = "higher is better" if specs[name].direction == "higher" else "lower is better"
        scores = [b.metrics.get(name, "—") for b in result.baselines]
        rows.append([f"{name} ({arrow})", specs[name].unit, value, *scores, verdict])
    return table(header, rows)


def _data_body(summary: Mapping[str, Any], provenance: Provenance) -> str:
    rows: list[list[Any]] = [[key, value] for key, value in summary.items()]
    data = provenance.data
    if data is not None:
        source = data.source
        rows += [
            ["source requested", source.requested],
            ["source used", source.used],
            ["data", source.description],
            ["offline sample stood in", source.fallback_reason or "no"],
            ["rows", data.rows],
            ["first .. last", f"{data.first} .. {data.last}" if data.first is not None else "—"],
            ["sha256 of the data", data.sha256],
        ]
    rows += [["seed", provenance.seed], ["app", f"{provenance.app_distribution} {provenance.app_version}"]]
    rows += [["python / numpy", f"{provenance.python} / {provenance.numpy}"]]
    rows += [[name, version] for name, version in provenance.packages.items()]
    note = (
        "Two runs with the same data fingerprint, seed, config and versions give the same results: every random "
        "choice is drawn from the seed."
    )
    return f"{table(['item', 'value'], rows)}\n\n{note}"


def _stop_reason(learner: Learner, early_stopping: Sequence[EarlyStopping], completed: int, planned: int) -> StopReason:
    if learner.cancelled:
        message = f"the user cancelled after {completed} of {planned} epochs; the results are those of the model then."
        return StopReason(kind="cancelled", message=message)
    if learner.interrupted:
        message = (
            f"interrupted by a shutdown after {completed} of {planned} epochs; the results are those of the model then."
        )
        return StopReason(kind="interrupted", message=message)
    if learner.pruned:
        message = (
            f"pruned by its sweep after {completed} of {planned} epochs: its objective trailed the other trials'; "
            "the results are those of the model then."
        )
        return StopReason(kind="pruned", message=message)
    if any(callback.stopped_epoch is not None for callback in early_stopping):
        message = (
            f"stopped early after {completed} of {planned} epochs because the monitored loss stopped improving; "
            "the weights of the best epoch were kept."
        )
        return StopReason(kind="early_stopped", message=message)
    if learner.stop_training:
        message = f"a callback ended training after {completed} of {planned} epochs."
        return StopReason(kind="early_stopped", message=message)
    return StopReason(kind="completed", message=f"trained all {planned} epochs.")


def _timings(attempt: _Attempt) -> Timings:
    return Timings(
        started_at=attempt.started_at,
        finished_at=dt.datetime.now(dt.UTC),
        load_seconds=attempt.load_seconds,
        train_seconds=attempt.train_seconds,
        evaluate_seconds=attempt.evaluate_seconds,
    )


def _require_finite(evaluation: Evaluation) -> None:
    broken = [name for name, value in evaluation.metrics.items() if not math.isfinite(value)]
    if broken:
        raise FloatingPointError(
            f"the model's test {', '.join(broken)} came out as NaN or infinite, so training diverged; "
            "lower learning_rate, or check the data for extreme values"
        )


def _require_declared(evaluation: Evaluation, specs: Sequence[MetricSpec]) -> None:
    names = {spec.name for spec in specs}
    undeclared = [name for name in evaluation.metrics if name not in names]
    if undeclared:
        raise ValueError(
            f"metric(s) {', '.join(undeclared)} are reported by _evaluate but not declared; add a MetricSpec for "
            "each (name, direction, unit) to what _metric_specs returns"
        )


def _finite(history: Mapping[str, Sequence[float]]) -> dict[str, list[float | None]]:
    """History with NaN and infinities as None: JSON (and so metrics.json and the database) has no NaN."""
    return {key: [value if math.isfinite(value) else None for value in values] for key, values in history.items()}


def _jsonable(spec: Any) -> Any:
    return asdict(spec) if is_dataclass(spec) and not isinstance(spec, type) else spec
