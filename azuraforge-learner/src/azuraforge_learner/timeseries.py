"""TimeSeriesPipeline: forecasting one column of a table from windows of its past.

The app's `_load_data(config)` returns a pandas DataFrame in time order (index: timestamps or steps) holding the
target column and any other numeric input columns. The base class then

- cuts windows: `window` past rows of the feature columns -> the next `horizon` values of the target;
- splits chronologically (train, validation, test fractions of the rows); a window belongs to a split only if
  every target value it predicts lies in that split, so no label leaks across a boundary;
- fits the scalers on the training rows only and saves them (scaler.json) next to the weights;
- evaluates in the target's own units on the test windows, next to the last-value (persistence) forecast of
  the same windows (apps add baselines and metrics: extend `_evaluate` and `_metric_specs`);
- records where the data came from: a loader that knows (which source, whether an offline sample stood in) puts
  a `DataSource` in `frame.attrs[DATA_SOURCE]`;
- predicts again from the saved artifacts alone (`predict`).

`_create_model(config, spec)` receives a WindowSpec: inputs are (batch, window, n_features) float32 arrays and
the model must return (batch, horizon) forecasts of the scaled target.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view
from pydantic import Field, ValidationInfo, field_validator

from azuraforge_core import Tensor, nn
from azuraforge_core.functional import mse_loss
from azuraforge_learner.artifacts import load_weights, read_json, write_json, write_text
from azuraforge_learner.config import ConfigError, PipelineConfig, excerpt
from azuraforge_learner.data import Array
from azuraforge_learner.learner import Learner, LossFn, inference
from azuraforge_learner.metrics import MetricFn, declared, regression_metrics, rmse
from azuraforge_learner.pipeline import (
    CONFIG_FILE,
    MODEL_FILE,
    WEIGHTS_FILE,
    BasePipeline,
    Evaluation,
    Prepared,
    Splits,
)
from azuraforge_learner.record import (
    BaselineResult,
    DataProvenance,
    DataSource,
    MetricSpec,
    fingerprint,
    unstated_source,
)
from azuraforge_learner.report import ReportSection, image, plot_predictions, plot_residuals, table
from azuraforge_learner.scaling import Scaler, ScalerKind
from azuraforge_learner.serving import SCALER_FILE, ForecastInput, ForecastOutput, ForecastPoint, Predictor, Task

PREDICTIONS_FILE = "predictions.csv"
LIVE_PREDICTION_POINTS = 200
DATA_SOURCE = "azuraforge_data_source"  # key of a loaded frame's attrs that holds its DataSource
PERSISTENCE = "persistence (last value)"


class TimeSeriesConfig(PipelineConfig):
    target: str = Field(default="value", min_length=1, description="Column of the loaded data to forecast.")
    features: list[str] | None = Field(
        default=None,
        description="Input columns the model sees (the target is one only if listed); null: every numeric column.",
    )
    window: int = Field(
        default=24, ge=1, le=10_000, description="Past rows the model sees for each forecast (lookback)."
    )
    horizon: int = Field(default=1, ge=1, le=1_000, description="Future steps forecast at once.")
    train_fraction: float = Field(
        default=0.7, gt=0.0, lt=1.0, description="Share of the rows, oldest first, used to train."
    )
    val_fraction: float = Field(
        default=0.15, ge=0.0, lt=1.0, description="Share of the rows after the training part used to validate; 0: none."
    )
    scaler: ScalerKind = Field(
        default="standard", description="How inputs and target are scaled (fitted on training rows)."
    )
    live_predictions: bool = Field(
        default=False, description="Send up to 200 validation forecasts with every epoch's progress, for live charts."
    )

    @field_validator("val_fraction")
    @classmethod
    def _leaves_a_test_part(cls, value: float, info: ValidationInfo) -> float:
        train = info.data.get("train_fraction")
        if train is not None and train + value >= 1.0:
            raise ValueError(
                f"train_fraction + val_fraction must stay below 1 so that rows remain for testing; "
                f"got {train} + {value}"
            )
        return value


@dataclass(frozen=True)
class WindowSpec:
    """The shape of the model's data: inputs (batch, window, len(features)) -> outputs (batch, horizon)."""

    features: tuple[str, ...]
    target: str
    window: int
    horizon: int

    @property
    def n_features(self) -> int:
        return len(self.features)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WindowSpec:
        return cls(tuple(data["features"]), data["target"], int(data["window"]), int(data["horizon"]))


