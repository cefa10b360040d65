"""AzuraForge app: hourly (or daily) temperature forecasting with an LSTM or GRU, from the Open-Meteo archive or
the Seattle samples shipped with the app.

Registered as the app `weather-forecaster` (entry-point group `azuraforge.pipelines`).
"""

from azuraforge_app_weather_forecaster.pipeline import WeatherForecasterConfig, WeatherForecasterPipeline
from azuraforge_app_weather_forecaster.temperatures import (
    TemperatureRequest,
    Temperatures,
    WeatherDataError,
    WeatherSourceUnavailableError,
    load_temperatures,
)

__all__ = [
    "TemperatureRequest",
    "Temperatures",
    "WeatherDataError",
    "WeatherForecasterConfig",
    "WeatherForecasterPipeline",
    "WeatherSourceUnavailableError",
    "load_temperatures",
]
