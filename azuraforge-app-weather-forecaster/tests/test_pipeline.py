"""The weather-forecaster app end to end: tiny real training runs on the shipped samples and on Open-Meteo
answers served from 127.0.0.1."""

import json

import numpy as np
import pandas as pd
import pytest
from azuraforge_app_weather_forecaster import WeatherForecasterPipeline, WeatherSourceUnavailableError
from azuraforge_app_weather_forecaster.pipeline import seasonal_naive, with_calendar_features
from azuraforge_app_weather_forecaster.temperatures import OPEN_METEO_URL_VARIABLE, read_sample

from azuraforge_core import Tensor
from azuraforge_learner import ConfigError, WindowSpec, load_pipeline
from azuraforge_learner.datasets import LocalDataset
from azuraforge_learner.forecasters import build_forecaster
from azuraforge_learner.record import DatasetRef

TINY = {"epochs": 1, "window": 24, "horizon": 6, "hidden_size": 8, "batch_size": 256, "seed": 0}


def _run(tmp_path, **config):
    return WeatherForecasterPipeline().run({**TINY, **config}, output_dir=tmp_path)


def test_the_app_is_installed_as_a_plugin():
    assert load_pipeline("weather-forecaster") is WeatherForecasterPipeline
    defaults = WeatherForecasterPipeline.default_config()
    assert (defaults["window"], defaults["horizon"], defaults["frequency"]) == (48, 24, "hourly")


def test_a_sample_run_is_judged_against_both_baselines(tmp_path):
    result = _run(tmp_path, source="sample")
    assert result.status == "succeeded"
    assert set(result.metrics) == {"mae", "rmse", "r2", "rmse_step_1", "rmse_step_6"}, "no MAPE of °C"
    persistence, seasonal = result.baselines
    assert (persistence.name, seasonal.name) == ("persistence (last value)", "same hour yesterday")
    assert set(seasonal.metrics) == set(persistence.metrics) == set(result.metrics)
    for entry in result.verdict:
        better = min(persistence.metrics[entry.metric], seasonal.metrics[entry.metric])
        if entry.metric == "r2":
            better = max(persistence.metrics["r2"], seasonal.metrics["r2"])
        assert entry.baseline == better, f"{entry.metric} is judged against the stronger baseline"
        assert entry.beaten == (entry.model > better if entry.metric == "r2" else entry.model < better)
    report = (tmp_path / "report.md").read_text()
    assert "Greensboro, NC (Piedmont Triad airport) hourly observations" in report
    assert "| offline sample stood in | no |" in report
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["provenance"]["data"]["source"]["used"] == "sample: greensboro"
    assert metrics["provenance"]["app_distribution"] == "azuraforge-app-weather-forecaster"
    assert "predictions.csv" in result.artifacts


def test_on_smooth_seattle_data_same_hour_yesterday_wins_and_the_report_says_so(tmp_path):
    # The 2010 Seattle series repeats itself day after day: the seasonal baseline beats a one-epoch model.
    result = _run(tmp_path, source="sample", sample="seattle")
    beaten = result.beats_baselines()
    assert not beaten["rmse"]
    opening = (tmp_path / "report.md").read_text().split("## Result")[0]
    assert "The model does **not** beat every baseline." in opening
    assert "same hour yesterday on rmse (" in opening
    assert "- same hour yesterday: " in opening
    assert "**the baseline wins** on " in opening


def test_weather_variables_of_the_greensboro_sample_are_optional_inputs(tmp_path):
    features = ["temperature", "hour_sin", "hour_cos", "dew_point_c", "pressure_mbar", "total_cloud_tenths"]
    result = _run(tmp_path, source="sample", features=features)
    assert result.status == "succeeded"
    assert json.loads((tmp_path / "model.json").read_text())["spec"]["features"] == features
    with pytest.raises(ConfigError, match="dew_point_c are observed only in the greensboro sample"):
        _run(tmp_path / "seattle", source="sample", sample="seattle", features=["temperature", "dew_point_c"])


def test_greensboro_has_no_daily_data_and_the_config_says_so():
    with pytest.raises(ConfigError) as caught:
        WeatherForecasterPipeline.validate({"frequency": "daily", "sample": "greensboro"})
    assert caught.value.errors[0]["field"] == "sample"


