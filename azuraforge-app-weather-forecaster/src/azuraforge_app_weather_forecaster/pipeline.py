"""The weather-forecaster app: the next `horizon` temperatures from the past `window` ones, with an LSTM, a GRU or a
Transformer encoder.

Besides the learner's persistence baseline (every future step equals the last temperature seen) the report
measures the seasonal one: each hour as the same hour the day before (for daily data: the same day the year
before).
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import pandas as pd
from pydantic import Field, ValidationInfo, field_validator

from azuraforge_app_weather_forecaster.temperatures import (
    Frequency,
    Source,
    TemperatureRequest,
    load_temperatures,
)
from azuraforge_core import nn
from azuraforge_learner import (
    ConfigError,
    Evaluation,
    Learner,
    TimeSeriesConfig,
    TimeSeriesPipeline,
    WindowSpec,
)
from azuraforge_learner.artifacts import read_json
from azuraforge_learner.forecasters import ForecasterKind, build_forecaster
from azuraforge_learner.metrics import regression_metrics, rmse
from azuraforge_learner.pipeline import CONFIG_FILE
from azuraforge_learner.report import ReportSection, table
from azuraforge_learner.timeseries import PreparedSeries, require_columns

log = logging.getLogger(__name__)

TARGET: Final = "temperature"
# Steps in one season of the seasonal-naive baseline, and what to call it.
SEASONS: dict[Frequency, tuple[int, str]] = {
    "hourly": (24, "same hour yesterday"),
    "daily": (365, "same day last year"),
}
SOURCE_NOTE = "source_note"  # key of the frame's attrs that carries the source sentence to the report


class WeatherForecasterConfig(TimeSeriesConfig):
    epochs: int = Field(default=15, ge=1, le=10_000, description="Passes over the training windows.")
    batch_size: int = Field(default=64, ge=1, le=65_536, description="Windows per gradient step.")
    learning_rate: float = Field(default=3e-3, gt=0.0, le=10.0, description="Step size of the Adam optimizer.")
    target: Literal["temperature"] = Field(default=TARGET, description="The forecast column: air temperature (°C).")
    features: list[str] | None = Field(
        default=None,
        description="Input columns: temperature and the calendar features (hour_sin, hour_cos for hourly data; "
        "day_sin, day_cos); null: all of them.",
    )
    window: int = Field(default=48, ge=1, le=10_000, description="Past steps the model sees (48 hours).")
    horizon: int = Field(default=24, ge=1, le=1_000, description="Future steps forecast at once (the next 24 hours).")
    source: Source = Field(
        default="open-meteo",
        description="open-meteo: the Open-Meteo archive API; sample: the Seattle data shipped with the app.",
    )
    frequency: Frequency = Field(
        default="hourly",
        description="hourly: temperature each hour (sample: Seattle 2010); daily: daily mean (sample: Seattle "
        "2012-2015).",
    )
    latitude: float = Field(default=47.61, ge=-90.0, le=90.0, description="Place to forecast (Open-Meteo).")
    longitude: float = Field(default=-122.33, ge=-180.0, le=180.0, description="Place to forecast (Open-Meteo).")
    start_date: date = Field(default=date(2023, 1, 1), description="First day of data (Open-Meteo).")
    end_date: date = Field(default=date(2023, 12, 31), description="Last day of data, inclusive (Open-Meteo).")
    fallback_to_sample: bool = Field(
        default=True, description="When Open-Meteo can't be reached, train on the shipped sample instead of failing."
    )
    timeout_s: float = Field(default=15.0, gt=0.0, le=300.0, description="Seconds to wait for Open-Meteo.")
    use_cache: bool = Field(default=True, description="Reuse a download of the same request made within a day.")
    cell: ForecasterKind = Field(
        default="lstm",
        description="Model over the window: lstm, gru, or transformer (an encoder with positional encoding).",
    )
    hidden_size: int = Field(
        default=32, ge=1, le=1024, description="Units of each recurrent layer, or the transformer's width."
    )
    num_layers: int = Field(default=1, ge=1, le=4, description="Stacked recurrent or encoder layers.")
    residual: bool = Field(
        default=True,
        description="Forecast the change from the last temperature seen (needs temperature among the features).",
    )

    @field_validator("end_date")
    @classmethod
    def _not_before_start(cls, value: date, info: ValidationInfo) -> date:
        start = info.data.get("start_date")
        if start is not None and value < start:
            raise ValueError(f"end_date must not be before start_date ({start}); the date range would be empty")
        return value


class WeatherForecasterPipeline(TimeSeriesPipeline[WeatherForecasterConfig]):
    name = "weather-forecaster"
    description = (
        "Forecasts the temperature of the next 24 hours with an LSTM, GRU or Transformer, from the Open-Meteo "
        "archive for any place (offline: Seattle samples), against persistence and same-hour-yesterday baselines."
    )
    Config = WeatherForecasterConfig

    def _load_data(self, config: WeatherForecasterConfig) -> pd.DataFrame:
        request = TemperatureRequest(
            config.latitude, config.longitude, config.start_date, config.end_date, config.frequency
        )
        loaded = load_temperatures(
            request,
            config.source,
            fallback_to_sample=config.fallback_to_sample,
            timeout_s=config.timeout_s,
            use_cache=config.use_cache,
        )
        log.info("data source: %s", loaded.source_note)
        frame = with_calendar_features(loaded.series, config.frequency)
        frame.attrs[SOURCE_NOTE] = loaded.source_note
        return frame

    def _create_model(self, config: WeatherForecasterConfig, spec: WindowSpec) -> nn.Module:
        if config.residual and spec.target not in spec.features:
            raise ConfigError(
                self.name,
                [{"field": "residual", "message": "needs temperature among the features; add it or set false"}],
            )
        skip = spec.features.index(spec.target) if config.residual else None
        return build_forecaster(config.cell, spec, config.hidden_size, config.num_layers, last_value_column=skip)

    def _prepare(self, config: WeatherForecasterConfig, raw: Any) -> PreparedSeries:
        prepared = super()._prepare(config, raw)
        prepared.summary["data source"] = raw.attrs.get(SOURCE_NOTE, "given by the caller")
        return prepared

    def _evaluate(self, config: WeatherForecasterConfig, learner: Learner, data: PreparedSeries) -> Evaluation:
        evaluation = super()._evaluate(config, learner, data)
        outputs = evaluation.outputs
        actual, predicted, persistence = outputs["actual"], outputs["predicted"], outputs["baseline"]
        period, seasonal_name = SEASONS[config.frequency]
        seasonal = seasonal_naive(data.target, data.test_starts, config.horizon, period)
        evaluation.metrics |= step_errors(actual, predicted)
        evaluation.baseline_metrics |= step_errors(actual, persistence)
        evaluation.primary_metrics = ("rmse_step_1", "rmse")
        evaluation.details["data_source"] = data.summary["data source"]
        evaluation.details["seasonal_baseline"] = {
            "name": seasonal_name,
            "metrics": regression_metrics(actual, seasonal) | step_errors(actual, seasonal),
        }
        return evaluation

    def _report(self, config: WeatherForecasterConfig, evaluation: Evaluation, output_dir: Path) -> list[ReportSection]:
        seasonal = evaluation.details["seasonal_baseline"]
        names = dict.fromkeys(("rmse_step_1", f"rmse_step_{config.horizon}", "rmse", "mae"))
        rows = [
            [name, evaluation.metrics[name], evaluation.baseline_metrics[name], seasonal["metrics"][name]]
            for name in names
        ]
        step = "hour" if config.frequency == "hourly" else "day"
        body = (
            f"Data: {evaluation.details['data_source']}.\n\n"
            f"Test-split errors in °C. Step 1 is the next {step}; step {config.horizon} is {config.horizon} "
            f"{step}s ahead; rmse and mae cover all {config.horizon} steps.\n\n"
            + table(["metric", "model", "persistence (last value)", seasonal["name"]], rows)
        )
        return [ReportSection("Baselines", body), *super()._report(config, evaluation, output_dir)]

    def predict(self, output_dir: Path, data: pd.DataFrame | pd.Series | None = None) -> dict[str, Any]:
        """The next `horizon` temperatures after `data` (a temperature series, or a frame with a temperature
        column; default: the configured source loaded afresh), with the model and scalers of a saved run."""
        if data is not None:
            config = self.validate(read_json(Path(output_dir) / CONFIG_FILE))
            if isinstance(data, pd.DataFrame):
                require_columns(data, [TARGET])
            series = data[TARGET] if isinstance(data, pd.DataFrame) else data
            data = with_calendar_features(series.astype("float64"), config.frequency)
        return super().predict(output_dir, data)


def with_calendar_features(series: pd.Series, frequency: Frequency) -> pd.DataFrame:
    """The temperature plus where each step lies in the year (and, for hourly data, in the day) as points on a
    circle, so that 23:00 is next to 00:00 and 31 December next to 1 January."""
    index = pd.DatetimeIndex(series.index)
    hour = (index.hour + index.minute / 60.0).to_numpy()
    day = (index.day_of_year - 1 + hour / 24.0).to_numpy()
    columns = {TARGET: series.to_numpy(dtype=np.float64)}
    if frequency == "hourly":
        columns |= {"hour_sin": np.sin(2 * np.pi * hour / 24.0), "hour_cos": np.cos(2 * np.pi * hour / 24.0)}
    columns |= {"day_sin": np.sin(2 * np.pi * day / 365.25), "day_cos": np.cos(2 * np.pi * day / 365.25)}
    return pd.DataFrame(columns, index=index)


def seasonal_naive(target: np.ndarray, starts: np.ndarray, horizon: int, period: int) -> np.ndarray:
    """(windows, horizon) forecasts where each step repeats the value one season before it (its latest season
    that is already observed when the window ends)."""
    steps = np.arange(horizon)
    seasons_back = steps // period + 1  # a step more than one season ahead reaches further back
    rows = starts[:, None] + steps[None, :] - seasons_back[None, :] * period
    if rows.min() < 0:
        raise ValueError(f"the test split starts fewer than {period} steps into the data; lower train_fraction")
    result: np.ndarray = target[rows]
    return result


def step_errors(actual: np.ndarray, forecast: np.ndarray) -> dict[str, float]:
    """RMSE of the first and of the last forecast step."""
    last = actual.shape[1]
    return {
        "rmse_step_1": rmse(actual[:, 0], forecast[:, 0]),
        f"rmse_step_{last}": rmse(actual[:, -1], forecast[:, -1]),
    }
