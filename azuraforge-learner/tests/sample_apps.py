"""Tiny apps the tests install as plug-ins (through a .dist-info, see conftest.install_test_apps)."""

from __future__ import annotations

import argparse
import logging
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from azuraforge_core import Tensor, nn
from azuraforge_learner import (
    Evaluation,
    ImageClassificationConfig,
    ImageClassificationPipeline,
    ImageData,
    ImageSpec,
    Learner,
    TimeSeriesConfig,
    TimeSeriesPipeline,
    WindowSpec,
)
from azuraforge_learner.timeseries import PreparedSeries

log = logging.getLogger(__name__)


class SineConfig(TimeSeriesConfig):
    target: str = Field(default="value", description="Column to forecast.")
    epochs: int = Field(default=3, ge=1, le=100, description="Passes over the training data.")
    window: int = Field(default=8, ge=1, le=200, description="Past rows per forecast.")
    learning_rate: float = Field(default=0.01, gt=0.0, description="Adam step size.")
    rows: int = Field(default=240, ge=20, le=100_000, description="Length of the generated series.")
    hidden: int = Field(default=16, ge=1, le=256, description="Hidden units of the model.")
    model: Literal["mlp", "lstm"] = Field(default="mlp", description="An MLP over the flattened window, or an LSTM.")


def sine_frame(rows: int) -> pd.DataFrame:
    """A noisy sine with a slow trend and a second, related input column, on an hourly index."""
    steps = np.arange(rows)
    noise = np.random.default_rng(1234).normal(0.0, 0.05, rows)
    value = 10.0 + np.sin(steps * 2 * np.pi / 24) + 0.002 * steps + noise
    index = pd.date_range("2024-01-01", periods=rows, freq="h")
    return pd.DataFrame({"value": value, "hour_cos": np.cos(steps * 2 * np.pi / 24)}, index=index)


class SineForecaster(TimeSeriesPipeline[SineConfig]):
    name = "sine"
    description = "Forecasts a noisy sine wave (test app)."
    Config = SineConfig

    def _load_data(self, config: SineConfig) -> pd.DataFrame:
        log.info("data: a generated sine of %d rows", config.rows)
        return sine_frame(config.rows)

    def _create_model(self, config: SineConfig, spec: WindowSpec) -> nn.Module:
        if config.model == "lstm":
            return LastStepLSTM(spec.n_features, config.hidden, spec.horizon)
        return nn.Sequential(
            nn.Flatten(),
            nn.Linear(spec.window * spec.n_features, config.hidden),
            nn.Tanh(),
            nn.Dropout(0.1),
            nn.Linear(config.hidden, spec.horizon),
        )


class LastStepLSTM(nn.Module):
    """An LSTM over the window; a Linear layer turns its last hidden state into the forecast."""

    def __init__(self, features: int, hidden: int, horizon: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(features, hidden, num_layers=1, batch_first=True)
        self.head = nn.Linear(hidden, horizon)

    def forward(self, x: Tensor) -> Tensor:
        sequence, _ = self.lstm(x)
        forecast: Tensor = self.head(sequence[:, -1, :])
        return forecast


class FailingEvaluation(SineForecaster):
    name = "failing"
    description = "Trains, then crashes while evaluating (test app)."

    def _evaluate(self, config: SineConfig, learner: Learner, data: PreparedSeries) -> Evaluation:
        raise RuntimeError("evaluation exploded")


class BlobsConfig(ImageClassificationConfig):
    epochs: int = Field(default=8, ge=1, le=100, description="Passes over the training data.")
    batch_size: int = Field(default=16, ge=1, description="Samples per step.")
    learning_rate: float = Field(default=0.05, gt=0.0, description="Adam step size.")
    per_class: int = Field(default=40, ge=2, le=1000, description="Images generated per class.")


class BlobClassifier(ImageClassificationPipeline[BlobsConfig]):
    """Three classes of 1x6x6 images: a bright blob in the top-left, top-right or bottom half."""

    name = "blobs"
    description = "Classifies where a bright blob is in a tiny image (test app)."
    Config = BlobsConfig

    def _load_data(self, config: BlobsConfig) -> ImageData:
        rng = np.random.default_rng(7)
        masks = np.zeros((3, 6, 6))
        masks[0, :3, :3] = masks[1, :3, 3:] = masks[2, 3:, :] = 1.0
        labels = np.repeat(np.arange(3), config.per_class)
        images = masks[labels][:, None] + rng.normal(0.0, 0.3, (len(labels), 1, 6, 6))
        return ImageData(images * 255.0, labels, ["top-left", "top-right", "bottom"])

    def _create_model(self, config: BlobsConfig, spec: ImageSpec) -> nn.Module:
        features = spec.channels * spec.height * spec.width
        return nn.Sequential(nn.Flatten(), nn.Linear(features, 16), nn.ReLU(), nn.Linear(16, spec.n_classes))


class NotAPipeline:
    """Registered as an app by mistake: discovery must report it, not crash."""


def register_hello(subparsers: Any) -> None:
    """An `azuraforge hello` subcommand contributed by another package."""
    parser = subparsers.add_parser("hello", help="say hello (test plug-in)")
    parser.add_argument("name")
    parser.set_defaults(handler=_hello)


def _hello(args: argparse.Namespace) -> int:
    print(f"hello {args.name}")
    return 3
