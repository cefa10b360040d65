import json

import numpy as np
import pandas as pd
import pytest
from helpers import Recorder, RecordingReporter
from sample_apps import FailingEvaluation, SineConfig, SineForecaster, sine_frame

from azuraforge_learner import Callback, ConfigError, Logs, RunResult
from azuraforge_learner.artifacts import read_json
from azuraforge_learner.metrics import regression_metrics

FAST = {"epochs": 2, "rows": 160}


class IndexSeries(SineForecaster):
    """The value of every row is its row number, so windows and splits can be checked by value."""

    def _load_data(self, config: SineConfig) -> pd.DataFrame:
        return pd.DataFrame({"value": np.arange(config.rows, dtype=float)})


def test_a_run_writes_every_artifact_and_a_report_that_compares_with_the_baseline(tmp_path):
    result = SineForecaster().run({**FAST, "epochs": 4}, output_dir=tmp_path)

    assert result.status == "succeeded"
    assert not result.stopped_early
    assert result.epochs_completed == 4
    expected_files = {"config.json", "history.csv", "metrics.json", "model.json", "model.npz", "predictions.csv"}
    expected_files |= {"report.md", "scaler.json", "images/loss.png", "images/predictions.png", "images/residuals.png"}
    assert set(result.artifacts) == expected_files
    assert sorted(path.relative_to(tmp_path).as_posix() for path in tmp_path.rglob("*") if path.is_file()) == sorted(
        expected_files
    )
    for image in ("loss", "predictions", "residuals"):
        assert (tmp_path / "images" / f"{image}.png").read_bytes().startswith(b"\x89PNG")

    (persistence,) = result.baselines
    assert persistence.name == "persistence (last value)"
    assert set(result.metrics) == {"mae", "rmse", "mape", "r2"} == set(persistence.metrics)
    assert [entry.metric for entry in result.verdict] == ["mae", "rmse", "mape", "r2"]
    assert result.beats_baselines() == {
        "mae": result.metrics["mae"] < persistence.metrics["mae"],
        "rmse": result.metrics["rmse"] < persistence.metrics["rmse"],
        "mape": result.metrics["mape"] < persistence.metrics["mape"],
        "r2": result.metrics["r2"] > persistence.metrics["r2"],
    }
    assert set(result.history) == {"loss", "mae", "val_loss", "val_mae"}
    assert all(len(values) == 4 for values in result.history.values())
    assert result.stop_reason.kind == "completed"

    metrics = read_json(tmp_path / "metrics.json")
    assert RunResult.model_validate(metrics) == result, "metrics.json is the RunResult"
    assert metrics["status"] == "succeeded"
    assert metrics["plan"]["app"] == "sine"
    assert metrics["plan"]["total_epochs"] == 4
    assert metrics["timings"]["train_seconds"] > 0
    assert metrics["provenance"]["data"]["rows"] == 160
    assert metrics["provenance"]["seed"] == 42

    report = (tmp_path / "report.md").read_text()
    status = "**Status:** succeeded — trained all 4 epochs."
    assert report.startswith(f"# sine — run report\n\n{status}\n\n_Forecasts a noisy sine wave (test app)._")
    assert "## Verdict" in report.split("## Result")[0]
    assert "4 epochs in " in report
    row = f"| rmse (lower is better) |  | {result.metrics['rmse']:.4g} | {persistence.metrics['rmse']:.4g} |"
    assert row in report
    for link in ("images/loss.png", "images/predictions.png", "images/residuals.png"):
        assert f"]({link})" in report
    assert "| window / horizon | 8 / 1 |" in report
    assert "| learning_rate | 0.01 |" in report

    assert read_json(tmp_path / "config.json") == SineForecaster.validate(FAST | {"epochs": 4}).model_dump(mode="json")
    history = pd.read_csv(tmp_path / "history.csv")
    np.testing.assert_allclose(history["val_loss"], np.asarray(result.history["val_loss"], dtype=float))


