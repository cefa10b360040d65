"""Ready models for TimeSeriesPipeline apps: a recurrent layer or a Transformer encoder over the window, then a
Linear head. An app's config extends `ForecasterConfig` and `build_forecaster` builds the model it names, so
every app offers the same choices with the same fields."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import Field

from azuraforge_core import Tensor, nn
from azuraforge_learner.timeseries import TimeSeriesConfig, WindowSpec

ForecasterKind = Literal["lstm", "gru", "transformer"]


class ForecasterConfig(TimeSeriesConfig):
    """The model fields of an app that forecasts with `build_forecaster`."""

    cell: ForecasterKind = Field(
        default="lstm",
        description="Model over the window: lstm, gru, or transformer (an encoder with positional encoding).",
    )
    hidden_size: int = Field(
        default=32, ge=1, le=1024, description="Units of each recurrent layer, or the transformer's width."
    )
    num_layers: int = Field(default=1, ge=1, le=4, description="Stacked recurrent or encoder layers.")


def _add_last_value(forecast: Tensor, x: Tensor, column: int | None) -> Tensor:
    """The skip connection: the forecast is a change added to the window's last value of `column`."""
    if column is None:
        return forecast
    return forecast + x[:, -1, column : column + 1]


class RecurrentForecaster(nn.Module):
    """An LSTM or GRU over the window, then a Linear map from its last hidden state to `horizon` forecasts.

    Given `last_value_column` (the target's column among the inputs), the Linear map forecasts the change from
    the window's last value, which is added back: a skip connection that makes the untrained model the naive
    forecast. Use it only when the target and that input column share one scaler (both fitted on the same
    training rows of the same column), e.g. for levels, not for returns.
    """

    def __init__(
        self,
        cell: Literal["lstm", "gru"],
        spec: WindowSpec,
        hidden_size: int,
        num_layers: int = 1,
        last_value_column: int | None = None,
    ) -> None:
        super().__init__()
        layer = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = layer(spec.n_features, hidden_size, num_layers=num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, spec.horizon)
        self.last_value_column = last_value_column

    def forward(self, x: Tensor) -> Tensor:
        outputs, _ = self.rnn(x)
        forecast: Tensor = self.head(outputs[:, -1, :])
        return _add_last_value(forecast, x, self.last_value_column)


def positional_encoding(length: int, d_model: int) -> np.ndarray:
    """The Transformer's sinusoids, (length, d_model): sin on even columns, cos on odd ones."""
    position = np.arange(length)[:, None]
    frequencies = np.exp(np.arange(0, d_model, 2) * (-math.log(10_000.0) / d_model))
    encoding = np.zeros((length, d_model), dtype=np.float32)
    encoding[:, 0::2] = np.sin(position * frequencies)
    encoding[:, 1::2] = np.cos(position * frequencies[: d_model // 2])
    return encoding


class TransformerForecaster(nn.Module):
    """A Transformer encoder over the window, then a Linear map from the last step's encoding to `horizon` forecasts.

    Each step's features are projected to `d_model` and get a fixed sinusoidal position encoding (attention
    alone does not know the order of the steps). The encoder is pre-norm (norm_first), which trains steadily
    without a warm-up schedule. The heads are the most of 4, 2, 1 that divide d_model. `last_value_column`
    is the skip connection of RecurrentForecaster.
    """

    def __init__(
        self,
        spec: WindowSpec,
        d_model: int,
        num_layers: int = 1,
        dropout: float = 0.1,
        last_value_column: int | None = None,
    ) -> None:
        super().__init__()
        heads = next(h for h in (4, 2, 1) if d_model % h == 0)
        self.embed = nn.Linear(spec.n_features, d_model)
        layer = nn.TransformerEncoderLayer(
            d_model, heads, dim_feedforward=2 * d_model, dropout=dropout, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers, norm=nn.LayerNorm(d_model))
        self.head = nn.Linear(d_model, spec.horizon)
        self.positions = positional_encoding(spec.window, d_model)  # fixed, so not in the state_dict
        self.last_value_column = last_value_column

    def forward(self, x: Tensor) -> Tensor:
        encoded = self.encoder(self.embed(x) + self.positions[: x.shape[1]])
        forecast: Tensor = self.head(encoded[:, -1, :])
        return _add_last_value(forecast, x, self.last_value_column)


def build_forecaster(
    config: ForecasterConfig, spec: WindowSpec, last_value_column: int | None
) -> RecurrentForecaster | TransformerForecaster:
    """The model `config.cell` names: an LSTM, a GRU, or a Transformer encoder of width `config.hidden_size`."""
    if config.cell == "transformer":
        return TransformerForecaster(spec, config.hidden_size, config.num_layers, last_value_column=last_value_column)
    return RecurrentForecaster(
        config.cell, spec, config.hidden_size, config.num_layers, last_value_column=last_value_column
    )