@dataclass
class PreparedSeries(Prepared):
    spec: WindowSpec
    feature_scaler: Scaler
    target_scaler: Scaler
    target: Array  # the target column in its own units, one value per row
    index: pd.Index
    val_starts: Array  # row index of the first forecast step of each validation window
    test_starts: Array


TSConfigT = TypeVar("TSConfigT", bound=TimeSeriesConfig)


class TimeSeriesPipeline(BasePipeline[TSConfigT, PreparedSeries]):
    """Base class of forecasting apps; see the module docstring."""

    Config: ClassVar[type[PipelineConfig]] = TimeSeriesConfig
    task: ClassVar[Task | None] = "forecast"

    def _create_loss(self, config: TSConfigT) -> LossFn:
        return mse_loss

    def _train_metrics(self, config: TSConfigT) -> list[str | MetricFn]:
        return ["mae"]

    def _metric_specs(self, config: TSConfigT) -> list[MetricSpec]:
        """MAE, RMSE, MAPE and R² over every forecast step; the errors are in the target's units."""
        return declared("mae", "rmse", "mape", "r2", headline=("rmse",))

    def _describe_data(self, config: TSConfigT, raw: Any) -> DataProvenance:
        frame = _as_frame(raw)
        stated = frame.attrs.get(DATA_SOURCE)
        source = stated if isinstance(stated, DataSource) else unstated_source(self.name)
        index = frame.index
        numbers = frame.select_dtypes(include="number")
        return DataProvenance(
            source=source,
            first=str(index[0]),
            last=str(index[-1]),
            rows=len(frame),
            sha256=fingerprint(
                *(str(name) for name in numbers.columns),
                np.asarray(index.astype(str)),
                numbers.to_numpy(dtype=np.float64),
            ),
        )

    # ----- data ------------------------------------------------------------------------------------
    def _prepare(self, config: TSConfigT, raw: Any) -> PreparedSeries:
        frame = _as_frame(raw)
        spec = WindowSpec(_feature_names(self.name, config, frame), config.target, config.window, config.horizon)
        features = _columns(frame, list(spec.features))
        target = _columns(frame, [spec.target])[:, 0]
        rows = len(frame)
        train_end = round(rows * config.train_fraction)
        val_end = train_end + round(rows * config.val_fraction)
        first_target = spec.window  # a window starting at row i forecasts rows i+window .. i+window+horizon-1
        train_starts = np.arange(first_target, train_end - spec.horizon + 1)
        val_starts = np.arange(max(train_end, first_target), val_end - spec.horizon + 1)
        test_starts = np.arange(max(val_end, first_target), rows - spec.horizon + 1)
        _check_split(self.name, config, "train", train_starts, train_end, "train_fraction")
        _check_split(self.name, config, "test", test_starts, rows - val_end, "train_fraction and val_fraction")
        if config.val_fraction > 0:
            _check_split(self.name, config, "validation", val_starts, val_end - train_end, "val_fraction")
        feature_scaler = Scaler.fit(config.scaler, features[:train_end])
        target_scaler = Scaler.fit(config.scaler, target[:train_end])
        scaled_features = feature_scaler.transform(features)
        scaled_target = target_scaler.transform(target)

        def windows(starts: Array) -> tuple[Array, Array]:
            return _windows(scaled_features, spec.window, starts), _windows(
                scaled_target[:, None], spec.horizon, starts + spec.horizon
            )[:, :, 0]

        splits = Splits(
            train=windows(train_starts),
            val=windows(val_starts) if config.val_fraction > 0 else None,
            test=windows(test_starts),
        )
        summary = {
            "rows": rows,
            "span": f"{frame.index[0]} .. {frame.index[-1]}",
            "target": spec.target,
            "features": ", ".join(spec.features),
            "window / horizon": f"{spec.window} / {spec.horizon}",
            "train windows": len(train_starts),
            "validation windows": len(val_starts) if splits.val is not None else 0,
            "test windows": len(test_starts),
            "test period": f"{frame.index[test_starts[0]]} .. {frame.index[-1]}",
            "scaler (fitted on training rows)": config.scaler,
        }
        return PreparedSeries(
            splits, spec, summary, feature_scaler, target_scaler, target, frame.index, val_starts, test_starts
        )

    def _check_model(self, config: TSConfigT, model: nn.Module, data: PreparedSeries) -> None:
        with inference(model):
            outputs = model(Tensor(data.splits.train[0][:1])).numpy()
        _as_horizon(outputs, data.spec.horizon)

    def _live_predictions(
        self, config: TSConfigT, learner: Learner, data: PreparedSeries
    ) -> tuple[list[float], list[float]] | None:
        """First-step forecasts and actual values of the last validation windows, in the target's units."""
        if not (config.live_predictions and data.splits.val is not None):
            return None
        inputs = data.splits.val[0][-LIVE_PREDICTION_POINTS:]
        starts = data.val_starts[-LIVE_PREDICTION_POINTS:]
        predicted = forecast(learner, data, inputs)[:, 0]
        return [float(value) for value in data.target[starts]], [float(value) for value in predicted]

    # ----- evaluation and report --------------------------------------------------------------------
    def _evaluate(self, config: TSConfigT, learner: Learner, data: PreparedSeries) -> Evaluation:
        inputs, _ = data.splits.test
        predicted = forecast(learner, data, inputs)
        actual = _future(data.target, data.test_starts, data.spec.horizon)
        # Persistence: every future step equals the last value seen before it.
        baseline = np.repeat(data.target[data.test_starts - 1][:, None], data.spec.horizon, axis=1)
        persistence = BaselineResult(
            name=PERSISTENCE,
            description="Every future step equals the last value seen.",
            metrics=regression_metrics(actual, baseline),
        )
        return Evaluation(
            metrics=regression_metrics(actual, predicted),
            baselines=[persistence],
            outputs={
                "actual": actual,
                "predicted": predicted,
                "baseline": baseline,
                "index": data.index[data.test_starts],
            },
        )

    def _save_artifacts(self, config: TSConfigT, data: PreparedSeries, output_dir: Path) -> None:
        write_json(
            output_dir / SCALER_FILE,
            {"features": data.feature_scaler.to_dict(), "target": data.target_scaler.to_dict()},
        )

    def _report(self, config: TSConfigT, evaluation: Evaluation, output_dir: Path) -> list[ReportSection]:
        outputs = evaluation.outputs
        actual, predicted, baseline = outputs["actual"], outputs["predicted"], outputs["baseline"]
        _save_predictions(output_dir / PREDICTIONS_FILE, outputs["index"], actual, predicted, baseline)
        label = config.target
        charts = [
            image(
                "Forecast vs actual", plot_predictions(actual[:, 0], predicted[:, 0], baseline[:, 0], output_dir, label)
            ),
            image("Residuals", plot_residuals(actual[:, 0], predicted[:, 0], output_dir, label)),
        ]
        body = (
            "Charts show the first forecast step of every test window. "
            + f"All test forecasts: {PREDICTIONS_FILE}.\n\n"
        )
        sections = [ReportSection("Forecasts", body + "\n\n".join(charts))]
        if config.horizon > 1:
            rows = [
                [step + 1, rmse(actual[:, step], predicted[:, step]), rmse(actual[:, step], baseline[:, step])]
                for step in range(config.horizon)
            ]
            sections.append(
                ReportSection("Error by forecast step", table(["step", "model RMSE", f"{PERSISTENCE} RMSE"], rows))
            )
        return sections

    # ----- predicting from a saved run --------------------------------------------------------------
    def load_saved(self, output_dir: Path) -> SavedForecaster[TSConfigT]:
        """The model, scalers and config an earlier run saved in `output_dir`, ready to forecast."""
        output_dir = Path(output_dir)
        config = self.validate(read_json(output_dir / CONFIG_FILE))
        spec = WindowSpec.from_dict(read_json(output_dir / MODEL_FILE)["spec"])
        scalers = read_json(output_dir / SCALER_FILE)
        model = self._create_model(config, spec)
        model.load_state_dict(load_weights(output_dir / WEIGHTS_FILE))
        return SavedForecaster(
            config, spec, Scaler.from_dict(scalers["features"]), Scaler.from_dict(scalers["target"]), model
        )

    def forecast_from(
        self, saved: SavedForecaster[TSConfigT], data: pd.DataFrame | pd.Series | None = None
    ) -> dict[str, Any]:
        """Forecast the `horizon` steps after the last row of `data` (default: the app's data loaded afresh) with
        a saved model; its scalers are reused as they were fitted, never refitted. Apps that transform their data
        extend this."""
        spec = saved.spec
        raw = data if data is not None else self._load_data(saved.config)
        if isinstance(raw, pd.DataFrame):
            require_columns(raw, list(spec.features))  # rows without columns are "empty" to pandas: say which
        frame = _as_frame(raw)
        if len(frame) < spec.window:
            raise ValueError(f"predicting needs at least window={spec.window} rows of data, got {len(frame)}")
        inputs = saved.feature_scaler.transform(_columns(frame, list(spec.features))[-spec.window :])[None]
        with inference(saved.model):
            scaled = saved.model(Tensor(inputs)).numpy()
        values = saved.target_scaler.inverse(_as_horizon(scaled, spec.horizon))[0]
        last_value = float(_columns(frame, [spec.target])[-1, 0]) if spec.target in frame.columns else None
        return {
            "app": self.name,
            "target": spec.target,
            "horizon": spec.horizon,
            "last_index": str(frame.index[-1]),
            "last_value": last_value,
            "forecast": [float(value) for value in values],
            "forecast_index": _future_index(frame.index, spec.horizon),
        }

    def predict(self, output_dir: Path, data: pd.DataFrame | pd.Series | None = None) -> dict[str, Any]:
        """`forecast_from` with the model saved in `output_dir`, loaded for this one call."""
        return self.forecast_from(self.load_saved(output_dir), data)

    def load_predictor(self, output_dir: Path) -> Predictor:
        return SeriesPredictor(self, self.load_saved(output_dir))