def test_windows_and_splits_are_chronological_without_leaking_labels():
    pipeline = IndexSeries()
    config = pipeline.validate({"rows": 100, "window": 5, "horizon": 3, "train_fraction": 0.6, "val_fraction": 0.2})
    data = pipeline._prepare(config, pipeline._load_data(config))
    scaler = data.target_scaler
    train_x, train_y = (scaler.inverse(array) for array in data.splits.train)
    assert data.splits.val is not None
    val_x, val_y = (scaler.inverse(array) for array in data.splits.val)
    test_x, test_y = (scaler.inverse(array) for array in data.splits.test)

    for inputs, targets in ((train_x, train_y), (val_x, val_y), (test_x, test_y)):
        np.testing.assert_allclose(inputs[:, :, 0], inputs[:, :1, 0] + np.arange(5), atol=1e-4)  # 5 rows in a row
        np.testing.assert_allclose(targets, inputs[:, -1:, 0] + np.arange(1, 4), atol=1e-4)  # the 3 rows after
    assert train_y.max() == pytest.approx(59)
    assert train_y.min() == pytest.approx(5)
    assert val_y.min() == pytest.approx(60)
    assert val_y.max() == pytest.approx(79)
    assert test_y.min() == pytest.approx(80)
    assert test_y.max() == pytest.approx(99)
    assert len(test_y) == 18
    assert len(val_y) == 18
    assert len(train_y) == 53

    # Scalers know only the training rows 0..59.
    assert data.target_scaler.center[0] == pytest.approx(29.5)
    assert data.feature_scaler.scale[0] == pytest.approx(np.arange(60).std())


def test_the_baseline_is_the_last_value_of_each_test_window(tmp_path):
    result = IndexSeries().run({**FAST, "rows": 100, "window": 4, "horizon": 2}, output_dir=tmp_path)
    # On a straight line the last value is off by exactly 1 and 2 steps.
    assert result.baselines[0].metrics["mae"] == pytest.approx(1.5)
    predictions = pd.read_csv(tmp_path / "predictions.csv")
    np.testing.assert_allclose(predictions["actual_t1"] - predictions["baseline_t1"], 1.0)
    np.testing.assert_allclose(predictions["actual_t2"] - predictions["baseline_t2"], 2.0)
    recomputed = regression_metrics(
        predictions[["actual_t1", "actual_t2"]].to_numpy(), predictions[["predicted_t1", "predicted_t2"]].to_numpy()
    )
    assert recomputed == pytest.approx(result.metrics)
    assert "## Error by forecast step" in (tmp_path / "report.md").read_text()


def test_predict_rebuilds_the_model_from_the_saved_artifacts_alone(tmp_path):
    config = {**FAST, "horizon": 3, "scaler": "minmax"}
    SineForecaster().run(config, output_dir=tmp_path)

    fresh = SineForecaster()
    latest = fresh.predict(tmp_path)
    frame = sine_frame(160)
    assert latest["target"] == "value"
    assert latest["horizon"] == 3
    assert latest["app"] == "sine"
    assert latest["last_index"] == str(frame.index[-1])
    assert latest["last_value"] == pytest.approx(frame["value"].iloc[-1])
    assert latest["forecast_index"] == [str(frame.index[-1] + pd.Timedelta(hours=step)) for step in (1, 2, 3)]
    assert len(latest["forecast"]) == 3
    assert all(9.0 < value < 12.0 for value in latest["forecast"])
    json.dumps(latest)

    earlier = fresh.predict(tmp_path, data=frame.iloc[:100])
    assert earlier["last_index"] == str(frame.index[99])
    assert earlier["forecast"] != latest["forecast"]
    assert fresh.predict(tmp_path, data=frame.iloc[:100]) == earlier
    with pytest.raises(ValueError, match="at least window=8 rows"):
        fresh.predict(tmp_path, data=frame.iloc[:5])


