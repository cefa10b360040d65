"""The stock-predictor app: a ticker's price `horizon` steps ahead from the past `window` steps of OHLCV, with an
LSTM, a GRU or a Transformer encoder, judged in price units against the naive forecast (tomorrow's price is today's).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from datetime import date
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import pandas as pd
from pydantic import Field, ValidationInfo, field_validator

from azuraforge_app_stock_predictor.features import PRICE_COLUMN, Transform, model_frame, to_prices
from azuraforge_app_stock_predictor.prices import (
    PERIOD_PATTERN,
    PRICE_COLUMNS,
    PriceRequest,
    Source,
    load_prices,
    uploaded_prices,
)
from azuraforge_core import nn
from azuraforge_learner import (
    BaselineResult,
    Evaluation,
    Learner,
    MetricSpec,
    TimeSeriesPipeline,
    WindowSpec,
)
from azuraforge_learner.datasets import DatasetId, DatasetSpec
from azuraforge_learner.forecasters import ForecasterConfig, build_forecaster
from azuraforge_learner.metrics import declared, regression_metrics
from azuraforge_learner.report import ReportSection
from azuraforge_learner.timeseries import DATA_SOURCE, PreparedSeries, SavedForecaster, forecast, require_columns

log = logging.getLogger(__name__)

NAIVE: Final = "naive (last price)"
Interval = Literal["1d", "5d", "1wk", "1mo", "3mo", "1h", "90m", "60m", "30m", "15m", "5m", "2m", "1m"]


class StockPredictorConfig(ForecasterConfig):
    epochs: int = Field(default=15, ge=1, le=10_000, description="Passes over the training windows.")
    learning_rate: float = Field(default=1e-3, gt=0.0, le=10.0, description="Step size of the Adam optimizer.")
    ticker: str = Field(
        default="^GSPC",
        min_length=1,
        max_length=20,
        pattern=r"^[A-Za-z0-9.^=\-]+$",
        description="Yahoo! Finance symbol, e.g. AAPL, MSFT, ^GSPC (S&P 500), EURUSD=X.",
    )
    source: Source = Field(
        default="yfinance",
        description="yfinance: download with yfinance; sample: the S&P 500 daily data 1999-2018 shipped with the app.",
    )
    period: str | None = Field(
        default="5y",
        pattern=PERIOD_PATTERN,
        description="How far back from end (default today; 2018-12-31 for the sample): 1mo, 6mo, 1y, 5y, 10y, "
        "ytd, max; used only when start is not set.",
    )
    start: date | None = Field(default=None, description="First day of data (inclusive); overrides period.")
    end: date | None = Field(default=None, description="Last day of data (exclusive, as yfinance); null: today.")
    interval: Interval = Field(default="1d", description="Bar size; the sample has 1d, 1wk and 1mo.")
    fallback_to_sample: bool = Field(
        default=True, description="When yfinance can't be reached, train on the shipped sample instead of failing."
    )
    timeout_s: float = Field(default=20.0, gt=0.0, le=300.0, description="Seconds to wait for the whole download.")
    use_cache: bool = Field(default=True, description="Reuse a download of the same request made within 12 hours.")
    target: Literal["Open", "High", "Low", "Close"] = Field(default="Close", description="The price to forecast.")
    features: list[str] | None = Field(
        default=list(PRICE_COLUMNS),
        description="Model inputs, from Open, High, Low, Close, Volume (transformed as the target); null: all five.",
    )
    transform: Transform = Field(
        default="returns",
        description="returns: day-over-day log returns; log: log prices; none: raw prices. Forecasts are turned "
        "back into prices the same way before they are scored.",
    )
    window: int = Field(default=30, ge=1, le=10_000, description="Past bars the model sees (lookback).")
    dataset_id: DatasetId = None

    @field_validator("features")
    @classmethod
    def _price_columns_only(cls, value: list[str] | None) -> list[str]:
        if value is None:
            return list(PRICE_COLUMNS)
        unknown = [name for name in value if name not in PRICE_COLUMNS]
        if unknown or not value:
            raise ValueError(f"choose one or more of {', '.join(PRICE_COLUMNS)}; got {value}")
        return value

    @field_validator("end")
    @classmethod
    def _after_start(cls, value: date | None, info: ValidationInfo) -> date | None:
        start = info.data.get("start")
        if value is not None and start is not None and value <= start:
            raise ValueError(f"end must be after start ({start}); end is exclusive, so the range would be empty")
        return value


@dataclass
class PreparedPrices(PreparedSeries):
    price: np.ndarray  # the target in price units, one value per row of the model frame


class StockPredictorPipeline(TimeSeriesPipeline[StockPredictorConfig]):
    name = "stock-predictor"
    description = (
        "Forecasts a ticker's closing price with an LSTM, GRU or Transformer on OHLCV from yfinance (offline: the "
        "S&P 500 1999-2018), scored against the naive last-price forecast on price error and direction."
    )
    Config = StockPredictorConfig
    datasets = (
        DatasetSpec(
            kind="csv",
            columns=["Date", *PRICE_COLUMNS],
            description="One bar per line, oldest or newest first, used whole (period, start, end and interval "
            "apply to yfinance and the sample).",
        ),
    )

    def _load_data(self, config: StockPredictorConfig) -> pd.DataFrame:
        if self.dataset is not None:
            loaded = uploaded_prices(self.dataset)
        else:
            loaded = load_prices(
                PriceRequest(config.ticker, config.interval, config.period, config.start, config.end),
                config.source,
                fallback_to_sample=config.fallback_to_sample,
                timeout_s=config.timeout_s,
                use_cache=config.use_cache,
            )
        log.info("data: %s", loaded.source.fallback_reason or loaded.source.description)
        frame = model_frame(loaded.frame, config.transform, config.target)
        frame.attrs[DATA_SOURCE] = loaded.source
        return frame

    def _create_model(self, config: StockPredictorConfig, spec: WindowSpec) -> nn.Module:
        levels = config.transform != "returns" and spec.target in spec.features
        skip = spec.features.index(spec.target) if levels else None
        return build_forecaster(config, spec, last_value_column=skip)

    def _prepare(self, config: StockPredictorConfig, raw: Any) -> PreparedPrices:
        prepared = super()._prepare(config, raw)
        prepared.summary["transform"] = config.transform
        fields_of_series = {field.name: getattr(prepared, field.name) for field in fields(prepared)}
        return PreparedPrices(**fields_of_series, price=raw[PRICE_COLUMN].to_numpy(dtype=np.float64))

    def _evaluate(self, config: StockPredictorConfig, learner: Learner, data: PreparedSeries) -> Evaluation:
        if not isinstance(data, PreparedPrices):
            raise TypeError("the stock predictor evaluates data prepared by its own _prepare")
        starts, horizon = data.test_starts, config.horizon
        last = data.price[starts - 1]
        predicted = to_prices(config.transform, forecast(learner, data, data.splits.test[0]), last)
        actual = data.price[starts[:, None] + np.arange(horizon)]
        naive = np.repeat(last[:, None], horizon, axis=1)
        rises = actual[:, -1] > last
        predicted_rises = predicted[:, -1] > last
        metrics = regression_metrics(actual, predicted) | {
            "direction_accuracy": float(np.mean(predicted_rises == rises))
        }
        # The naive forecast predicts no change, so it has no direction; the direction baseline is the best guess
        # that needs no model either: "always up" or "always down", whichever was right more often.
        up = bool(rises.mean() >= 0.5)
        constant = BaselineResult(
            name=f"always {'up' if up else 'down'}",
            description="The same direction for every test window: the one that was right more often there.",
            metrics={"direction_accuracy": float(max(rises.mean(), 1.0 - rises.mean()))},
        )
        naive_prices = BaselineResult(
            name=NAIVE,
            description="The price ahead equals the last known price.",
            metrics=regression_metrics(actual, naive),
        )
        return Evaluation(
            metrics=metrics,
            baselines=[naive_prices, constant],
            details={
                "rises_in_test": float(rises.mean()),
                "predicted_rises_in_test": float(predicted_rises.mean()),
            },
            outputs={"actual": actual, "predicted": predicted, "baseline": naive, "index": data.index[starts]},
        )

    def _metric_specs(self, config: StockPredictorConfig) -> list[MetricSpec]:
        ahead = "the next bar" if config.horizon == 1 else f"the bar {config.horizon} steps ahead"
        direction = MetricSpec(
            name="direction_accuracy",
            direction="higher",
            description=f"Share of test windows where the model saw right whether {ahead} closes above the last price.",
            headline=True,
        )
        prices = declared("mae", "rmse", "mape", "r2", unit="price", headline=("rmse",))
        return [*prices, direction]

    def _report(self, config: StockPredictorConfig, evaluation: Evaluation, output_dir: Path) -> list[ReportSection]:
        ahead = "one bar" if config.horizon == 1 else f"{config.horizon} bars"
        details = evaluation.details
        body = (
            f"Prices of {config.target} on the test window, in the ticker's currency, after undoing the "
            f"'{config.transform}' transform. The naive forecast repeats the last known price. Direction: is the "
            f"price {ahead} ahead above the last known price? It was in {details['rises_in_test']:.1%} of the test "
            f"windows and the model said so in {details['predicted_rises_in_test']:.1%}. The naive forecast "
            "predicts no change, so direction is judged against the better constant guess (always up or always "
            "down, chosen with hindsight on the test windows)."
        )
        return [
            ReportSection("How prices and direction are scored", body),
            *super()._report(config, evaluation, output_dir),
        ]

    def forecast_from(
        self, saved: SavedForecaster[StockPredictorConfig], data: pd.DataFrame | pd.Series | None = None
    ) -> dict[str, Any]:
        """Prices for the `horizon` bars after `data` (OHLCV; default: the configured source loaded afresh), with
        a saved model and scalers and the run's transform undone."""
        config = saved.config
        if isinstance(data, pd.Series):
            data = data.to_frame()
        if data is not None:
            require_columns(data, PRICE_COLUMNS)
        frame = self._load_data(config) if data is None else model_frame(data, config.transform, config.target)
        result = super().forecast_from(saved, frame)
        last = float(frame[PRICE_COLUMN].iloc[-1])
        forecasts = np.asarray([result["forecast"]], dtype=np.float64)
        result["forecast"] = [float(value) for value in to_prices(config.transform, forecasts, np.array([last]))[0]]
        result["last_value"] = last
        return result
