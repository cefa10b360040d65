"""The stock-predictor app end to end: tiny real training runs on the shipped S&P 500 sample, the yfinance
path without a network, bad input, and forecasting again from a saved run."""

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest
from azuraforge_app_stock_predictor import (
    PriceDataError,
    PriceRequest,
    PriceSourceUnavailableError,
    StockPredictorPipeline,
)
from azuraforge_app_stock_predictor.features import PRICE_COLUMN, model_frame, to_prices
from azuraforge_app_stock_predictor.prices import read_sample, select_sample

from azuraforge_learner import ConfigError, load_pipeline
from azuraforge_learner.datasets import LocalDataset
from azuraforge_learner.record import DatasetRef

WINDOW = 10
TINY: dict[str, object] = {"epochs": 2, "window": WINDOW, "hidden_size": 8, "period": "2y", "seed": 0}


def _run(tmp_path, **config):
    return StockPredictorPipeline().run({**TINY, **config}, output_dir=tmp_path)


def test_the_app_is_installed_as_a_plugin():
    assert load_pipeline("stock-predictor") is StockPredictorPipeline
    defaults = StockPredictorPipeline.default_config()
    assert (defaults["ticker"], defaults["target"], defaults["transform"]) == ("^GSPC", "Close", "returns")


def test_a_sample_run_is_scored_against_the_naive_forecast_in_prices(tmp_path):
    result = _run(tmp_path, source="sample")
    assert result.status == "succeeded"
    naive, constant = result.baselines
    assert naive.name == "naive (last price)"
    assert set(result.beats_baselines()) == {"mae", "rmse", "mape", "r2", "direction_accuracy"}
    assert {entry.metric: entry.strongest_baseline for entry in result.verdict}["direction_accuracy"] == constant.name
    # The naive baseline, recomputed from the sample: each test day's close against the close before it.
    closes = select_sample(PriceRequest("^GSPC", period="2y"))["Close"]
    predictions = pd.read_csv(tmp_path / "predictions.csv", parse_dates=["index"])
    previous = closes.shift(1).loc[predictions["index"]]
    naive_error = np.abs(closes.loc[predictions["index"]].to_numpy() - previous.to_numpy()).mean()
    assert naive.metrics["mae"] == pytest.approx(naive_error)
    rises = (closes.loc[predictions["index"]].to_numpy() > previous.to_numpy()).mean()
    assert constant.name == ("always up" if rises >= 0.5 else "always down")
    assert constant.metrics == {"direction_accuracy": pytest.approx(max(rises, 1 - rises))}
    report = (tmp_path / "report.md").read_text()
    assert "| data | S&P 500 (^GSPC) daily OHLCV 1999-01-04..2018-12-31 from Yahoo! Finance |" in report
    assert "| offline sample stood in | no |" in report
    assert "How prices and direction are scored" in report
    assert "| direction_accuracy (higher is better) |  |" in report


@pytest.mark.parametrize("cell", ["gru", "transformer"])
def test_every_model_choice_trains_on_the_sample(tmp_path, cell):
    result = _run(tmp_path, source="sample", cell=cell, transform="log")
    assert result.status == "succeeded"
    assert np.isfinite(result.metrics["mae"])
    assert json.loads((tmp_path / "config.json").read_text())["cell"] == cell
    model_keys = set(np.load(tmp_path / "model.npz").files)
    assert ("encoder.layers.0.self_attn.in_proj_weight" in model_keys) == (cell == "transformer")


def test_without_network_the_run_uses_the_sample_and_the_report_says_so(tmp_path, refused_proxy):
    result = _run(tmp_path, ticker="AAPL")
    source = result.provenance.data.source if result.provenance.data else None
    assert source is not None
    assert source.requested == "yfinance: ticker 'AAPL' over period 2y at interval 1d"
    assert source.used == "sample"
    plain = (
        "yfinance could not reach Yahoo! Finance (no network), so the shipped ^GSPC sample stood in instead of AAPL."
    )
    assert source.fallback_reason == plain
    assert f"| offline sample stood in | {plain} |" in (tmp_path / "report.md").read_text()


def test_without_network_and_fallback_the_run_fails_with_a_clear_report(tmp_path, refused_proxy):
    with pytest.raises(PriceSourceUnavailableError, match="could not download 'AAPL'"):
        _run(tmp_path, ticker="AAPL", fallback_to_sample=False)
    report = (tmp_path / "report.md").read_text()
    assert "failed" in report
    assert "could not download 'AAPL'" in report


def test_a_range_without_trading_days_fails_fast_with_a_clear_error(tmp_path):
    with pytest.raises(PriceDataError, match="widen the start/end range"):
        _run(tmp_path, source="sample", start="2018-01-06", end="2018-01-08")


