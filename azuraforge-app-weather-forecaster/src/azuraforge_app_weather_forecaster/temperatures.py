"""Air temperatures at 2 m, in °C, on a regular hourly or daily grid: from the Open-Meteo archive API, or
from the Seattle samples shipped with the app.

`load_temperatures` is the one entry point; `Temperatures.source_note` says which source a run used and why.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from importlib import resources
from typing import Any, Literal

import httpx
import pandas as pd

from azuraforge_learner.cache import cached

log = logging.getLogger(__name__)

OPEN_METEO_ARCHIVE_URL = "https://archive-api.open-meteo.com/v1/archive"
# The endpoint is the deployment's choice (a mirror, a proxy), never a run's: a URL in a config would let anyone
# who can start a run make the workers fetch from inside the network.
OPEN_METEO_URL_VARIABLE = "AZURAFORGE_OPEN_METEO_URL"
# The archive's variable for each frequency; the daily one is the mean of the day's hourly values.
OPEN_METEO_VARIABLES = {"hourly": "temperature_2m", "daily": "temperature_2m_mean"}
PANDAS_FREQUENCIES = {"hourly": "h", "daily": "D"}
# Gaps up to this many steps are interpolated; longer ones mean the source is unusable for training.
MAX_GAP_STEPS = 6
# The archive revises its last few days, so entries are refreshed daily.
CACHE_MAX_AGE = timedelta(days=1)
MAX_REASON_LENGTH = 120

Frequency = Literal["hourly", "daily"]
Source = Literal["open-meteo", "sample"]


class WeatherDataError(ValueError):
    """The request yields no usable temperatures (rejected dates or place, empty answer); the message says why."""


class WeatherSourceUnavailableError(ConnectionError):
    """Open-Meteo could not be reached or failed to answer (no network, timeout, server error)."""


@dataclass(frozen=True)
class TemperatureRequest:
    latitude: float
    longitude: float
    start: date
    end: date  # inclusive, as in Open-Meteo
    frequency: Frequency = "hourly"


@dataclass(frozen=True)
class Temperatures:
    series: pd.Series  # °C on a regular DatetimeIndex (UTC for Open-Meteo, local time for the samples)
    source: Source
    source_note: str  # one sentence for the log and the report


@dataclass(frozen=True)
class Sample:
    file: str
    description: str


SAMPLES: dict[Frequency, Sample] = {
    "hourly": Sample("seattle-temps-hourly-2010.csv.gz", "Seattle hourly air temperature, 2010 (NOAA)"),
    "daily": Sample("seattle-weather.csv", "Seattle daily mean of max/min temperature, 2012-2015 (NOAA)"),
}


def open_meteo_url() -> str:
    """The Open-Meteo archive endpoint: AZURAFORGE_OPEN_METEO_URL if the deployment sets it."""
    return os.environ.get(OPEN_METEO_URL_VARIABLE) or OPEN_METEO_ARCHIVE_URL


def load_temperatures(
    request: TemperatureRequest,
    source: Source = "open-meteo",
    *,
    fallback_to_sample: bool = True,
    timeout_s: float = 15.0,
    api_url: str | None = None,
    use_cache: bool = True,
) -> Temperatures:
    """Temperatures for `request` from `source`. Downloads go through the learner's on-disk cache. When
    Open-Meteo is unreachable and `fallback_to_sample` is set, the shipped sample of the same frequency is used
    (whole: its dates differ from the request's). `api_url` defaults to `open_meteo_url()`."""
    api_url = api_url or open_meteo_url()
    sample = SAMPLES[request.frequency]
    if source == "sample":
        series = read_sample(request.frequency)
        return Temperatures(series, "sample", f"the shipped sample, {sample.description}: {_span(series)}")
    try:
        frame = cached(
            "open-meteo-temperatures",
            {**asdict(request), "api_url": api_url},
            lambda: fetch_open_meteo(request, api_url=api_url, timeout_s=timeout_s).to_frame(),
            max_age=CACHE_MAX_AGE,
            enabled=use_cache,
        )
    except WeatherSourceUnavailableError as exc:
        if not fallback_to_sample:
            raise
        log.warning("Open-Meteo unavailable (%s); using the shipped sample instead", exc)
        series = read_sample(request.frequency)
        note = f"Open-Meteo was unreachable ({exc}), so the run used the shipped sample, {sample.description}"
        return Temperatures(series, "sample", f"{note}: {_span(series)}")
    series = frame["temperature"]
    place = f"latitude {request.latitude}, longitude {request.longitude}"
    return Temperatures(series, "open-meteo", f"Open-Meteo archive, {place}, {request.frequency}: {_span(series)}")


def fetch_open_meteo(request: TemperatureRequest, *, api_url: str, timeout_s: float) -> pd.Series:
    variable = OPEN_METEO_VARIABLES[request.frequency]
    params: dict[str, str | float] = {
        "latitude": request.latitude,
        "longitude": request.longitude,
        "start_date": request.start.isoformat(),
        "end_date": request.end.isoformat(),
        request.frequency: variable,
        "timezone": "UTC",
    }
    try:
        response = httpx.get(api_url, params=params, timeout=timeout_s)
    except httpx.TimeoutException as exc:
        raise WeatherSourceUnavailableError(f"{api_url} did not answer within {timeout_s:g} s") from exc
    except httpx.TransportError as exc:
        raise WeatherSourceUnavailableError(f"could not reach {api_url}: {exc}") from exc
    if response.status_code == 400:
        # Open-Meteo explains a rejected request (dates out of range, bad coordinates) in "reason".
        raise WeatherDataError(f"Open-Meteo rejected the request: {_reason(response)}")
    if response.is_error:
        raise WeatherSourceUnavailableError(f"{api_url} answered HTTP {response.status_code}: {_reason(response)}")
    try:
        payload = response.json()
    except ValueError as exc:
        raise WeatherSourceUnavailableError(f"{api_url} did not answer with JSON") from exc
    return parse_open_meteo(payload, request)


def parse_open_meteo(payload: Any, request: TemperatureRequest) -> pd.Series:
    """The temperature series in an Open-Meteo archive answer, on a regular grid."""
    variable = OPEN_METEO_VARIABLES[request.frequency]
    block = payload.get(request.frequency) if isinstance(payload, dict) else None
    if not isinstance(block, dict) or not block.get("time") or variable not in block:
        raise WeatherDataError(
            f"Open-Meteo returned no {request.frequency} {variable} for latitude {request.latitude}, "
            f"longitude {request.longitude} from {request.start} to {request.end}; check the dates "
            "(the archive starts in 1940 and lags today by a few days)"
        )
    index = pd.DatetimeIndex(pd.to_datetime(pd.Series(block["time"])), name="time")
    values = pd.Series(block[variable], index=index, dtype="float64", name="temperature")
    return regularize(values, request.frequency)


def read_sample(frequency: Frequency) -> pd.Series:
    """A shipped Seattle sample in °C on a regular grid."""
    with (resources.files(__package__) / "sample_data" / SAMPLES[frequency].file).open("rb") as handle:
        if frequency == "hourly":
            frame = pd.read_csv(handle, compression="gzip")
            index = pd.to_datetime(frame["date"], format="%Y/%m/%d %H:%M")
            celsius = (frame["temp"].to_numpy() - 32.0) * 5.0 / 9.0
        else:
            frame = pd.read_csv(handle)
            index = pd.to_datetime(frame["date"], format="%Y/%m/%d")
            celsius = (frame["temp_max"].to_numpy() + frame["temp_min"].to_numpy()) / 2.0
    series = pd.Series(celsius, index=pd.DatetimeIndex(index, name="time"), dtype="float64", name="temperature")
    return regularize(series, frequency)


def regularize(series: pd.Series, frequency: Frequency) -> pd.Series:
    """One value per step: duplicates dropped, short gaps interpolated in time, long gaps refused."""
    series = series[~series.index.duplicated()].sort_index()
    known = series.dropna()
    if known.empty:
        raise WeatherDataError(f"the {frequency} temperature series has no values")
    grid = pd.date_range(known.index[0], known.index[-1], freq=PANDAS_FREQUENCIES[frequency], name="time")
    regular = series.reindex(grid)
    missing = regular.isna()
    longest_gap = int(missing.groupby((~missing).cumsum()).sum().max())
    if longest_gap > MAX_GAP_STEPS:
        raise WeatherDataError(
            f"the {frequency} temperature series has a gap of {longest_gap} steps (at most {MAX_GAP_STEPS} "
            "can be filled); choose dates the source covers without interruption"
        )
    return regular.interpolate(method="time")


def _reason(response: httpx.Response) -> str:
    """Open-Meteo's one-line "reason", shortened; never the body itself, which would carry whatever a
    misdirected endpoint answers into the run's report and error."""
    try:
        body = response.json()
    except ValueError:
        body = None
    reason = body.get("reason") if isinstance(body, dict) else None
    if not isinstance(reason, str):
        return response.reason_phrase or "no reason given"
    line = " ".join(reason.split())
    return line if len(line) <= MAX_REASON_LENGTH else line[:MAX_REASON_LENGTH] + "..."


def _span(series: pd.Series) -> str:
    return f"{series.index[0]}..{series.index[-1]} ({len(series)} values)"
