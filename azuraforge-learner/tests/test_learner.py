import numpy as np
import pytest
from helpers import Recorder, linear_data, small_learner

from azuraforge_core import Tensor
from azuraforge_learner import ArrayDataset, Callback, Logs
from azuraforge_learner.metrics import mae


def test_training_reduces_the_loss_and_records_history_for_train_and_validation():
    np.random.seed(0)
    inputs, targets = linear_data(120)
    learner = small_learner(metrics=["mae", "rmse"])
    history = learner.fit((inputs[:90], targets[:90]), val=(inputs[90:], targets[90:]), epochs=15, batch_size=16)
    assert set(history) == {"loss", "mae", "rmse", "val_loss", "val_mae", "val_rmse"}
    assert all(len(values) == 15 for values in history.values())
    assert history["loss"][-1] < history["loss"][0] / 5
    assert history["val_loss"][-1] < history["val_loss"][0] / 5
    assert learner.history is history


def test_hooks_are_called_in_keras_order_with_the_agreed_payloads():
    inputs, targets = linear_data(10)
    recorder = Recorder()
    learner = small_learner([recorder], metrics=["mae"])
    learner.fit((inputs, targets), val=(inputs[:4], targets[:4]), epochs=2, batch_size=4)

    per_epoch: list[tuple[str, int | None]] = [("batch_begin", 0), ("batch_end", 0), ("batch_begin", 1)]
    per_epoch += [("batch_end", 1), ("batch_begin", 2), ("batch_end", 2)]
    expected: list[tuple[str, int | None]] = [("train_begin", None)]
    for epoch in range(2):
        expected += [("epoch_begin", epoch), *per_epoch, ("epoch_end", epoch)]
    expected.append(("train_end", None))
    assert recorder.hooks() == expected
    assert recorder.learner_set_before_train

    assert recorder.logs("train_begin") == [{"epochs": 2, "batches_per_epoch": 3, "batch_size": 4, "samples": 10}]
    assert [logs["size"] for logs in recorder.logs("batch_begin")[:3]] == [4, 4, 2]
    for logs in recorder.logs("batch_end"):
        assert set(logs) == {"batch", "size", "loss"}
        assert isinstance(logs["loss"], float)
    for logs in recorder.logs("epoch_end"):
        assert set(logs) == {"loss", "mae", "val_loss", "val_mae"}
    assert recorder.logs("train_end") == [{"stopped_early": False, "epochs_completed": 2}]


def test_epoch_loss_is_the_sample_weighted_mean_of_batch_losses():
    inputs, targets = linear_data(10)
    recorder = Recorder()
    small_learner([recorder]).fit((inputs, targets), epochs=1, batch_size=4, shuffle=False)
    batches = recorder.logs("batch_end")
    weighted = sum(logs["loss"] * logs["size"] for logs in batches) / 10
    assert recorder.logs("epoch_end")[0]["loss"] == pytest.approx(weighted)


class StopAt(Callback):
    def __init__(self, epoch: int, batch: int, cancel: bool = False) -> None:
        self.epoch, self.batch, self.cancel = epoch, batch, cancel
        self.current_epoch = -1

    def on_epoch_begin(self, epoch: int, logs: Logs) -> None:
        self.current_epoch = epoch

    def on_batch_end(self, batch: int, logs: Logs) -> None:
        if (self.current_epoch, batch) == (self.epoch, self.batch):
            if self.cancel:
                self.learner.cancel()
            else:
                self.learner.stop_training = True


def test_stop_training_ends_after_the_current_batch_and_drops_the_partial_epoch():
    inputs, targets = linear_data(20)
    recorder = Recorder()
    learner = small_learner([StopAt(epoch=1, batch=1), recorder])
    learner.fit((inputs, targets), epochs=5, batch_size=5)
    hooks = recorder.hooks()
    assert hooks[-3:] == [("batch_begin", 1), ("batch_end", 1), ("train_end", None)]
    assert [number for hook, number in hooks if hook == "epoch_end"] == [0]
    assert recorder.logs("train_end") == [{"stopped_early": True, "epochs_completed": 1}]
    assert len(learner.history["loss"]) == 1
    assert learner.stop_training
    assert not learner.cancelled