@pytest.mark.parametrize("model", ["mlp", "lstm"])
def test_predict_matches_the_forecasts_made_during_the_run(tmp_path, model):
    SineForecaster().run({**FAST, "val_fraction": 0.0, "model": model}, output_dir=tmp_path)
    predictions = pd.read_csv(tmp_path / "predictions.csv")
    frame = sine_frame(160)
    last_test_row = frame.index.get_loc(pd.Timestamp(predictions["index"].iloc[-1]))
    again = SineForecaster().predict(tmp_path, data=frame.iloc[:last_test_row])
    assert again["forecast"][0] == pytest.approx(predictions["predicted_t1"].iloc[-1], rel=1e-5)


@pytest.mark.parametrize("rows", [[{"Close": 1.0}] * 40, [{}] * 40])
def test_predict_names_the_columns_its_rows_lack(tmp_path, rows):
    SineForecaster().run(FAST, output_dir=tmp_path)
    with pytest.raises(ValueError, match=r"the data lacks column\(s\) value"):
        SineForecaster().predict(tmp_path, data=pd.DataFrame.from_records(rows))


def test_the_same_seed_gives_identical_results_and_another_seed_does_not(tmp_path):
    first = SineForecaster().run({**FAST, "seed": 7}, output_dir=tmp_path / "a")
    second = SineForecaster().run({**FAST, "seed": 7}, output_dir=tmp_path / "b")
    other = SineForecaster().run({**FAST, "seed": 8}, output_dir=tmp_path / "c")
    assert first.metrics == second.metrics
    assert first.history == second.history
    assert other.metrics != first.metrics
    assert (tmp_path / "a" / "model.npz").read_bytes() == (tmp_path / "b" / "model.npz").read_bytes()


def test_live_predictions_go_to_the_reporters_after_each_epoch_not_into_the_logs(tmp_path):
    reporter, recorder = RecordingReporter(), Recorder()
    config = {**FAST, "rows": 1600, "epochs": 2, "live_predictions": True}
    SineForecaster().run(config, [recorder], tmp_path, reporters=[reporter])
    assert [call[0] for call in reporter.calls] == [
        "train_begin", "epoch", "predictions", "epoch", "predictions", "finished"
    ]  # fmt: skip
    (_, epoch, actual, predicted) = reporter.calls[2]
    assert epoch == 1
    assert len(actual) == len(predicted) == 200
    assert all(isinstance(value, float) for value in actual + predicted)
    assert 8.0 < np.mean(actual) < 14.0  # in the target's own units, not scaled
    assert reporter.calls[0][1].config["live_predictions"] is True
    # No side channel: the learner's hooks carry only what the learner itself measured.
    assert set(recorder.logs("train_begin")[0]) == {"epochs", "batches_per_epoch", "batch_size", "samples"}
    assert all("val_predictions" not in logs for logs in recorder.logs("epoch_end"))

    quiet = RecordingReporter()
    SineForecaster().run({**FAST, "epochs": 1}, output_dir=tmp_path / "quiet", reporters=[quiet])
    assert [call[0] for call in quiet.calls] == ["train_begin", "epoch", "finished"]


def test_reporters_hear_the_plan_every_epoch_and_the_result(tmp_path):
    reporter = RecordingReporter()
    result = SineForecaster().run({**FAST, "epochs": 3}, output_dir=tmp_path, reporters=[reporter])
    (begin, *epochs, end) = reporter.calls
    assert begin == ("train_begin", SineForecaster().plan(SineForecaster.validate({**FAST, "epochs": 3})))
    assert [call[:3] for call in epochs] == [("epoch", 1, 3), ("epoch", 2, 3), ("epoch", 3, 3)]
    assert [call[3]["loss"] for call in epochs] == result.history["loss"]
    assert {"loss", "val_loss"} <= set(epochs[0][3])
    assert end == ("finished", result)


