"""Price transforms, applied the same way in both directions: OHLCV -> model columns, and forecasts of the
transformed target -> prices.

- none: the prices and volume as they are;
- log: log prices and log(1 + volume);
- returns: day-over-day log returns of each price, and the change of log(1 + volume).

Whatever the transform, the frame also keeps the target's price in PRICE_COLUMN (never a model input), so
forecasts can be turned back into prices and compared with the naive forecast in price units.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from azuraforge_app_stock_predictor.prices import PRICE_COLUMNS

Transform = Literal["returns", "log", "none"]
PRICE_COLUMN = "target_price"


def model_frame(prices: pd.DataFrame, transform: Transform, target: str) -> pd.DataFrame:
    """The OHLCV columns under `transform`, plus the target's untransformed price in PRICE_COLUMN."""
    ohlcv = prices.loc[:, list(PRICE_COLUMNS)].astype("float64")
    if transform != "none":
        price_columns = list(PRICE_COLUMNS[:4])
        non_positive = [column for column in price_columns if (ohlcv[column] <= 0).any()]
        if non_positive:
            raise ValueError(f"{transform} needs positive prices, but {', '.join(non_positive)} has values <= 0")
        ohlcv[price_columns] = np.log(ohlcv[price_columns].to_numpy())
        ohlcv["Volume"] = np.log1p(ohlcv["Volume"].to_numpy())
    if transform == "returns":
        ohlcv = ohlcv.diff()
    frame = ohlcv.assign(**{PRICE_COLUMN: prices[target].astype("float64")})
    return frame.iloc[1:] if transform == "returns" else frame


def to_prices(transform: Transform, forecasts: NDArray[np.float64], last_prices: NDArray[np.float64]) -> NDArray:
    """(windows, horizon) forecasts of the transformed target as prices; `last_prices` are the last known price
    of each window, from which returns are compounded."""
    if transform == "none":
        return forecasts
    if transform == "log":
        return np.exp(forecasts)
    return last_prices[:, None] * np.exp(np.cumsum(forecasts, axis=1))