@dataclass(frozen=True)
class SavedForecaster(Generic[TSConfigT]):
    """What a run saved for forecasting again: its config, data shape, fitted scalers and trained model."""

    config: TSConfigT
    spec: WindowSpec
    feature_scaler: Scaler
    target_scaler: Scaler
    model: nn.Module


class SeriesPredictor(Predictor):
    """ForecastInput -> ForecastOutput with a saved forecaster."""

    Input = ForecastInput
    Output = ForecastOutput

    def __init__(self, pipeline: TimeSeriesPipeline[Any], saved: SavedForecaster[Any]) -> None:
        super().__init__()
        self.pipeline = pipeline
        self.saved = saved

    def predict(self, request: ForecastInput) -> ForecastOutput:
        horizon = request.horizon or self.saved.spec.horizon
        if horizon > self.saved.spec.horizon:
            raise ValueError(
                f"horizon {horizon} is beyond the model's: it forecasts {self.saved.spec.horizon} step(s) at once"
            )
        result = self.pipeline.forecast_from(self.saved, None if request.history is None else history_frame(request))
        labels = result["forecast_index"] or [None] * len(result["forecast"])
        return ForecastOutput(
            target=result["target"],
            last_timestamp=result["last_index"],
            last_value=result["last_value"],
            forecast=[
                ForecastPoint(timestamp=label, value=value)
                for label, value in list(zip(labels, result["forecast"], strict=True))[:horizon]
            ],
        )


