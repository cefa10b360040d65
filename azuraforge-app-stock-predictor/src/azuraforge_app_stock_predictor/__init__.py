"""AzuraForge app: forecasts a ticker's price with an LSTM on OHLCV from yfinance (offline: the S&P 500 daily
data 1999-2018 shipped with the app), against the naive last-price forecast.

Registered as the app `stock-predictor` (entry-point group `azuraforge.pipelines`).
"""

from azuraforge_app_stock_predictor.pipeline import StockPredictorConfig, StockPredictorPipeline
from azuraforge_app_stock_predictor.prices import (
    PriceDataError,
    PriceRequest,
    Prices,
    PriceSourceUnavailableError,
    load_prices,
)

__all__ = [
    "PriceDataError",
    "PriceRequest",
    "PriceSourceUnavailableError",
    "Prices",
    "StockPredictorConfig",
    "StockPredictorPipeline",
    "load_prices",
]
