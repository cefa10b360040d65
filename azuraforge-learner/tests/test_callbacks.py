import csv
import io
from typing import Any

import numpy as np
import pytest
from helpers import Recorder, linear_data, small_learner

from azuraforge_learner import Callback, CSVLogger, EarlyStopping, History, Logs, ModelCheckpoint, ProgressBar
from azuraforge_learner.artifacts import load_weights


class Scripted(Callback):
    """Puts a scripted value under `key` into each epoch's logs and snapshots the weights at that moment."""

    def __init__(self, key: str, values: list[float]) -> None:
        self.key, self.values = key, values
        self.snapshots: list[dict[str, np.ndarray]] = []

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        logs[self.key] = self.values[epoch]
        self.snapshots.append(self.learner.model.state_dict())


def assert_same_weights(left: dict[str, Any], right: dict[str, Any]) -> None:
    assert left.keys() == right.keys()
    for key in left:
        np.testing.assert_array_equal(left[key], right[key])


def test_early_stopping_stops_after_patience_and_restores_the_best_weights():
    inputs, targets = linear_data(20)
    scripted = Scripted("score", [5.0, 3.0, 3.5, 3.2, 1.0, 0.5])
    stopper = EarlyStopping(monitor="score", patience=2, restore_best_weights=True)
    recorder = Recorder()
    learner = small_learner([scripted, stopper, recorder])
    learner.fit((inputs, targets), epochs=6, batch_size=5)
    assert stopper.best == 3.0
    assert stopper.best_epoch == 1
    assert stopper.stopped_epoch == 3
    assert recorder.logs("train_end") == [{"stopped_early": True, "epochs_completed": 4}]
    assert_same_weights(learner.model.state_dict(), scripted.snapshots[1])


def test_early_stopping_min_delta_and_auto_mode_for_a_metric_that_grows():
    inputs, targets = linear_data(20)
    scripted = Scripted("val_accuracy", [0.5, 0.6, 0.605, 0.9])
    stopper = EarlyStopping(monitor="val_accuracy", patience=1, min_delta=0.01)
    learner = small_learner([scripted, stopper])
    learner.fit((inputs, targets), epochs=4, batch_size=5)
    assert stopper.best == 0.6
    assert stopper.stopped_epoch == 2  # 0.605 is not 0.01 better than 0.6
    assert len(learner.history["loss"]) == 3


def test_early_stopping_without_stop_keeps_training_and_still_restores_best():
    inputs, targets = linear_data(20)
    scripted = Scripted("score", [3.0, 1.0, 2.0])
    stopper = EarlyStopping(monitor="score", patience=5, restore_best_weights=True)
    learner = small_learner([scripted, stopper])
    learner.fit((inputs, targets), epochs=3, batch_size=5)
    assert stopper.stopped_epoch is None
    assert not learner.stop_training
    assert_same_weights(learner.model.state_dict(), scripted.snapshots[1])


def test_a_monitor_missing_from_the_logs_names_what_is_available():
    inputs, targets = linear_data(20)
    learner = small_learner([EarlyStopping()])
    with pytest.raises(ValueError, match=r"monitors 'val_loss' but the epoch logs only have: loss; pass validation"):
        learner.fit((inputs, targets), epochs=2, batch_size=5)


def test_model_checkpoint_saves_the_weights_of_the_best_epoch(tmp_path):
    inputs, targets = linear_data(20)
    scripted = Scripted("val_loss", [4.0, 2.0, 3.0, 2.5])
    path = tmp_path / "checkpoints" / "best.npz"
    checkpoint = ModelCheckpoint(path, monitor="val_loss")
    learner = small_learner([scripted, checkpoint])
    learner.fit((inputs, targets), epochs=4, batch_size=5)
    assert checkpoint.best == 2.0
    assert checkpoint.best_epoch == 1
    assert_same_weights(load_weights(path), scripted.snapshots[1])
    learner.model.load_state_dict(load_weights(path))


