"""A ready model for TimeSeriesPipeline apps: a recurrent layer over the window, then a Linear head."""

from __future__ import annotations

from typing import Literal

from azuraforge_core import Tensor, nn
from azuraforge_learner.timeseries import WindowSpec


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
        if self.last_value_column is not None:
            column = self.last_value_column
            forecast = forecast + x[:, -1, column : column + 1]
        return forecast