@pytest.mark.parametrize("cell", ["lstm", "gru", "transformer"])
def test_the_residual_model_adds_its_correction_to_the_last_value(cell):
    spec = WindowSpec(features=("hour_sin", "temperature"), target="temperature", window=5, horizon=3)
    config = WeatherForecasterPipeline.validate({"cell": cell, "hidden_size": 4, "num_layers": 1})
    model = build_forecaster(config, spec, last_value_column=1)
    for parameter in model.head.parameters():
        parameter.data[...] = 0.0  # no correction: the forecast is persistence
    windows = np.random.default_rng(0).normal(size=(2, 5, 2)).astype(np.float32)
    forecast = model(Tensor(windows)).numpy()
    np.testing.assert_array_equal(forecast, np.repeat(windows[:, -1, 1:2], 3, axis=1))


@pytest.fixture
def open_meteo_at(monkeypatch):
    """Points the deployment's Open-Meteo endpoint setting at a URL."""
    return lambda url: monkeypatch.setenv(OPEN_METEO_URL_VARIABLE, url)


def test_a_config_cannot_choose_the_endpoint_the_worker_fetches(tmp_path, open_meteo):
    with pytest.raises(ConfigError, match="api_url: unknown field"):
        WeatherForecasterPipeline().validate({"api_url": open_meteo.url})


def test_a_fetched_body_never_reaches_the_report(tmp_path, open_meteo, open_meteo_at):
    open_meteo_at(open_meteo.url)
    open_meteo.status = 500
    open_meteo.body = "root:x:0:0:root:/root:/bin/bash [private](http://tracker.example/x.png)"
    with pytest.raises(WeatherSourceUnavailableError, match=r"answered HTTP 500: Internal Server Error$") as failed:
        _run(tmp_path, fallback_to_sample=False)
    report = (tmp_path / "report.md").read_text()
    assert "HTTP 500" in report
    for leaked in ("root:x", "tracker.example"):
        assert leaked not in report
        assert leaked not in str(failed.value)


def test_a_transformer_run_learns_on_the_sample(tmp_path):
    result = _run(tmp_path, source="sample", cell="transformer", hidden_size=16, batch_size=64)
    assert result.status == "succeeded"
    # The skip connection starts it at persistence; an epoch of training must improve on that.
    (persistence,) = [baseline for baseline in result.baselines if baseline.name.startswith("persistence")]
    assert result.metrics["rmse"] < persistence.metrics["rmse"]
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["cell"] == "transformer"


def test_an_unknown_cell_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cell"):
        _run(tmp_path, source="sample", cell="cnn")


def test_without_network_the_run_falls_back_and_the_report_says_so(tmp_path, closed_port_url, open_meteo_at):
    open_meteo_at(closed_port_url)
    result = _run(tmp_path)
    data = result.provenance.data
    assert data is not None
    assert data.source.fallback
    assert data.source.requested.startswith("open-meteo: latitude 47.61, longitude -122.33, 2023-01-01..2023-12-31")
    assert (data.first, data.last, data.rows) == ("2001-01-01 00:00:00", "2001-12-31 23:00:00", 8760)
    report = (tmp_path / "report.md").read_text()
    assert "| offline sample stood in | Open-Meteo could not be reached (no network), so the shipped" in report


def test_without_network_and_fallback_the_run_fails_with_a_clear_report(tmp_path, closed_port_url, open_meteo_at):
    open_meteo_at(closed_port_url)
    with pytest.raises(WeatherSourceUnavailableError, match="could not reach"):
        _run(tmp_path, fallback_to_sample=False)
    report = (tmp_path / "report.md").read_text()
    assert "failed" in report
    assert "could not reach" in report