def test_every_metric_an_epoch_reports_is_declared_with_its_direction(tmp_path):
    result = SineForecaster().run({**FAST, "epochs": 2}, output_dir=tmp_path)
    declared = {spec.name: spec.direction for spec in result.plan.epoch_metrics}
    assert set(result.history) == set(declared)
    assert declared == {"loss": "lower", "val_loss": "lower", "mae": "lower", "val_mae": "lower"}
    stored = RunResult.model_validate(read_json(tmp_path / "metrics.json"))
    assert stored.plan.epoch_metrics == result.plan.epoch_metrics


def test_reporters_hear_a_failed_run_finish_with_the_failure_record(tmp_path):
    reporter = RecordingReporter()
    with pytest.raises(RuntimeError, match="evaluation exploded"):
        FailingEvaluation().run(FAST, output_dir=tmp_path, reporters=[reporter])
    assert [call[0] for call in reporter.calls] == ["train_begin", "epoch", "epoch", "finished"]
    result = reporter.calls[-1][1]
    assert result.status == "failed"
    assert result == RunResult.model_validate_json((tmp_path / "metrics.json").read_text())


def test_a_crash_while_evaluating_leaves_a_report_that_says_failed(tmp_path):
    SineForecaster().run(FAST, output_dir=tmp_path)  # an earlier success in the same directory
    assert "succeeded" in (tmp_path / "report.md").read_text()

    with pytest.raises(RuntimeError, match="evaluation exploded"):
        FailingEvaluation().run(FAST, output_dir=tmp_path)
    report = (tmp_path / "report.md").read_text()
    assert "**Status:** failed — RuntimeError: evaluation exploded." in report
    assert "succeeded" not in report
    failed = RunResult.model_validate(read_json(tmp_path / "metrics.json"))
    assert (failed.status, failed.stop_reason.kind) == ("failed", "failed")
    assert failed.stop_reason.message == "RuntimeError: evaluation exploded"
    assert failed.metrics == {}
    assert failed.verdict == []
    assert failed.epochs_completed == 2, "the epochs trained before the crash are recorded"
    assert failed.provenance.data is not None
    assert failed.provenance.data.rows == 160
    assert not list(tmp_path.rglob("*.tmp"))


class CancelAfter(Callback):
    def __init__(self, epochs: int, how: str = "cancel") -> None:
        self.epochs = epochs
        self.how = how

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        if epoch + 1 == self.epochs:
            getattr(self.learner, self.how)()


def test_a_cancelled_run_keeps_its_results_and_says_so(tmp_path):
    result = SineForecaster().run({**FAST, "epochs": 10}, [CancelAfter(2)], tmp_path)
    assert result.status == "cancelled"
    assert result.stop_reason.kind == "cancelled"
    assert result.stopped_early
    assert result.epochs_completed == 2
    assert len(result.history["loss"]) == 2
    report = (tmp_path / "report.md").read_text()
    assert "**Status:** cancelled — the user cancelled after 2 of 10 epochs" in report
    assert read_json(tmp_path / "metrics.json")["stop_reason"]["kind"] == "cancelled"


def test_a_shutdown_is_recorded_as_interrupted_not_as_a_user_cancel(tmp_path):
    result = SineForecaster().run({**FAST, "epochs": 10}, [CancelAfter(3, "interrupt")], tmp_path)
    assert result.status == "cancelled"
    assert result.stop_reason.kind == "interrupted"
    assert result.epochs_completed == 3
    assert "interrupted by a shutdown after 3 of 10 epochs" in (tmp_path / "report.md").read_text()


def test_a_pruned_trial_is_evaluated_and_says_it_was_pruned(tmp_path):
    result = SineForecaster().run({**FAST, "epochs": 10}, [CancelAfter(2, "prune")], tmp_path)
    assert result.status == "succeeded"
    assert result.stop_reason.kind == "pruned"
    assert result.epochs_completed == 2
    assert set(result.metrics) == {spec.name for spec in result.plan.metrics}
    assert (tmp_path / "model.npz").exists()
    assert "pruned by its sweep after 2 of 10 epochs" in (tmp_path / "report.md").read_text()


