"""Small shared pieces for the tests: data, a model, and a callback that records every call."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from azuraforge_core import nn, optim
from azuraforge_core.functional import mse_loss
from azuraforge_learner import Callback, Learner, Logs, Plan, RunResult


def linear_data(samples: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    inputs = rng.normal(size=(samples, 3)).astype(np.float32)
    targets = inputs @ np.array([[1.0], [-2.0], [0.5]], dtype=np.float32) + 0.3
    return inputs, targets.astype(np.float32)


def small_learner(callbacks: list[Callback] | None = None, lr: float = 0.05, **kwargs: Any) -> Learner:
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))
    return Learner(model, mse_loss, optim.Adam(model.parameters(), lr=lr), callbacks=callbacks or [], **kwargs)


class Recorder(Callback):
    """Records (hook, number, copy of logs) for every call, and whether the learner was set beforehand."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int | None, dict[str, Any]]] = []
        self.learner_set_before_train = False

    def on_train_begin(self, logs: Logs) -> None:
        self.learner_set_before_train = getattr(self, "learner", None) is not None
        self.calls.append(("train_begin", None, dict(logs)))

    def on_epoch_begin(self, epoch: int, logs: Logs) -> None:
        self.calls.append(("epoch_begin", epoch, dict(logs)))

    def on_batch_begin(self, batch: int, logs: Logs) -> None:
        self.calls.append(("batch_begin", batch, dict(logs)))

    def on_batch_end(self, batch: int, logs: Logs) -> None:
        self.calls.append(("batch_end", batch, dict(logs)))

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        self.calls.append(("epoch_end", epoch, dict(logs)))

    def on_train_end(self, logs: Logs) -> None:
        self.calls.append(("train_end", None, dict(logs)))

    def on_exception(self, exc: BaseException) -> None:
        self.calls.append(("exception", None, {"exc": exc}))

    def hooks(self) -> list[tuple[str, int | None]]:
        return [(hook, number) for hook, number, _ in self.calls]

    def logs(self, hook: str) -> list[dict[str, Any]]:
        return [logs for name, _, logs in self.calls if name == hook]


class RecordingReporter:
    """A Reporter that records every call as a tuple: (method name, *arguments)."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def train_begin(self, plan: Plan) -> None:
        self.calls.append(("train_begin", plan))

    def epoch(self, epoch: int, total_epochs: int, metrics: Mapping[str, float]) -> None:
        self.calls.append(("epoch", epoch, total_epochs, dict(metrics)))

    def predictions(self, epoch: int, actual: Sequence[float], predicted: Sequence[float]) -> None:
        self.calls.append(("predictions", epoch, list(actual), list(predicted)))

    def finished(self, result: RunResult) -> None:
        self.calls.append(("finished", result))
