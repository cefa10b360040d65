"""Reporter: what a pipeline tells the outside world about a run, in the run record's own types.

BasePipeline.run calls every reporter it is given: `train_begin(plan)` once training starts, `epoch(...)` after
each completed epoch (1-based, with its numeric logs), `predictions(...)` after that epoch when the pipeline has
live predictions, and `finished(result)` once metrics.json is written (also for a failed run). The worker
implements it by publishing progress events and storing progress; `azuraforge run` by printing.
"""

from collections.abc import Mapping, Sequence
from typing import Protocol

from azuraforge_learner.record import Plan, RunResult


class Reporter(Protocol):
    def train_begin(self, plan: Plan) -> None: ...

    def epoch(self, epoch: int, total_epochs: int, metrics: Mapping[str, float]) -> None:
        """`metrics`: loss, val_loss and the training metrics of epoch `epoch` (1-based), possibly non-finite."""

    def predictions(self, epoch: int, actual: Sequence[float], predicted: Sequence[float]) -> None:
        """Live predictions on the validation split after epoch `epoch` (1-based), in the target's own units."""

    def finished(self, result: RunResult) -> None: ...
