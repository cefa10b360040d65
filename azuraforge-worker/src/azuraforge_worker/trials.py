"""A sweep's trial, as the worker trains it: each epoch's objective goes to the sweep's Optuna study, and the
trial stops when the sweep's pruner says so, the cooperative way a cancel does (after the epoch, keeping the
model it has, with stop_reason "pruned")."""

import logging

import optuna
from sqlalchemy.exc import SQLAlchemyError

from azuraforge_common.models import Sweep
from azuraforge_common.sweeps import TrialReport
from azuraforge_learner.callbacks import Callback, Logs

log = logging.getLogger(__name__)


class TrialPruning(Callback):
    def __init__(self, database_url: str, sweep: Sweep, number: int) -> None:
        self.report = TrialReport(database_url, sweep, number)
        self.number = number

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        value = logs.get(self.report.metric)
        if not isinstance(value, int | float):
            return
        try:
            prune = self.report.should_prune(epoch + 1, float(value))
        except (SQLAlchemyError, optuna.exceptions.OptunaError) as exc:
            # Training goes on unpruned: a database hiccup must not cost the trial.
            log.warning("trial %d: could not report epoch %d to its sweep: %s", self.number, epoch + 1, exc)
            return
        if prune:
            self.learner.prune()