def test_early_stopping_from_the_config(tmp_path):
    result = SineForecaster().run(
        {**FAST, "epochs": 60, "learning_rate": 0.05, "early_stopping_patience": 1}, (), tmp_path
    )
    assert result.status == "succeeded"
    assert result.stop_reason.kind == "early_stopped"
    assert result.epochs_completed < 60
    assert "stopped early after" in (tmp_path / "report.md").read_text()


def test_a_bad_config_is_rejected_before_anything_is_written(tmp_path):
    with pytest.raises(ConfigError) as caught:
        SineForecaster().run({"epochs": 0, "window": "wide"}, output_dir=tmp_path / "run")
    assert {error["field"] for error in caught.value.errors} == {"epochs", "window"}
    assert not (tmp_path / "run").exists()


def test_a_window_too_long_for_the_data_names_the_field_to_change(tmp_path):
    with pytest.raises(ConfigError) as caught:
        SineForecaster().run({**FAST, "rows": 40, "window": 30}, output_dir=tmp_path)
    assert caught.value.errors[0]["field"] == "window"
    assert "lower window or horizon" in caught.value.errors[0]["message"]
    assert "failed" in (tmp_path / "report.md").read_text()


def test_data_problems_are_explained(tmp_path):
    class Gappy(SineForecaster):
        def _load_data(self, config: SineConfig) -> pd.DataFrame:
            frame = sine_frame(config.rows)
            frame.iloc[5, 0] = np.nan
            return frame

    with pytest.raises(ValueError, match=r"missing or infinite values \({'value': 1}\); drop or fill them"):
        Gappy().run(FAST, output_dir=tmp_path / "gappy")
    with pytest.raises(ValueError, match=r"lacks column\(s\) price; it has 'value', 'hour_cos'"):
        SineForecaster().run({**FAST, "target": "price"}, output_dir=tmp_path / "target")


def test_the_model_must_return_one_forecast_per_horizon_step(tmp_path):
    from azuraforge_core import nn

    class WrongWidth(SineForecaster):
        def _create_model(self, config, spec):
            return nn.Sequential(nn.Flatten(), nn.Linear(spec.window * spec.n_features, 5))

    with pytest.raises(ValueError, match=r"must return \(batch, horizon=2\)"):
        WrongWidth().run({**FAST, "horizon": 2}, output_dir=tmp_path)


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_a_diverged_model_fails_the_run_instead_of_reporting_nan(tmp_path):
    class Diverges(SineForecaster):
        def _create_model(self, config, spec):
            model = super()._create_model(config, spec)
            model.load_state_dict({key: np.full_like(value, 1e30) for key, value in model.state_dict().items()})
            return model

    with pytest.raises(FloatingPointError, match="training diverged; lower learning_rate"):
        Diverges().run(FAST, output_dir=tmp_path)
    assert "**Status:** failed — FloatingPointError" in (tmp_path / "report.md").read_text()


def test_config_values_cannot_inject_markdown_into_the_report(tmp_path):
    class Described(SineForecaster):
        def _prepare(self, config, raw):
            prepared = super()._prepare(config, raw)
            prepared.summary["source"] = "![x](http://tracker.example/t.png) <img src=x> a|b\n# heading"
            return prepared

    Described().run(FAST, output_dir=tmp_path)
    report = (tmp_path / "report.md").read_text()
    assert r"| source | !\[x\](http://tracker.example/t.png) \<img src=x\> a\|b # heading |" in report
    assert "![x](http" not in report


def test_an_error_cannot_end_its_code_block_in_the_report(tmp_path):
    class Exploding(SineForecaster):
        def _evaluate(self, config, learner, data):
            raise RuntimeError("bad ```\n![x](http://tracker.example/t.png)")

    with pytest.raises(RuntimeError):
        Exploding().run(FAST, output_dir=tmp_path)
    report = (tmp_path / "report.md").read_text()
    assert "````\nRuntimeError: bad ```\n![x](http://tracker.example/t.png)\n````" in report
