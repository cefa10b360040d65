"""Loading temperatures: the Open-Meteo client against a local server, the samples, and the fallback."""

from datetime import date

import numpy as np
import pandas as pd
import pytest
from azuraforge_app_weather_forecaster.temperatures import (
    WEATHER_VARIABLES,
    TemperatureRequest,
    WeatherDataError,
    WeatherSourceUnavailableError,
    load_temperatures,
    read_sample,
    regularize,
)

REQUEST = TemperatureRequest(latitude=47.61, longitude=-122.33, start=date(2023, 1, 1), end=date(2023, 1, 1))


def _hourly_answer(values: list[float | None]) -> dict[str, object]:
    times = [f"2023-01-01T{hour:02d}:00" for hour in range(len(values))]
    return {
        "latitude": 47.6,
        "hourly_units": {"temperature_2m": "°C"},
        "hourly": {"time": times, "temperature_2m": values},
    }


def test_open_meteo_answer_becomes_a_regular_series(open_meteo):
    open_meteo.body = _hourly_answer([5.0, 6.0, None, 8.0])
    loaded = load_temperatures(REQUEST, api_url=open_meteo.url, fallback_to_sample=False)
    assert loaded.source.used == "open-meteo"
    assert not loaded.source.fallback
    assert "latitude 47.61" in loaded.source.description
    assert loaded.series.tolist() == [5.0, 6.0, 7.0, 8.0]  # the missing hour is interpolated
    assert loaded.series.index[0] == pd.Timestamp("2023-01-01 00:00")
    query = open_meteo.queries[0]
    assert query["hourly"] == ["temperature_2m"]
    assert query["start_date"] == ["2023-01-01"]
    assert query["timezone"] == ["UTC"]


def test_a_second_identical_request_is_served_from_the_cache(open_meteo):
    open_meteo.body = _hourly_answer([5.0, 6.0])
    first = load_temperatures(REQUEST, api_url=open_meteo.url)
    second = load_temperatures(REQUEST, api_url=open_meteo.url)
    assert len(open_meteo.queries) == 1
    assert second.series.equals(first.series)
    load_temperatures(REQUEST, api_url=open_meteo.url, use_cache=False)
    assert len(open_meteo.queries) == 2


def test_daily_requests_ask_for_the_daily_mean(open_meteo):
    open_meteo.body = {"daily": {"time": ["2023-01-01", "2023-01-02"], "temperature_2m_mean": [3.5, 4.0]}}
    request = TemperatureRequest(47.61, -122.33, date(2023, 1, 1), date(2023, 1, 2), frequency="daily")
    loaded = load_temperatures(request, api_url=open_meteo.url, fallback_to_sample=False)
    assert open_meteo.queries[0]["daily"] == ["temperature_2m_mean"]
    assert loaded.series.tolist() == [3.5, 4.0]


def test_a_rejected_request_passes_on_open_meteos_reason(open_meteo):
    open_meteo.status = 400
    open_meteo.body = {"error": True, "reason": "Parameter 'start_date' is out of allowed range"}
    with pytest.raises(WeatherDataError, match="rejected the request: Parameter 'start_date' is out of allowed"):
        load_temperatures(REQUEST, api_url=open_meteo.url)


def test_an_empty_answer_is_a_clear_error_not_a_fallback(open_meteo):
    open_meteo.body = {"hourly": {"time": [], "temperature_2m": []}}
    with pytest.raises(WeatherDataError, match=r"returned no hourly temperature_2m.*check the dates"):
        load_temperatures(REQUEST, api_url=open_meteo.url)


def test_a_server_error_without_fallback_names_the_status(open_meteo):
    open_meteo.status = 503
    open_meteo.body = "upstream down"
    with pytest.raises(WeatherSourceUnavailableError, match=r"answered HTTP 503: Service Unavailable$"):
        load_temperatures(REQUEST, api_url=open_meteo.url, fallback_to_sample=False)


def test_without_network_the_greensboro_sample_stands_in_and_the_reason_is_one_plain_sentence(closed_port_url):
    loaded = load_temperatures(REQUEST, api_url=closed_port_url)
    assert loaded.source.used == "sample: greensboro"
    assert loaded.source.requested == "open-meteo: latitude 47.61, longitude -122.33, 2023-01-01..2023-01-01, hourly"
    assert loaded.source.fallback_reason == (
        "Open-Meteo could not be reached (no network), so the shipped greensboro sample stood in for the "
        "requested place and dates."
    )
    assert "Greensboro, NC" in loaded.source.description
    assert len(loaded.series) == 8760
    assert list(loaded.variables.columns) == list(WEATHER_VARIABLES)


def test_without_network_a_named_sample_stands_in(closed_port_url):
    loaded = load_temperatures(REQUEST, api_url=closed_port_url, sample="seattle")
    assert loaded.source.used == "sample: seattle"
    assert loaded.series.index[0] == pd.Timestamp("2010-01-01 00:00")
    assert loaded.variables.columns.empty


def test_a_silent_server_times_out(silent_url):
    with pytest.raises(WeatherSourceUnavailableError, match=r"did not answer within 0\.3 s"):
        load_temperatures(REQUEST, api_url=silent_url, fallback_to_sample=False, timeout_s=0.3)


def test_greensboro_sample_is_a_typical_year_of_real_hourly_weather():
    frame = read_sample("greensboro", "hourly")
    assert len(frame) == 8760
    assert frame.index[0] == pd.Timestamp("2001-01-01 00:00")
    assert frame.index[-1] == pd.Timestamp("2001-12-31 23:00")
    assert list(frame.columns) == ["temperature", *WEATHER_VARIABLES]
    assert frame.iloc[0]["temperature"] == 10.0  # the file's first row, 1988-01-01 00:00
    assert frame.iloc[0]["dew_point_c"] == 6.1
    # Real weather, not climate normals: the same hour a day apart often differs by several degrees.
    day_to_day = (frame["temperature"] - frame["temperature"].shift(24)).abs().mean()
    assert day_to_day > 2.5


def test_greensboro_has_no_daily_sample():
    with pytest.raises(WeatherDataError, match="the greensboro sample has no daily data"):
        read_sample("greensboro", "daily")


def test_hourly_sample_is_seattle_2010_in_celsius():
    series = read_sample("seattle", "hourly")["temperature"]
    assert series.index[0] == pd.Timestamp("2010-01-01 00:00")
    assert series.index[-1] == pd.Timestamp("2010-12-31 23:00")
    assert (series.index.to_series().diff().dropna() == pd.Timedelta(hours=1)).all()  # the DST hole is filled
    assert series.iloc[0] == pytest.approx((39.4 - 32) * 5 / 9)
    assert 2 < series.mean() < 20


def test_daily_sample_is_the_mean_of_max_and_min():
    series = read_sample("seattle", "daily")["temperature"]
    assert len(series) == 1461
    assert series.iloc[0] == pytest.approx((12.8 + 5.0) / 2)


def test_a_long_gap_is_refused():
    index = pd.date_range("2023-01-01", periods=20, freq="h")
    values = pd.Series([1.0] * 2 + [np.nan] * 10 + [2.0] * 8, index=index)
    with pytest.raises(WeatherDataError, match="gap of 10 steps"):
        regularize(values, "hourly")