def test_open_meteo_data_trains_and_is_named_in_the_report(tmp_path, open_meteo, open_meteo_at):
    open_meteo_at(open_meteo.url)
    temperatures = read_sample("seattle", "hourly")["temperature"]["2010-06-01":"2010-06-21"]
    times = [stamp.strftime("%Y-%m-%dT%H:%M") for stamp in temperatures.index]
    open_meteo.body = {"hourly": {"time": times, "temperature_2m": temperatures.round(1).tolist()}}
    config: dict[str, object] = {"latitude": 52.52, "longitude": 13.41}
    config |= {"start_date": "2010-06-01", "end_date": "2010-06-21", "fallback_to_sample": False}
    result = _run(tmp_path, **config)
    assert result.status == "succeeded"
    assert open_meteo.queries[0]["latitude"] == ["52.52"]
    report = (tmp_path / "report.md").read_text()
    assert "Open-Meteo archive, latitude 52.52, longitude 13.41" in report
    assert result.provenance.data is not None
    assert result.provenance.data.source.used == "open-meteo"


def test_daily_sample_uses_same_day_last_year(tmp_path):
    _run(tmp_path, source="sample", frequency="daily", window=14, horizon=3)
    report = (tmp_path / "report.md").read_text()
    assert "Seattle daily mean" in report
    assert "same day last year" in report


def test_predicting_from_a_saved_run_uses_its_scalers(tmp_path):
    _run(tmp_path, source="sample")
    saved = pd.read_csv(tmp_path / "predictions.csv")
    series = read_sample("greensboro", "hourly")["temperature"]
    first_step = pd.Timestamp(saved["index"].iloc[-1])
    # Exactly the window before the last test forecast: statistics of so few rows differ from the training
    # rows', so only the saved scalers reproduce the run's own forecast.
    window = series[:first_step].iloc[-TINY["window"] - 1 : -1]
    result = WeatherForecasterPipeline().predict(tmp_path, window)
    expected = saved.iloc[-1][[f"predicted_t{step}" for step in range(1, TINY["horizon"] + 1)]]
    np.testing.assert_allclose(result["forecast"], expected.to_numpy(dtype=float), rtol=1e-4, atol=1e-4)
    assert result["forecast_index"][0] == str(first_step)


def test_end_date_before_start_date_is_a_config_error():
    with pytest.raises(ConfigError) as caught:
        WeatherForecasterPipeline.validate({"start_date": "2023-02-01", "end_date": "2023-01-01"})
    assert caught.value.errors[0]["field"] == "end_date"


def test_residual_needs_the_temperature_among_the_features(tmp_path):
    with pytest.raises(ConfigError, match="residual"):
        _run(tmp_path, source="sample", features=["hour_sin", "hour_cos"])


def test_seasonal_naive_repeats_the_last_observed_season():
    target = np.arange(100.0)
    forecasts = seasonal_naive(target, np.array([50, 60]), horizon=5, period=3)
    # Step k of a window starting at s repeats row s + k - 3 * (k // 3 + 1), the latest observed one.
    assert forecasts.tolist() == [[47, 48, 49, 47, 48], [57, 58, 59, 57, 58]]


def test_calendar_features_put_midnight_next_to_23h():
    index = pd.date_range("2023-01-01 22:00", periods=3, freq="h")
    frame = with_calendar_features(pd.Series([1.0, 2.0, 3.0], index=index), "hourly")
    assert list(frame.columns) == ["temperature", "hour_sin", "hour_cos", "day_sin", "day_cos"]
    angles = np.arctan2(frame["hour_sin"], frame["hour_cos"])
    assert np.diff(np.unwrap(angles)) == pytest.approx([2 * np.pi / 24] * 2)


def test_an_uploaded_csv_replaces_the_source_and_the_record_names_it(tmp_path):
    csv = tmp_path / "temperatures.csv"
    sample = read_sample("greensboro", "hourly").iloc[:400]
    sample.drop(index=sample.index[100:103]).loc[:, ["temperature", "wind_speed_ms"]].to_csv(csv)  # a short gap
    ref = DatasetRef(id="e" * 32, name="greensboro winter", sha256="1" * 64)
    config = {**TINY, "dataset_id": ref.id, "features": ["temperature", "wind_speed_ms"]}
    result = WeatherForecasterPipeline().run(config, output_dir=tmp_path / "run", dataset=LocalDataset(ref, "csv", csv))
    data = result.provenance.data
    assert data is not None
    assert (data.source.dataset, data.rows) == (ref, 400)