def history_frame(request: ForecastInput) -> pd.DataFrame:
    """The history rows as a frame, indexed by their timestamps when given (ValueError naming a bad one)."""
    frame = pd.DataFrame.from_records(request.history or [])
    if request.timestamps is not None:
        try:
            frame.index = pd.DatetimeIndex(pd.to_datetime(request.timestamps, format="ISO8601"))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"timestamps must be ISO 8601 times such as 2024-01-31T13:00: {exc}") from None
    return frame


def forecast(learner: Learner, data: PreparedSeries, inputs: Array) -> Array:
    """(windows, horizon) forecasts in the target's own units."""
    return data.target_scaler.inverse(_as_horizon(learner.predict(inputs), data.spec.horizon))


def _as_horizon(outputs: Array, horizon: int) -> Array:
    if outputs.size != len(outputs) * horizon:
        raise ValueError(
            f"the model returned outputs of shape {outputs.shape}; a time-series model must return "
            f"(batch, horizon={horizon}) forecasts"
        )
    return outputs.reshape(len(outputs), horizon)


def _windows(values: Array, length: int, ends: Array) -> Array:
    """values[end-length:end] for every end, as one (len(ends), length, columns) array (a strided view)."""
    view = sliding_window_view(values, length, axis=0).transpose(0, 2, 1)  # view[i] = values[i : i+length]
    return np.asarray(view[ends - length])


