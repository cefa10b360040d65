"""Predicting with a saved model: what goes in and comes out, typed per task, and the Predictor that loads a run
directory once and then answers many predictions.

Each task base class declares its contract: time series take a recent history and give forecast values with
their timestamps (ForecastInput -> ForecastOutput); image classifiers take an image and give class
probabilities (ImageInput -> ClassificationOutput). An app inherits its task's contract, so a generated app
predicts through it too. `run` writes the task into model.json, so a saved model names its contract without its
app being imported.

Input the model cannot take raises ValueError (pydantic's ValidationError is one) with a message saying what is
wrong; a server answers it as a client error.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

SCALER_FILE = "scaler.json"
NORMALIZATION_FILE = "normalization.json"
SAVED_MODEL_FILES = ("config.json", "model.json", "model.npz", SCALER_FILE, NORMALIZATION_FILE)
"""What predicting again reads from a run directory (the last two only for their tasks): what a model registry
keeps of a run."""

Task = Literal["forecast", "classification"]

MAX_HISTORY_ROWS = 100_000
MAX_IMAGE_BYTES = 4 * 1024 * 1024
MAX_IMAGE_PIXELS = 4096 * 4096

Row = dict[str, float | int | str | None]


class CannotPredictError(LookupError):
    """The app has no way to predict from a saved model; the message says so."""


class ForecastInput(BaseModel):
    model_config = ConfigDict(extra="forbid", title="ForecastInput")

    history: list[Row] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_HISTORY_ROWS,
        description="Rows in time order, oldest first (column -> value): at least the model's window of them, with "
        "the columns it reads. Null: the app loads the latest data of the source it was trained on.",
    )
    timestamps: list[str] | None = Field(
        default=None,
        description="One timestamp per history row (ISO 8601), for apps whose features depend on the time "
        "(hour, day of the year); without them the rows are numbered steps.",
    )
    horizon: int | None = Field(
        default=None, ge=1, le=1_000, description="How many steps to return, at most the model's horizon; null: all."
    )

    @model_validator(mode="after")
    def _one_timestamp_per_row(self) -> ForecastInput:
        if self.timestamps is not None and (self.history is None or len(self.timestamps) != len(self.history)):
            rows = 0 if self.history is None else len(self.history)
            raise ValueError(f"timestamps must hold one entry per history row: {len(self.timestamps)} for {rows} rows")
        return self


class ForecastPoint(BaseModel):
    timestamp: str | None = Field(description="The step's time or number; null when the history is unevenly spaced.")
    value: float


class ForecastOutput(BaseModel):
    model_config = ConfigDict(title="ForecastOutput")

    target: str = Field(description="The forecast column.")
    last_timestamp: str = Field(description="The time or number of the last history row.")
    last_value: float | None = Field(description="The target's last known value (null when not in the history).")
    forecast: list[ForecastPoint]


class ImageInput(BaseModel):
    model_config = ConfigDict(extra="forbid", title="ImageInput")

    image: str | None = Field(
        default=None,
        max_length=MAX_IMAGE_BYTES * 4 // 3 + 4,
        description="A PNG or JPEG file, base64-encoded (or upload the file as multipart form field 'image'); "
        "it is converted to the model's colour mode and resized to its image size.",
    )
    pixels: list[list[float]] | list[list[list[float]]] | None = Field(
        default=None,
        description="The image as numbers on the scale the app trained on (image files load as [0, 1]), shaped "
        "(height, width) or (channels, height, width) at the model's image size.",
    )

    @model_validator(mode="after")
    def _one_image(self) -> ImageInput:
        if (self.image is None) == (self.pixels is None):
            raise ValueError("give exactly one of image (a base64 PNG or JPEG) and pixels (an array)")
        return self


class ClassProbability(BaseModel):
    label: str
    probability: float


class ClassificationOutput(BaseModel):
    model_config = ConfigDict(title="ClassificationOutput")

    top_class: str
    top_probability: float
    probabilities: list[ClassProbability] = Field(description="Every class, most probable first.")


CONTRACTS: dict[str, tuple[type[BaseModel], type[BaseModel]]] = {
    "forecast": (ForecastInput, ForecastOutput),
    "classification": (ImageInput, ClassificationOutput),
}
"""Each task's (input, output) models."""


class Predictor(ABC):
    """A saved model, loaded once. `predict_json` may be called from several threads: one prediction runs at a
    time (a model's mode is switched for inference)."""

    Input: ClassVar[type[BaseModel]]
    Output: ClassVar[type[BaseModel]]

    def __init__(self) -> None:
        self._lock = threading.Lock()

    @abstractmethod
    def predict(self, request: Any) -> BaseModel:
        """The prediction for a validated `Input`."""

    def predict_json(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Validates `payload` as `Input` (ValueError naming what is wrong), predicts, and returns the JSON."""
        request = self.Input.model_validate(payload)
        with self._lock:
            output = self.predict(request)
        return output.model_dump(mode="json")


def describe(exc: ValidationError) -> str:
    """Each error as `field: message`, in one line."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        parts.append(f"{where}: {error['msg']}" if where else str(error["msg"]))
    return "; ".join(parts)
