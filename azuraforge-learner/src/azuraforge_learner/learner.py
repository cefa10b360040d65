"""The Learner: trains a core model with a loss and an optimizer and tells its callbacks what happens.

    learner = Learner(model, F.mse_loss, optim.Adam(model.parameters(), lr=1e-3), callbacks=[...], metrics=["mae"])
    history = learner.fit((x_train, y_train), val=(x_val, y_val), epochs=20, batch_size=32)

Training metrics are computed on the epoch's training-mode outputs (as Keras does); validation metrics on the
whole validation set in eval mode after the epoch. Shuffling uses numpy's global generator (seeded by the
pipelines), so a seeded run is repeatable.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from azuraforge_core import Tensor, nn, no_grad, optim
from azuraforge_learner.callbacks import Callback, CallbackList, History, Logs, ProgressBar
from azuraforge_learner.data import Array, Data, Dataset, as_dataset
from azuraforge_learner.metrics import MetricFn, resolve

LossFn = Callable[[Tensor, Tensor], Tensor]


class Learner:
    """A progress bar is shown during fit when `progress` is True, or by default when stderr is a terminal.

    `stop_training = True` (set by a callback) ends training after the current batch; `cancel()` does the
    same and records that the user asked for it, `interrupt()` that the process is shutting down, `prune()` that
    a hyperparameter sweep gave up on this trial, so the run is reported as cancelled, interrupted or pruned
    rather than stopped early.
    A partially trained epoch is dropped from the history: only complete epochs reach on_epoch_end."""

    def __init__(
        self,
        model: nn.Module,
        loss: LossFn,
        optimizer: optim.Optimizer,
        callbacks: Sequence[Callback] = (),
        metrics: Sequence[str | MetricFn] = (),
        progress: bool | None = None,
    ) -> None:
        self.model = model
        self.loss = loss
        self.optimizer = optimizer
        self.callbacks = list(callbacks)
        self.metrics = resolve(metrics)
        self.progress = progress
        self.stop_training = False
        self.cancelled = False
        self.interrupted = False
        self.pruned = False
        self._history = History()

    @property
    def history(self) -> dict[str, list[float]]:
        """Per-epoch values of loss, val_loss and every (val_) metric of the last fit."""
        return self._history.history

    def cancel(self) -> None:
        self.cancelled = True
        self.stop_training = True

    def interrupt(self) -> None:
        self.interrupted = True
        self.stop_training = True

    def prune(self) -> None:
        self.pruned = True
        self.stop_training = True

    def fit(
        self,
        train: Data,
        val: Data | None = None,
        epochs: int = 1,
        batch_size: int = 32,
        shuffle: bool = True,
    ) -> dict[str, list[float]]:
        """Train for `epochs` epochs (fewer if stopped)."""
        if epochs < 1 or batch_size < 1:
            raise ValueError(f"epochs and batch_size must be at least 1, got epochs={epochs}, batch_size={batch_size}")
        train_set = as_dataset(train)
        val_set = as_dataset(val) if val is not None else None
        if len(train_set) == 0:
            raise ValueError("the training data is empty; provide at least one sample")
        callbacks = CallbackList([self._history, *self.callbacks, *self._progress_bar()])
        callbacks.set_learner(self)
        self.stop_training = False
        self.cancelled = False
        self.interrupted = False
        self.pruned = False
        epochs_completed = 0
        try:
            callbacks.on_train_begin(
                {
                    "epochs": epochs,
                    "batches_per_epoch": math.ceil(len(train_set) / batch_size),
                    "batch_size": batch_size,
                    "samples": len(train_set),
                }
            )
            for epoch in range(epochs):
                callbacks.on_epoch_begin(epoch, {})
                epoch_logs = self._train_epoch(train_set, batch_size, shuffle, callbacks)
                if epoch_logs is None:
                    break
                if val_set is not None:
                    epoch_logs.update({f"val_{key}": value for key, value in self.evaluate(val_set).items()})
                callbacks.on_epoch_end(epoch, epoch_logs)
                epochs_completed += 1
                if self.stop_training:
                    break
            callbacks.on_train_end({"stopped_early": self.stop_training, "epochs_completed": epochs_completed})
        except BaseException as exc:
            callbacks.on_exception(exc)
            raise
        return self.history

    def _progress_bar(self) -> list[Callback]:
        """A ProgressBar unless the caller brought one or turned it off (None: only when stderr is a terminal)."""
        if self.progress is False or any(isinstance(callback, ProgressBar) for callback in self.callbacks):
            return []
        return [ProgressBar(enabled=self.progress)]

    def _train_epoch(self, data: Dataset, batch_size: int, shuffle: bool, callbacks: CallbackList) -> Logs | None:
        """One pass over `data`; None when training was stopped before the epoch completed."""
        self.model.train()
        order = np.random.permutation(len(data)) if shuffle else np.arange(len(data))
        total_loss = 0.0
        outputs: list[Array] = []
        targets: list[Array] = []
        for batch, start in enumerate(range(0, len(data), batch_size)):
            if self.stop_training:
                return None
            inputs, target = data[order[start : start + batch_size]]
            callbacks.on_batch_begin(batch, {"batch": batch, "size": len(inputs)})
            self.optimizer.zero_grad()
            output = self.model(Tensor(inputs))
            loss = self.loss(output, Tensor(target))
            loss.backward()
            self.optimizer.step()
            loss_value = float(loss.item())
            total_loss += loss_value * len(inputs)
            if self.metrics:
                outputs.append(output.numpy())
                targets.append(target)
            callbacks.on_batch_end(batch, {"batch": batch, "size": len(inputs), "loss": loss_value})
        epoch_logs: Logs = {"loss": total_loss / len(data)}
        if self.metrics:
            epoch_logs.update(self._metric_values(np.concatenate(targets), np.concatenate(outputs)))
        return epoch_logs

    def _metric_values(self, targets: Array, outputs: Array) -> dict[str, float]:
        return {name: float(metric(targets, outputs)) for name, metric in self.metrics.items()}

    def evaluate(self, data: Data, batch_size: int = 256) -> dict[str, float]:
        """Loss and every metric on `data`, in eval mode and without recording a graph."""
        dataset = as_dataset(data)
        if len(dataset) == 0:
            raise ValueError("cannot evaluate on empty data; provide at least one sample")
        total_loss = 0.0
        outputs: list[Array] = []
        targets: list[Array] = []
        with inference(self.model):
            for start in range(0, len(dataset), batch_size):
                inputs, target = dataset[np.arange(start, min(start + batch_size, len(dataset)))]
                output = self.model(Tensor(inputs))
                total_loss += float(self.loss(output, Tensor(target)).item()) * len(inputs)
                outputs.append(output.numpy())
                targets.append(target)
        return {
            "loss": total_loss / len(dataset),
            **self._metric_values(np.concatenate(targets), np.concatenate(outputs)),
        }

    def predict(self, inputs: Array, batch_size: int = 256) -> Array:
        """The model's outputs for `inputs`, batched, in eval mode and without recording a graph."""
        array = np.asarray(inputs)
        if array.dtype.kind == "f":
            array = array.astype(np.float32, copy=False)
        with inference(self.model):
            chunks = [
                self.model(Tensor(array[start : start + batch_size])).numpy()
                for start in range(0, len(array), batch_size)
            ]
        return np.concatenate(chunks) if chunks else np.empty((0,), dtype=np.float32)


@contextlib.contextmanager
def inference(model: nn.Module) -> Iterator[None]:
    """Eval mode and no_grad for the duration of a block; the model's previous mode is restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            yield
    finally:
        model.train(was_training)
