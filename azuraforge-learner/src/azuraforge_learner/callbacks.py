"""Callbacks: the Learner announces what happens, callbacks listen. Hook names and signatures are Keras'.

Order of calls in one `Learner.fit`: set_learner, on_train_begin, then per epoch on_epoch_begin,
(on_batch_begin, on_batch_end) per batch, on_epoch_end, and finally on_train_end; on_exception(exc) instead of
the rest when training raises. Epoch and batch numbers are 0-based. A callback ends training after the current
batch with `self.learner.stop_training = True` (or `self.learner.cancel()` when the user asked for it).
"""

from __future__ import annotations

import csv
import logging
import math
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from azuraforge_learner.artifacts import save_weights
from azuraforge_learner.metrics import higher_is_better

if TYPE_CHECKING:
    from azuraforge_learner.learner import Learner

Logs = dict[str, Any]
Mode = Literal["auto", "min", "max"]

log = logging.getLogger(__name__)


class Callback:
    """Base class: every hook does nothing. `self.learner` is set by the Learner before on_train_begin."""

    learner: Learner

    def set_learner(self, learner: Learner) -> None:
        self.learner = learner

    def on_train_begin(self, logs: Logs) -> None:
        """logs: epochs, batches_per_epoch, batch_size, samples, plus whatever the caller of fit adds."""

    def on_epoch_begin(self, epoch: int, logs: Logs) -> None:
        """logs: empty."""

    def on_batch_begin(self, batch: int, logs: Logs) -> None:
        """logs: batch, size."""

    def on_batch_end(self, batch: int, logs: Logs) -> None:
        """logs: batch, size, loss."""

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        """logs: loss and every metric, val_loss and val_<metric> with validation data, plus extras."""

    def on_train_end(self, logs: Logs) -> None:
        """logs: stopped_early, epochs_completed."""

    def on_exception(self, exc: BaseException) -> None:
        """Training raised `exc`; it propagates to the caller of fit after every callback has seen it."""


class CallbackList:
    """Calls one hook on every callback, in order; all of them see (and may add to) the same logs dict."""

    def __init__(self, callbacks: list[Callback]) -> None:
        self.callbacks = callbacks

    def set_learner(self, learner: Learner) -> None:
        for callback in self.callbacks:
            callback.set_learner(learner)

    def on_train_begin(self, logs: Logs) -> None:
        for callback in self.callbacks:
            callback.on_train_begin(logs)

    def on_epoch_begin(self, epoch: int, logs: Logs) -> None:
        for callback in self.callbacks:
            callback.on_epoch_begin(epoch, logs)

    def on_batch_begin(self, batch: int, logs: Logs) -> None:
        for callback in self.callbacks:
            callback.on_batch_begin(batch, logs)

    def on_batch_end(self, batch: int, logs: Logs) -> None:
        for callback in self.callbacks:
            callback.on_batch_end(batch, logs)

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        for callback in self.callbacks:
            callback.on_epoch_end(epoch, logs)

    def on_train_end(self, logs: Logs) -> None:
        for callback in self.callbacks:
            callback.on_train_end(logs)

    def on_exception(self, exc: BaseException) -> None:
        # Every callback hears about the failure even if one of them fails while handling it.
        for callback in self.callbacks:
            try:
                callback.on_exception(exc)
            except Exception:
                log.exception("%s.on_exception failed while handling %r", type(callback).__name__, exc)


def numeric_logs(logs: Logs) -> dict[str, float]:
    """The scalar entries of a logs dict (anything else a callback added is left out)."""
    return {
        key: float(value)
        for key, value in logs.items()
        if isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
    }


class History(Callback):
    """Every scalar of every epoch's logs: {"loss": [...], "val_loss": [...], ...}. The Learner always has one."""

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}

    def on_train_begin(self, logs: Logs) -> None:
        self.history = {}

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        for key, value in numeric_logs(logs).items():
            self.history.setdefault(key, []).append(value)


class _Monitor:
    """Tracks the best value of one logged quantity; `mode="auto"` knows which metrics grow when they improve."""

    def __init__(self, owner: str, monitor: str, mode: Mode, min_delta: float) -> None:
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"{owner} mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.owner = owner
        self.monitor = monitor
        self.maximize = higher_is_better(monitor) if mode == "auto" else mode == "max"
        self.min_delta = abs(min_delta)
        self.reset()

    def reset(self) -> None:
        self.best = -math.inf if self.maximize else math.inf
        self.best_epoch: int | None = None

    def value(self, logs: Logs) -> float:
        if self.monitor not in logs:
            available = ", ".join(numeric_logs(logs)) or "nothing"
            raise ValueError(
                f"{self.owner} monitors {self.monitor!r} but the epoch logs only have: {available}; "
                "pass validation data to fit or monitor one of those"
            )
        return float(logs[self.monitor])

    def improved(self, epoch: int, logs: Logs) -> bool:
        """Record the epoch's value; True when it beats the best so far by more than min_delta."""
        value = self.value(logs)
        better = value > self.best + self.min_delta if self.maximize else value < self.best - self.min_delta
        if better:
            self.best, self.best_epoch = value, epoch
        return better


