"""Air temperatures at 2 m, in °C, on a regular hourly or daily grid: from the Open-Meteo archive API, or
from the samples shipped with the app (Greensboro, NC: real hourly observations of a TMY3 typical year with
dew point, humidity, pressure, wind, irradiance and cloud; Seattle: smooth hourly 2010 and daily 2012-2015).

`load_temperatures` is the one entry point; `Temperatures.source` says which source a run used and why.
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

from azuraforge_learner import DataSource
from azuraforge_learner.cache import cached
from azuraforge_learner.datasets import LocalDataset

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
SampleName = Literal["greensboro", "seattle"]


class WeatherDataError(ValueError):
    """The request yields no usable temperatures (rejected dates or place, empty answer); the message says why."""


class WeatherSourceUnavailableError(ConnectionError):
    """Open-Meteo could not be reached or failed to answer (no network, timeout, server error). `reason` says so
    in one plain sentence for the run record; the message keeps the technical detail for logs."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


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
    variables: pd.DataFrame  # other observed variables on the same index; no columns when the source has none
    source: DataSource


@dataclass(frozen=True)
class Sample:
    file: str
    description: str


SAMPLES: dict[tuple[SampleName, Frequency], Sample] = {
    ("greensboro", "hourly"): Sample(
        "greensboro-nc-tmy3-hourly.csv.gz",
        "Greensboro, NC (Piedmont Triad airport) hourly observations as a TMY3 typical year: each month is one "
        "real month of 1980-2003 (NREL), placed on the non-leap year 2001",
    ),
    ("seattle", "hourly"): Sample("seattle-temps-hourly-2010.csv.gz", "Seattle hourly air temperature, 2010 (NOAA)"),
    ("seattle", "daily"): Sample("seattle-weather.csv", "Seattle daily mean of max/min temperature, 2012-2015 (NOAA)"),
}
# The sample used when none is named: real hourly weather where there is some, Seattle for daily data.
DEFAULT_SAMPLES: dict[Frequency, SampleName] = {"hourly": "greensboro", "daily": "seattle"}
# The Greensboro sample's other variables, usable as model inputs (their names carry their units).
WEATHER_VARIABLES = (
    "dew_point_c",
    "relative_humidity_pct",
    "pressure_mbar",
    "wind_speed_ms",
    "wind_dir_deg",
    "ghi_wm2",
    "total_cloud_tenths",
)
TMY_YEAR_START = pd.Timestamp("2001-01-01 00:00")


def open_meteo_url() -> str:
    """The Open-Meteo archive endpoint: AZURAFORGE_OPEN_METEO_URL if the deployment sets it."""
    return os.environ.get(OPEN_METEO_URL_VARIABLE) or OPEN_METEO_ARCHIVE_URL


def load_temperatures(
    request: TemperatureRequest,
    source: Source = "open-meteo",
    *,
    sample: SampleName | None = None,
    fallback_to_sample: bool = True,
    timeout_s: float = 15.0,
    api_url: str | None = None,
    use_cache: bool = True,
) -> Temperatures:
    """Temperatures for `request` from `source`. Downloads go through the learner's on-disk cache. When
    Open-Meteo is unreachable and `fallback_to_sample` is set, the shipped `sample` (default: Greensboro for
    hourly data, Seattle for daily) is used whole: its dates differ from the request's. `api_url` defaults to
    `open_meteo_url()`, the deployment's setting."""
    api_url = api_url or open_meteo_url()
    name = sample or DEFAULT_SAMPLES[request.frequency]
    described = SAMPLES[(name, request.frequency)].description if (name, request.frequency) in SAMPLES else name
    place = f"latitude {request.latitude}, longitude {request.longitude}"
    if source == "sample":
        frame = read_sample(name, request.frequency)
        data_source = DataSource(requested=f"sample: {name}", used=f"sample: {name}", description=described)
        return _from_frame(frame, data_source)
    requested = f"open-meteo: {place}, {request.start}..{request.end}, {request.frequency}"
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
        log.warning("Open-Meteo unavailable (%s); using the shipped %s sample instead", exc, name)
        reason = f"{exc.reason}, so the shipped {name} sample stood in for the requested place and dates."
        data_source = DataSource(
            requested=requested, used=f"sample: {name}", description=described, fallback_reason=reason
        )
        return _from_frame(read_sample(name, request.frequency), data_source)
    description = f"Open-Meteo archive, {place}, {request.frequency} temperature at 2 m"
    return _from_frame(frame, DataSource(requested=requested, used="open-meteo", description=description))