def test_stop_on_the_last_batch_keeps_that_complete_epoch():
    inputs, targets = linear_data(20)
    recorder = Recorder()
    small_learner([StopAt(epoch=0, batch=3), recorder]).fit((inputs, targets), epochs=5, batch_size=5)
    assert recorder.logs("train_end") == [{"stopped_early": True, "epochs_completed": 1}]
    assert len(recorder.logs("epoch_end")) == 1


def test_cancel_marks_the_learner_cancelled():
    inputs, targets = linear_data(20)
    learner = small_learner([StopAt(epoch=0, batch=0, cancel=True)])
    learner.fit((inputs, targets), epochs=3, batch_size=5)
    assert learner.cancelled
    assert learner.stop_training
    assert learner.history == {}


def test_an_exception_reaches_on_exception_then_the_caller_and_train_end_is_skipped():
    inputs, targets = linear_data(20)
    recorder = Recorder()
    calls = {"count": 0}

    def flaky_loss(output: Tensor, target: Tensor) -> Tensor:
        calls["count"] += 1
        if calls["count"] == 6:
            raise FloatingPointError("loss became NaN")
        return ((output - target) ** 2).mean()

    learner = small_learner([recorder])
    learner.loss = flaky_loss
    with pytest.raises(FloatingPointError, match="NaN"):
        learner.fit((inputs, targets), epochs=3, batch_size=5)
    hooks = [hook for hook, _ in recorder.hooks()]
    assert hooks[-1] == "exception"
    assert "train_end" not in hooks
    assert isinstance(recorder.logs("exception")[0]["exc"], FloatingPointError)


def test_evaluate_and_predict_run_in_eval_mode_without_a_graph_and_restore_the_mode():
    inputs, targets = linear_data(30)
    learner = small_learner(metrics=["mae"])
    learner.fit((inputs, targets), epochs=2, batch_size=8)
    learner.model.train()
    predictions = learner.predict(inputs, batch_size=7)
    assert predictions.shape == (30, 1)
    assert learner.model.training
    expected = learner.model(Tensor(inputs)).numpy()
    np.testing.assert_allclose(predictions, expected, rtol=1e-5, atol=1e-6)
    scores = learner.evaluate((inputs, targets), batch_size=7)
    assert scores["mae"] == pytest.approx(mae(targets, expected), rel=1e-6)
    assert scores["loss"] == pytest.approx(float(np.mean((expected - targets) ** 2)), rel=1e-5)


def test_fit_accepts_a_dataset_and_rejects_bad_arguments():
    inputs, targets = linear_data(12)
    learner = small_learner()
    learner.fit(ArrayDataset(inputs, targets), epochs=1, batch_size=5)
    assert len(learner.history["loss"]) == 1
    with pytest.raises(ValueError, match="epochs and batch_size"):
        learner.fit((inputs, targets), epochs=0)
    with pytest.raises(ValueError, match="empty"):
        learner.fit((inputs[:0], targets[:0]), epochs=1)
    with pytest.raises(TypeError, match=r"expected a tuple \(inputs, targets\) of arrays or a Dataset, got ndarray"):
        learner.fit(inputs, epochs=1)
    with pytest.raises(ValueError, match="12 samples but targets have 11"):
        learner.fit((inputs, targets[:11]), epochs=1)


def test_unknown_metric_name_is_rejected_with_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown metric 'mse'.*mae"):
        small_learner(metrics=["mse"])


def test_shuffled_training_is_repeatable_under_numpy_seed():
    inputs, targets = linear_data(40)

    def train() -> list[float]:
        np.random.seed(3)
        learner = small_learner()
        learner.model.load_state_dict(
            {key: np.full_like(value, 0.1) for key, value in learner.model.state_dict().items()}
        )
        return learner.fit((inputs, targets), epochs=3, batch_size=8)["loss"]

    assert train() == train()


def test_fit_has_no_side_channel_into_the_callbacks_logs():
    inputs, targets = linear_data(10)
    with pytest.raises(TypeError, match="logs"):
        small_learner().fit((inputs, targets), epochs=1, logs={"app": "demo"})  # type: ignore[call-arg]