def _copy_state(learner: Learner) -> dict[str, NDArray[Any]]:
    return {name: np.array(value, copy=True) for name, value in learner.model.state_dict().items()}


class EarlyStopping(Callback):
    """Stops training when `monitor` has not improved by more than `min_delta` for `patience` epochs.

    With `restore_best_weights` the model ends training with the weights of its best epoch.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 0,
        min_delta: float = 0.0,
        mode: Mode = "auto",
        restore_best_weights: bool = False,
    ) -> None:
        if patience < 0:
            raise ValueError(f"EarlyStopping patience must be 0 or more epochs, got {patience}")
        self._monitor = _Monitor("EarlyStopping", monitor, mode, min_delta)
        self.patience = patience
        self.restore_best_weights = restore_best_weights
        self.wait = 0
        self.stopped_epoch: int | None = None
        self.best_weights: dict[str, NDArray[Any]] | None = None

    @property
    def best(self) -> float:
        return self._monitor.best

    @property
    def best_epoch(self) -> int | None:
        return self._monitor.best_epoch

    def on_train_begin(self, logs: Logs) -> None:
        self._monitor.reset()
        self.wait = 0
        self.stopped_epoch = None
        self.best_weights = None

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        if self._monitor.improved(epoch, logs):
            self.wait = 0
            if self.restore_best_weights:
                self.best_weights = _copy_state(self.learner)
            return
        self.wait += 1
        if self.wait >= max(self.patience, 1):
            self.stopped_epoch = epoch
            self.learner.stop_training = True

    def on_train_end(self, logs: Logs) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            self.learner.model.load_state_dict(self.best_weights)


class ModelCheckpoint(Callback):
    """Saves the model's weights (.npz, see `artifacts.save_weights`) at the end of an epoch: only when
    `monitor` improved with `save_best_only`, else every epoch."""

    def __init__(
        self, filepath: Path | str, monitor: str = "val_loss", mode: Mode = "auto", save_best_only: bool = True
    ) -> None:
        self.filepath = Path(filepath)
        self._monitor = _Monitor("ModelCheckpoint", monitor, mode, 0.0)
        self.save_best_only = save_best_only

    @property
    def best(self) -> float:
        return self._monitor.best

    @property
    def best_epoch(self) -> int | None:
        return self._monitor.best_epoch

    def on_train_begin(self, logs: Logs) -> None:
        self._monitor.reset()

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        improved = self._monitor.improved(epoch, logs)
        if improved or not self.save_best_only:
            save_weights(self.filepath, self.learner.model.state_dict())


class ProgressBar(Callback):
    """A tqdm bar over all batches of the run with the latest loss; shown by default only when `stream` (stderr
    unless given) is a terminal, so logs and pipes stay clean."""

    def __init__(self, enabled: bool | None = None, stream: IO[str] | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self._bar: tqdm[Any] | None = None
        self._epochs = 0

    def on_train_begin(self, logs: Logs) -> None:
        self._epochs = int(logs["epochs"])
        total = self._epochs * int(logs["batches_per_epoch"])
        self._bar = tqdm(total=total, file=self.stream, disable=not self.enabled, unit="batch", dynamic_ncols=True)

    def on_epoch_begin(self, epoch: int, logs: Logs) -> None:
        if self._bar is not None:
            self._bar.set_description(f"epoch {epoch + 1}/{self._epochs}")

    def on_batch_end(self, batch: int, logs: Logs) -> None:
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(loss=f"{logs['loss']:.4g}", refresh=False)

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        if self._bar is not None:
            shown = {key: f"{value:.4g}" for key, value in numeric_logs(logs).items() if key.endswith("loss")}
            self._bar.set_postfix(shown)

    def on_train_end(self, logs: Logs) -> None:
        self._close()

    def on_exception(self, exc: BaseException) -> None:
        self._close()

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class CSVLogger(Callback):
    """Appends one row per epoch (epoch, then every scalar of the logs) to a CSV file, flushed each epoch."""

    def __init__(self, filename: Path | str, append: bool = False) -> None:
        self.filename = Path(filename)
        self.append = append
        self._file: IO[str] | None = None
        self._writer: csv.DictWriter[str] | None = None

    def on_train_begin(self, logs: Logs) -> None:
        self.filename.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.filename.open("a" if self.append else "w", newline="", encoding="utf-8")
        self._writer = None

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        if self._file is None:
            return
        row: dict[str, float | int] = {"epoch": epoch, **numeric_logs(logs)}
        if self._writer is None:
            self._writer = csv.DictWriter(self._file, fieldnames=list(row), extrasaction="ignore", restval="")
            if self._file.tell() == 0:
                self._writer.writeheader()
        self._writer.writerow(row)
        self._file.flush()

    def on_train_end(self, logs: Logs) -> None:
        self._close()

    def on_exception(self, exc: BaseException) -> None:
        self._close()

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