def test_model_checkpoint_every_epoch_keeps_the_last(tmp_path):
    inputs, targets = linear_data(20)
    scripted = Scripted("val_loss", [1.0, 2.0, 3.0])
    path = tmp_path / "last.npz"
    small_learner([scripted, ModelCheckpoint(path, save_best_only=False)]).fit((inputs, targets), epochs=3)
    assert_same_weights(load_weights(path), scripted.snapshots[2])


def test_csv_logger_writes_one_row_per_epoch(tmp_path):
    inputs, targets = linear_data(20)
    path = tmp_path / "log.csv"
    learner = small_learner([CSVLogger(path)], metrics=["mae"])
    learner.fit((inputs, targets), val=(inputs, targets), epochs=3, batch_size=5)
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["epoch"] for row in rows] == ["0", "1", "2"]
    assert list(rows[0]) == ["epoch", "loss", "mae", "val_loss", "val_mae"]
    assert [float(row["val_mae"]) for row in rows] == pytest.approx(learner.history["val_mae"])


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_shows_epochs_on_a_terminal_and_stays_silent_in_a_pipe():
    inputs, targets = linear_data(20)
    terminal = Terminal()
    shown = ProgressBar(stream=terminal)
    assert shown.enabled
    small_learner([shown]).fit((inputs, targets), val=(inputs, targets), epochs=2, batch_size=5)
    output = terminal.getvalue()
    assert "epoch 2/2" in output
    assert "8/8" in output
    assert "val_loss" in output

    pipe = io.StringIO()
    silent = ProgressBar(stream=pipe)
    assert not silent.enabled
    small_learner([silent]).fit((inputs, targets), epochs=2, batch_size=5)
    assert pipe.getvalue() == ""

    forced = io.StringIO()
    small_learner([ProgressBar(enabled=True, stream=forced)]).fit((inputs, targets), epochs=1, batch_size=5)
    assert "4/4" in forced.getvalue()


def test_history_keeps_scalars_only_and_restarts_with_each_fit():
    inputs, targets = linear_data(20)
    adds_a_list = Scripted("val_predictions", [[1.0, 2.0]] * 3)  # type: ignore[list-item]
    history = History()
    learner = small_learner([adds_a_list, history])
    learner.fit((inputs, targets), epochs=3, batch_size=5)
    assert list(history.history) == ["loss"]
    assert len(history.history["loss"]) == 3
    learner.fit((inputs, targets), epochs=1, batch_size=5)
    assert len(history.history["loss"]) == 1


def test_a_failing_on_exception_does_not_hide_the_error_from_other_callbacks():
    class Clumsy(Callback):
        def on_exception(self, exc: BaseException) -> None:
            raise RuntimeError("clumsy")

    class Explodes(Callback):
        def on_epoch_end(self, epoch: int, logs: Logs) -> None:
            raise KeyError("boom")

    inputs, targets = linear_data(10)
    recorder = Recorder()
    with pytest.raises(KeyError, match="boom"):
        small_learner([Explodes(), Clumsy(), recorder]).fit((inputs, targets), epochs=1)
    assert recorder.hooks()[-1] == ("exception", None)


def test_the_learner_brings_its_own_progress_bar_unless_told_otherwise(capsys):
    inputs, targets = linear_data(20)
    small_learner(progress=True).fit((inputs, targets), epochs=1, batch_size=5)
    assert "epoch 1/1" in capsys.readouterr().err
    small_learner().fit((inputs, targets), epochs=1, batch_size=5)  # stderr is not a terminal under pytest
    assert capsys.readouterr().err == ""
    own = io.StringIO()
    small_learner([ProgressBar(enabled=True, stream=own)], progress=True).fit((inputs, targets), epochs=1)
    assert capsys.readouterr().err == ""
    assert "epoch 1/1" in own.getvalue()