def _from_frame(frame: pd.DataFrame, source: DataSource) -> Temperatures:
    return Temperatures(frame["temperature"], frame.drop(columns="temperature"), source)


def uploaded_temperatures(dataset: LocalDataset, frequency: Frequency) -> Temperatures:
    """An uploaded CSV (columns time and temperature in °C, optionally WEATHER_VARIABLES) on a regular grid."""
    frame = pd.read_csv(dataset.path)
    try:
        index = pd.DatetimeIndex(pd.to_datetime(frame.pop("time")), name="time")
    except (ValueError, TypeError) as exc:
        raise WeatherDataError(
            f"the time column of dataset {dataset.ref.name!r} cannot be read as dates ({exc}); use e.g. "
            "2023-01-01 00:00"
        ) from None
    frame.index = index.tz_localize(None) if index.tz is not None else index
    variables = frame.loc[:, [name for name in WEATHER_VARIABLES if name in frame.columns]].astype("float64")
    series = regularize(frame["temperature"].astype("float64"), frequency)
    name, sha = dataset.ref.name, dataset.ref.sha256
    source = DataSource(
        requested=f"uploaded: {name}",
        used=f"uploaded: {name}",
        description=f"uploaded dataset {name!r} (sha256 {sha[:12]}), {frequency}",
        dataset=dataset.ref,
    )
    # The other variables on the temperature's grid, their gaps filled the same way.
    variables = variables[~variables.index.duplicated()].sort_index().reindex(series.index)
    return Temperatures(series, variables.interpolate(method="time", limit_direction="both"), source)


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
        message = f"Open-Meteo did not answer within {timeout_s:g} s"
        raise WeatherSourceUnavailableError(f"{api_url} did not answer within {timeout_s:g} s", message) from exc
    except httpx.TransportError as exc:
        reason = "Open-Meteo could not be reached (no network)"
        raise WeatherSourceUnavailableError(f"could not reach {api_url}: {exc}", reason) from exc
    if response.status_code == 400:
        # Open-Meteo explains a rejected request (dates out of range, bad coordinates) in "reason".
        raise WeatherDataError(f"Open-Meteo rejected the request: {_reason(response)}")
    if response.is_error:
        raise WeatherSourceUnavailableError(
            f"{api_url} answered HTTP {response.status_code}: {_reason(response)}",
            f"Open-Meteo answered with an error (HTTP {response.status_code})",
        )
    try:
        payload = response.json()
    except ValueError as exc:
        raise WeatherSourceUnavailableError(
            f"{api_url} did not answer with JSON", "Open-Meteo answered with something other than data"
        ) from exc
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


def read_sample(name: SampleName, frequency: Frequency) -> pd.DataFrame:
    """A shipped sample on a regular grid: a temperature column in °C, plus WEATHER_VARIABLES for Greensboro."""
    if (name, frequency) not in SAMPLES:
        raise WeatherDataError(f"the {name} sample has no {frequency} data; use frequency hourly or sample seattle")
    with (resources.files(__package__) / "sample_data" / SAMPLES[(name, frequency)].file).open("rb") as handle:
        if name == "greensboro":
            raw = pd.read_csv(handle, compression="gzip")
            index = TMY_YEAR_START + pd.to_timedelta(raw["tmy_hour"], unit="h")
            columns = {"temperature": raw["temperature_c"]} | {column: raw[column] for column in WEATHER_VARIABLES}
            frame = pd.DataFrame(columns, dtype="float64").set_index(pd.DatetimeIndex(index, name="time"))
            return frame
        if frequency == "hourly":
            raw = pd.read_csv(handle, compression="gzip")
            index = pd.to_datetime(raw["date"], format="%Y/%m/%d %H:%M")
            celsius = (raw["temp"].to_numpy() - 32.0) * 5.0 / 9.0
        else:
            raw = pd.read_csv(handle)
            index = pd.to_datetime(raw["date"], format="%Y/%m/%d")
            celsius = (raw["temp_max"].to_numpy() + raw["temp_min"].to_numpy()) / 2.0
    series = pd.Series(celsius, index=pd.DatetimeIndex(index, name="time"), dtype="float64", name="temperature")
    return regularize(series, frequency).to_frame()


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