def _future(target: Array, starts: Array, horizon: int) -> Array:
    return target[starts[:, None] + np.arange(horizon)]


def _as_frame(raw: Any) -> pd.DataFrame:
    if isinstance(raw, pd.Series):
        return raw.to_frame()
    if not isinstance(raw, pd.DataFrame):
        raise TypeError(f"_load_data of a time-series app must return a pandas DataFrame, got {type(raw).__name__}")
    if raw.empty:
        raise ValueError("the loaded data is empty; check the data source and its date range")
    return raw


def _feature_names(app: str, config: TimeSeriesConfig, frame: pd.DataFrame) -> tuple[str, ...]:
    if config.features is not None:
        names = tuple(config.features)
    else:
        names = tuple(str(name) for name in frame.select_dtypes(include="number").columns)
    if not names:
        raise ConfigError(app, [{"field": "features", "message": "the loaded data has no numeric column to use"}])
    return names


def require_columns(frame: pd.DataFrame, names: Sequence[str]) -> None:
    """ValueError naming the columns of `names` that `frame` lacks, and (the first few of) those it has."""
    missing = [name for name in names if name not in frame.columns]
    if missing:
        present = [excerpt(str(column), 30) for column in frame.columns[:10]]
        more = f" and {len(frame.columns) - 10} more" if len(frame.columns) > 10 else ""
        raise ValueError(
            f"the data lacks column(s) {', '.join(missing)}; it has {', '.join(present) or 'none'}{more} "
            "(check the target and features fields, or the rows sent)"
        )


def _columns(frame: pd.DataFrame, names: list[str]) -> Array:
    require_columns(frame, names)
    values = frame.loc[:, names]
    non_numeric = [name for name in names if not pd.api.types.is_numeric_dtype(values[name])]
    if non_numeric:
        raise ValueError(f"column(s) {', '.join(non_numeric)} are not numeric; convert them in _load_data")
    array = values.to_numpy(dtype=np.float64)
    bad = ~np.isfinite(array)
    if bad.any():
        counts = {name: int(count) for name, count in zip(names, bad.sum(axis=0), strict=True) if count}
        raise ValueError(f"the data has missing or infinite values ({counts}); drop or fill them in _load_data")
    return array


def _check_split(app: str, config: TimeSeriesConfig, name: str, starts: Array, rows: int, fraction_fields: str) -> None:
    if len(starts) < 1:
        raise ConfigError(
            app,
            [
                {
                    "field": "window",
                    "message": f"the {name} part has {rows} rows, too few for window={config.window} and "
                    f"horizon={config.horizon}; lower window or horizon, or raise {fraction_fields}",
                }
            ],
        )


def _future_index(index: pd.Index, horizon: int) -> list[str] | None:
    """Labels of the forecast steps when the index ends evenly spaced (timestamps or numbers), else None."""
    if len(index) < 3 or not (isinstance(index, pd.DatetimeIndex) or pd.api.types.is_numeric_dtype(index)):
        return None
    recent = index[-min(len(index), 50) :]
    steps = recent[1:] - recent[:-1]
    if not (steps == steps[0]).all():
        return None
    return [str(index[-1] + steps[0] * k) for k in range(1, horizon + 1)]


def _save_predictions(path: Path, index: pd.Index, actual: Array, predicted: Array, baseline: Array) -> None:
    columns: dict[str, Any] = {"index": [str(label) for label in index]}
    for step in range(actual.shape[1]):
        suffix = f"_t{step + 1}"
        columns |= {f"actual{suffix}": actual[:, step], f"predicted{suffix}": predicted[:, step]}
        columns[f"baseline{suffix}"] = baseline[:, step]
    write_text(path, pd.DataFrame(columns).to_csv(index=False))
