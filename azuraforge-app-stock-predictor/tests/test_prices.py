"""Loading prices: the shipped sample, yfinance's failure modes, and the fallback between them.

The network path is exercised without the internet: yfinance is sent through an HTTPS proxy on 127.0.0.1
that refuses connections (no network) or accepts them and never answers (a stalled network).
"""

from datetime import date

import pandas as pd
import pytest
from azuraforge_app_stock_predictor.prices import (
    PRICE_COLUMNS,
    PriceDataError,
    PriceRequest,
    PriceSourceUnavailableError,
    clean_prices,
    load_prices,
    read_sample,
    select_sample,
)


def test_the_sample_is_the_whole_sp500_series():
    frame = read_sample()
    assert list(frame.columns) == list(PRICE_COLUMNS)
    assert len(frame) == 5031
    assert frame.index[0] == pd.Timestamp("1999-01-04")
    assert frame.index[-1] == pd.Timestamp("2018-12-31")
    assert frame.index.is_monotonic_increasing
    assert (frame["High"] >= frame["Low"]).all()


def test_a_period_counts_back_from_the_last_day_of_the_sample():
    frame = select_sample(PriceRequest("^GSPC", period="1y"))
    assert frame.index[-1] == pd.Timestamp("2018-12-31")
    assert pd.Timestamp("2017-12-31") <= frame.index[0] <= pd.Timestamp("2018-01-05")
    assert 245 <= len(frame) <= 255  # about one year of trading days


def test_a_period_counts_back_from_end_when_end_is_set():
    frame = select_sample(PriceRequest("^GSPC", period="1mo", end=date(2010, 7, 1)))
    assert frame.index[-1] == pd.Timestamp("2010-06-30")
    assert pd.Timestamp("2010-05-30") <= frame.index[0] <= pd.Timestamp("2010-06-02")


def test_start_is_inclusive_and_end_exclusive_like_yfinance():
    frame = select_sample(PriceRequest("^GSPC", start=date(2018, 1, 2), end=date(2018, 1, 5)))
    assert list(frame.index) == [pd.Timestamp("2018-01-02"), pd.Timestamp("2018-01-03"), pd.Timestamp("2018-01-04")]


def test_weekly_sample_bars_aggregate_the_days():
    daily = select_sample(PriceRequest("^GSPC", start=date(2018, 1, 1), end=date(2018, 3, 1)))
    weekly = select_sample(PriceRequest("^GSPC", interval="1wk", start=date(2018, 1, 1), end=date(2018, 3, 1)))
    assert len(weekly) < len(daily)
    assert weekly["High"].max() == daily["High"].max()
    assert weekly["Volume"].sum() == pytest.approx(daily["Volume"].sum())
    assert weekly["Close"].iloc[-1] == daily["Close"].iloc[-1]


def test_a_date_range_without_trading_days_is_a_clear_error():
    # 2018-01-06 and 07 are a weekend.
    with pytest.raises(PriceDataError, match="widen the start/end range"):
        select_sample(PriceRequest("^GSPC", start=date(2018, 1, 6), end=date(2018, 1, 8)))


def test_intraday_intervals_are_not_in_the_daily_sample():
    with pytest.raises(PriceDataError, match="interval '1h' is not available offline"):
        select_sample(PriceRequest("^GSPC", interval="1h"))


def test_an_empty_yfinance_frame_is_named_as_no_prices():
    # yfinance answers an unknown ticker with an empty frame when it hides its errors.
    with pytest.raises(PriceDataError, match=r"no prices for ticker 'NOPE\.X'.*check the ticker symbol"):
        clean_prices(pd.DataFrame(), PriceRequest("NOPE.X"))


def test_the_sample_source_says_so():
    prices = load_prices(PriceRequest("^GSPC", period="2y"), source="sample")
    assert prices.source.used == "sample"
    assert not prices.source.fallback
    assert "2018-12-31" in prices.source.description


@pytest.mark.usefixtures("refused_proxy")
def test_without_network_the_run_falls_back_to_the_sample_and_says_why():
    prices = load_prices(PriceRequest("AAPL", period="1y"), timeout_s=10)
    assert prices.source.used == "sample"
    assert prices.source.fallback_reason is not None
    assert "Errno" not in prices.source.fallback_reason, "the reason is a plain sentence, not raw error text"
    assert prices.source.fallback_reason.endswith("instead of AAPL.")
    assert prices.frame.index[-1] == pd.Timestamp("2018-12-31")


@pytest.mark.usefixtures("refused_proxy")
def test_without_network_a_request_outside_the_sample_says_both_reasons():
    with pytest.raises(PriceSourceUnavailableError, match=r"yfinance was unreachable .* can't stand in: no prices"):
        load_prices(PriceRequest("AAPL", start=date(2021, 1, 1)), timeout_s=10)


@pytest.mark.usefixtures("refused_proxy")
def test_without_network_and_without_fallback_the_error_names_the_ticker():
    with pytest.raises(PriceSourceUnavailableError, match="could not download 'AAPL'"):
        load_prices(PriceRequest("AAPL"), fallback_to_sample=False, timeout_s=10)


@pytest.mark.usefixtures("silent_proxy")
def test_a_stalled_network_ends_at_the_deadline():
    with pytest.raises(PriceSourceUnavailableError, match=r"did not answer within 0\.5 s"):
        load_prices(PriceRequest("MSFT"), fallback_to_sample=False, timeout_s=0.5)