def test_an_empty_date_range_is_a_config_error():
    with pytest.raises(ConfigError) as caught:
        StockPredictorPipeline.validate({"start": "2018-02-01", "end": "2018-02-01"})
    assert caught.value.errors[0]["field"] == "end"
    assert "range would be empty" in str(caught.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("features", ["Close", "Dividends"]),
        ("ticker", "AAPL; rm -rf"),
        ("period", "3 years"),
        ("interval", "2d"),
        ("cell", "cnn"),
    ],
)
def test_bad_fields_are_named(field, value):
    with pytest.raises(ConfigError) as caught:
        StockPredictorPipeline.validate({field: value})
    assert caught.value.errors[0]["field"] == field


@pytest.mark.parametrize("transform", ["returns", "log", "none"])
def test_transforms_turn_back_into_the_same_prices(transform):
    prices = read_sample().iloc[:60]
    frame = model_frame(prices, transform, "Close")
    assert not frame.isna().any().any()
    target = frame["Close"].to_numpy()
    # Forecasting the true transformed values for the next three days must give the true prices back.
    starts = np.arange(10, 50)
    future = target[starts[:, None] + np.arange(3)]
    last = frame[PRICE_COLUMN].to_numpy()[starts - 1]
    expected = frame[PRICE_COLUMN].to_numpy()[starts[:, None] + np.arange(3)]
    np.testing.assert_allclose(to_prices(transform, future, last), expected, rtol=1e-9)


@pytest.mark.parametrize("transform", ["returns", "log"])
def test_forecasting_from_a_saved_run_uses_its_scalers_and_transform(tmp_path, transform):
    _run(tmp_path, source="sample", transform=transform, horizon=3)
    saved = pd.read_csv(tmp_path / "predictions.csv", parse_dates=["index"])
    first_step = saved["index"].iloc[-1]
    # The OHLCV rows the run's last test window saw, and no more (plus the row a return needs before them).
    history = read_sample().loc[: first_step - pd.Timedelta(days=1)].iloc[-WINDOW - 1 :]
    result = StockPredictorPipeline().predict(tmp_path, history)
    expected = saved.iloc[-1][["predicted_t1", "predicted_t2", "predicted_t3"]].to_numpy(dtype=float)
    np.testing.assert_allclose(result["forecast"], expected, rtol=1e-5)
    assert result["last_value"] == pytest.approx(history["Close"].iloc[-1])


def test_predicting_without_data_loads_the_configured_source(tmp_path):
    _run(tmp_path, source="sample")
    result = StockPredictorPipeline().predict(tmp_path)
    assert result["last_index"].startswith("2018-12-31")
    assert result["last_value"] == pytest.approx(2506.850098)
    assert len(result["forecast"]) == 1
    assert 1500 < result["forecast"][0] < 3500


@pytest.mark.parametrize("rows", [[{"Close": 1.0}], [{}]])
def test_predicting_from_rows_without_the_price_columns_names_them(tmp_path, rows):
    _run(tmp_path, source="sample")
    with pytest.raises(ValueError, match=r"the data lacks column\(s\) Open, High, Low(, Close)?, Volume"):
        StockPredictorPipeline().predict(tmp_path, pd.DataFrame.from_records(rows))


def test_metrics_json_records_the_direction_details(tmp_path):
    _run(tmp_path, source="sample", start=date(2015, 1, 1).isoformat(), end=date(2017, 1, 1).isoformat())
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert 0.0 < metrics["details"]["rises_in_test"] < 1.0
    assert 0.0 <= metrics["details"]["predicted_rises_in_test"] <= 1.0
    assert metrics["baselines"][0]["name"] == "naive (last price)"
    assert metrics["provenance"]["data"]["source"]["used"] == "sample"
    # The data of record is the model's frame: returns start one trading day after the first price (2015-01-02).
    assert metrics["provenance"]["data"]["first"] == "2015-01-05 00:00:00"
    assert metrics["provenance"]["app_distribution"] == "azuraforge-app-stock-predictor"


def test_an_uploaded_csv_replaces_the_source_and_the_record_names_it(tmp_path):
    csv = tmp_path / "prices.csv"
    read_sample().iloc[-120:].rename_axis("Date").to_csv(csv)  # ISO dates, as a spreadsheet would export them
    ref = DatasetRef(id="d" * 32, name="spx tail", sha256="0" * 64)
    result = StockPredictorPipeline().run(
        {**TINY, "epochs": 1, "dataset_id": ref.id}, output_dir=tmp_path / "run", dataset=LocalDataset(ref, "csv", csv)
    )
    data = result.provenance.data
    assert data is not None
    assert (data.source.dataset, data.source.used) == (ref, "uploaded: spx tail")
    assert data.last is not None
    assert data.last.startswith("2018-12-31")

    csv.write_text("Date,Open,High,Low,Close,Volume\nyesterday,1,1,1,1,1\ntoday,1,1,1,1,1\n")
    with pytest.raises(PriceDataError, match="Date column of dataset 'spx tail' cannot be read as dates"):
        StockPredictorPipeline().run(
            {**TINY, "dataset_id": ref.id}, output_dir=tmp_path / "bad", dataset=LocalDataset(ref, "csv", csv)
        )
    with pytest.raises(ConfigError, match="start the run there"):
        _run(tmp_path / "cli", dataset_id=ref.id)  # the CLI has no store to fetch it from
