"""The weather-forecaster app: the next `horizon` temperatures from the past `window` ones, with an LSTM, a GRU or a
Transformer encoder.

Besides the learner's persistence baseline (every future step equals the last temperature seen) the model is
judged against the seasonal one: each hour as the same hour the day before (for daily data: the same day the
year before). The run's verdict takes, per metric, whichever baseline is stronger.
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
    SAMPLES,
    WEATHER_VARIABLES,
    Frequency,
    SampleName,
    Source,
    TemperatureRequest,
    load_temperatures,
    uploaded_temperatures,
)
from azuraforge_core import nn
from azuraforge_learner import (
    BaselineResult,
    ConfigError,
    Evaluation,
    Learner,
    MetricSpec,
    TimeSeriesPipeline,
    WindowSpec,
)
from azuraforge_learner.datasets import DatasetId, DatasetSpec
from azuraforge_learner.forecasters import ForecasterConfig, build_forecaster
from azuraforge_learner.metrics import declared, regression_metrics, rmse
from azuraforge_learner.report import ReportSection
from azuraforge_learner.timeseries import DATA_SOURCE, PreparedSeries, SavedForecaster, require_columns

log = logging.getLogger(__name__)

TARGET: Final = "temperature"
# Steps in one season of the seasonal-naive baseline, and what to call it.
SEASONS: dict[Frequency, tuple[int, str]] = {
    "hourly": (24, "same hour yesterday"),
    "daily": (365, "same day last year"),
}
CALENDAR_FEATURES = ("hour_sin", "hour_cos", "day_sin", "day_cos")


class WeatherForecasterConfig(ForecasterConfig):
    epochs: int = Field(default=15, ge=1, le=10_000, description="Passes over the training windows.")
    batch_size: int = Field(default=64, ge=1, le=65_536, description="Windows per gradient step.")
    learning_rate: float = Field(default=3e-3, gt=0.0, le=10.0, description="Step size of the Adam optimizer.")
    target: Literal["temperature"] = Field(default=TARGET, description="The forecast column: air temperature (°C).")
    features: list[str] | None = Field(
        default=None,
        description="Input columns: temperature, the calendar features (hour_sin, hour_cos for hourly data; "
        "day_sin, day_cos) and, from the Greensboro sample, dew_point_c, relative_humidity_pct, pressure_mbar, "
        "wind_speed_ms, wind_dir_deg, ghi_wm2, total_cloud_tenths; null: temperature and the calendar features.",
    )
    window: int = Field(default=48, ge=1, le=10_000, description="Past steps the model sees (48 hours).")
    horizon: int = Field(default=24, ge=1, le=1_000, description="Future steps forecast at once (the next 24 hours).")
    source: Source = Field(
        default="open-meteo",
        description="open-meteo: the Open-Meteo archive API; sample: a sample shipped with the app (see sample).",
    )
    frequency: Frequency = Field(
        default="hourly", description="hourly: temperature each hour; daily: the daily mean (sample: Seattle)."
    )
    sample: SampleName | None = Field(
        default=None,
        description="The shipped sample for source=sample and for the fallback: greensboro (real hourly weather of "
        "a typical year, with humidity, pressure, wind, irradiance and cloud) or seattle (smooth hourly 2010, "
        "daily 2012-2015); null: greensboro for hourly data, seattle for daily.",
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
    dataset_id: DatasetId = None
    residual: bool = Field(
        default=True,
        description="Forecast the change from the last temperature seen (needs temperature among the features).",
    )

    @field_validator("sample")
    @classmethod
    def _sample_has_the_frequency(cls, value: SampleName | None, info: ValidationInfo) -> SampleName | None:
        frequency = info.data.get("frequency")
        if value is not None and frequency is not None and (value, frequency) not in SAMPLES:
            raise ValueError(f"the {value} sample has no {frequency} data; choose sample seattle or null")
        return value

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
        "archive for any place (offline: Greensboro, NC hourly observations), against persistence and "
        "same-hour-yesterday baselines."
    )
    Config = WeatherForecasterConfig
    datasets = (
        DatasetSpec(
            kind="csv",
            columns=["time", TARGET],
            description="Temperatures in °C at each time (hourly or daily, as the frequency field says), "
            f"optionally with {', '.join(WEATHER_VARIABLES)}; short gaps are interpolated.",
        ),
    )

    def _load_data(self, config: WeatherForecasterConfig) -> pd.DataFrame:
        request = TemperatureRequest(
            config.latitude, config.longitude, config.start_date, config.end_date, config.frequency
        )
        if self.dataset is not None:
            loaded = uploaded_temperatures(self.dataset, config.frequency)
        else:
            loaded = load_temperatures(
                request,
                config.source,
                sample=config.sample,
                fallback_to_sample=config.fallback_to_sample,
                timeout_s=config.timeout_s,
                use_cache=config.use_cache,
            )
        log.info("data: %s", loaded.source.fallback_reason or loaded.source.description)
        frame = with_calendar_features(loaded.series, config.frequency)
        # Weather variables only when asked for: the default inputs stay the same whatever the source.
        wanted = [name for name in config.features or () if name in WEATHER_VARIABLES]
        missing = [name for name in wanted if name not in loaded.variables.columns]
        if missing:
            raise ConfigError(
                self.name,
                [
                    {
                        "field": "features",
                        "message": f"{', '.join(missing)} are observed only in the greensboro sample (or an uploaded "
                        f"dataset with those columns), and this run loaded {loaded.source.used}; set source=sample "
                        "and sample=greensboro, or drop them",
                    }
                ],
            )
        frame = frame.join(loaded.variables.loc[:, wanted])
        frame.attrs[DATA_SOURCE] = loaded.source
        return frame

    def _create_model(self, config: WeatherForecasterConfig, spec: WindowSpec) -> nn.Module:
        if config.residual and spec.target not in spec.features:
            raise ConfigError(
                self.name,
                [{"field": "residual", "message": "needs temperature among the features; add it or set false"}],
            )
        skip = spec.features.index(spec.target) if config.residual else None
        return build_forecaster(config, spec, last_value_column=skip)

    def _metric_specs(self, config: WeatherForecasterConfig) -> list[MetricSpec]:
        step = "hour" if config.frequency == "hourly" else "day"
        specs = [
            # No MAPE: a percentage of a temperature in °C explodes near 0 °C and means nothing.
            *declared("mae", "rmse", "r2", unit="°C", headline=("rmse",)),
            MetricSpec(
                name="rmse_step_1",
                direction="lower",
                unit="°C",
                description=f"RMSE of the forecast for the next {step}.",
                headline=True,
            ),
        ]
        if config.horizon > 1:
            specs.append(
                MetricSpec(
                    name=f"rmse_step_{config.horizon}",
                    direction="lower",
                    unit="°C",
                    description=f"RMSE of the forecast {config.horizon} {step}s ahead.",
                )
            )
        return specs

    def _evaluate(self, config: WeatherForecasterConfig, learner: Learner, data: PreparedSeries) -> Evaluation:
        evaluation = super()._evaluate(config, learner, data)
        outputs = evaluation.outputs
        actual, predicted, persistence = outputs["actual"], outputs["predicted"], outputs["baseline"]
        period, seasonal_name = SEASONS[config.frequency]
        seasonal = seasonal_naive(data.target, data.test_starts, config.horizon, period)
        evaluation.metrics = celsius_errors(evaluation.metrics) | step_errors(actual, predicted)
        (last_value,) = evaluation.baselines
        evaluation.baselines = [
            last_value.model_copy(
                update={"metrics": celsius_errors(last_value.metrics) | step_errors(actual, persistence)}
            ),
            BaselineResult(
                name=seasonal_name,
                description=f"Every step equals the value {period} steps (one season) before it.",
                metrics=celsius_errors(regression_metrics(actual, seasonal)) | step_errors(actual, seasonal),
            ),
        ]
        return evaluation

    def _report(self, config: WeatherForecasterConfig, evaluation: Evaluation, output_dir: Path) -> list[ReportSection]:
        step = "hour" if config.frequency == "hourly" else "day"
        body = (
            f"Errors are in °C on the test split. Step 1 is the next {step}; step {config.horizon} is "
            f"{config.horizon} {step}s ahead; rmse and mae cover all {config.horizon} steps."
        )
        return [ReportSection("Reading the errors", body), *super()._report(config, evaluation, output_dir)]

    def forecast_from(
        self, saved: SavedForecaster[WeatherForecasterConfig], data: pd.DataFrame | pd.Series | None = None
    ) -> dict[str, Any]:
        """The next `horizon` temperatures after `data` (a temperature series, or a frame with a temperature
        column; default: the configured source loaded afresh), with a saved model and scalers."""
        if data is not None:
            config = saved.config
            if isinstance(data, pd.DataFrame):
                require_columns(data, [TARGET])
            series = data[TARGET] if isinstance(data, pd.DataFrame) else data
            frame = with_calendar_features(series.astype("float64"), config.frequency)
            variables = [name for name in WEATHER_VARIABLES if isinstance(data, pd.DataFrame) and name in data]
            data = frame.join(data.loc[:, variables]) if variables else frame
        return super().forecast_from(saved, data)


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


def celsius_errors(metrics: dict[str, float]) -> dict[str, float]:
    """The regression metrics that mean something for a temperature in °C (all but MAPE)."""
    return {name: value for name, value in metrics.items() if name != "mape"}


def step_errors(actual: np.ndarray, forecast: np.ndarray) -> dict[str, float]:
    """RMSE of the first and of the last forecast step."""
    last = actual.shape[1]
    return {
        "rmse_step_1": rmse(actual[:, 0], forecast[:, 0]),
        f"rmse_step_{last}": rmse(actual[:, -1], forecast[:, -1]),
    }
