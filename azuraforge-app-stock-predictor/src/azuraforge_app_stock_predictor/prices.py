"""Prices of one ticker: downloaded with yfinance, or read from the S&P 500 sample shipped with the app.

`load_prices` is the one entry point. It says which source it used (and why) in `Prices.source`, the learner's
DataSource, so the run record can tell a reader whether a run saw live data or the offline sample.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import queue
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from importlib import resources
from typing import Literal, NoReturn, TypeVar

import pandas as pd
import yfinance as yf
from yfinance.exceptions import YFException, YFInvalidPeriodError, YFRateLimitError, YFTickerMissingError

from azuraforge_learner import DataSource
from azuraforge_learner.cache import cached
from azuraforge_learner.datasets import LocalDataset

log = logging.getLogger(__name__)

PRICE_COLUMNS = ("Open", "High", "Low", "Close", "Volume")
SAMPLE_FILE = "sp500-daily-1999-2018.csv.gz"
SAMPLE_TICKER = "^GSPC"
SAMPLE_INTERVALS = {"1d": None, "1wk": "W-FRI", "1mo": "MS"}
PERIOD_PATTERN = r"^(\d+(d|wk|mo|y)|ytd|max)$"
# Yahoo! re-adjusts past prices after splits and dividends, so even old ranges are refreshed twice a day.
CACHE_MAX_AGE = timedelta(hours=12)

Source = Literal["yfinance", "sample"]
T = TypeVar("T")

# yfinance's error switch is process-wide: one download at a time flips it.
_yfinance_lock = threading.Lock()


class PriceDataError(ValueError):
    """The request yields no prices (unknown ticker, empty date range); the message says what to change."""


class PriceSourceUnavailableError(ConnectionError):
    """yfinance could not be reached or refused to answer (no network, timeout, rate limit). `reason` says so in
    one plain sentence for the run record; the message keeps the technical detail for logs."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class PriceRequest:
    """What to load. Without `start`, `period` counts back from `end` (default: today; for the sample, its last
    day); None means all there is. `end` is exclusive, as in yfinance."""

    ticker: str
    interval: str = "1d"
    period: str | None = "5y"
    start: date | None = None
    end: date | None = None


@dataclass(frozen=True)
class Prices:
    frame: pd.DataFrame  # DatetimeIndex (tz-naive), float columns PRICE_COLUMNS, oldest first
    source: DataSource


def load_prices(
    request: PriceRequest,
    source: Source = "yfinance",
    *,
    fallback_to_sample: bool = True,
    timeout_s: float = 10.0,
    use_cache: bool = True,
) -> Prices:
    """Prices for `request` from `source`. Downloads go through the learner's on-disk cache. When yfinance is
    unreachable and `fallback_to_sample` is set, the shipped S&P 500 sample is used instead; an unknown ticker
    or an empty range is an error either way."""
    requested = f"{source}: {_describe(request)}"
    if source == "sample":
        frame = select_sample(request)
        return Prices(frame, DataSource(requested=requested, used="sample", description=sample_description()))
    try:
        frame = cached(
            "yfinance-prices",
            asdict(request),
            functools.partial(download, request, timeout_s=timeout_s),
            max_age=CACHE_MAX_AGE,
            enabled=use_cache,
        )
    except PriceSourceUnavailableError as exc:
        if not fallback_to_sample:
            raise
        log.warning("yfinance unavailable (%s); using the shipped %s sample instead", exc, SAMPLE_TICKER)
        try:
            frame = select_sample(request)
        except PriceDataError as sample_error:
            raise PriceSourceUnavailableError(
                f"yfinance was unreachable ({exc}) and the shipped sample can't stand in: {sample_error}", exc.reason
            ) from sample_error
        instead = "" if request.ticker == SAMPLE_TICKER else f" instead of {request.ticker}"
        reason = f"{exc.reason}, so the shipped {SAMPLE_TICKER} sample stood in{instead}."
        return Prices(
            frame,
            DataSource(requested=requested, used="sample", description=sample_description(), fallback_reason=reason),
        )
    description = f"{request.ticker} from Yahoo! Finance at interval {request.interval}, split- and dividend-adjusted"
    return Prices(frame, DataSource(requested=requested, used="yfinance", description=description))


def download(request: PriceRequest, *, timeout_s: float) -> pd.DataFrame:
    """OHLCV from Yahoo! Finance through yfinance, split- and dividend-adjusted, within `timeout_s` seconds."""
    first: dict[str, object] = (
        {"start": request.start} if request.start is not None else {"period": request.period or "max"}
    )
    span = {**first, "end": request.end}

    def history() -> pd.DataFrame:
        with _yfinance_lock, _yfinance_raises():
            ticker = yf.Ticker(request.ticker)
            frame: pd.DataFrame = ticker.history(interval=request.interval, timeout=timeout_s, auto_adjust=True, **span)
            return frame

    try:
        frame = _call_with_deadline(history, timeout_s)
    except YFTickerMissingError as exc:
        raise PriceDataError(
            f"yfinance has no prices for ticker {request.ticker!r} ({exc}); check the ticker symbol "
            "(e.g. AAPL, MSFT, ^GSPC) and that the dates fall on trading days"
        ) from exc
    except YFInvalidPeriodError as exc:
        raise PriceDataError(f"yfinance rejected period {request.period!r}: {exc}") from exc
    except YFRateLimitError as exc:
        raise PriceSourceUnavailableError(
            f"could not download {request.ticker!r}: {exc}", "Yahoo! Finance refused the download (too many requests)"
        ) from exc
    except OSError as exc:
        raise PriceSourceUnavailableError(
            f"could not download {request.ticker!r}: {exc}", "yfinance could not reach Yahoo! Finance (no network)"
        ) from exc
    except YFException as exc:
        raise PriceSourceUnavailableError(
            f"yfinance failed for {request.ticker!r}: {exc}", "yfinance failed to download the prices"
        ) from exc
    return clean_prices(frame, request)


def clean_prices(frame: pd.DataFrame, request: PriceRequest) -> pd.DataFrame:
    """Keep OHLCV as floats on a tz-naive index, drop incomplete rows; empty means the request matched nothing."""
    if frame.empty or not set(PRICE_COLUMNS) <= set(frame.columns):
        raise PriceDataError(f"no prices for {_describe(request)}; {_empty_hint(request)}")
    prices = frame.loc[:, list(PRICE_COLUMNS)].astype("float64").dropna()
    if prices.empty:
        raise PriceDataError(f"only incomplete price rows for {_describe(request)}; {_empty_hint(request)}")
    index = pd.DatetimeIndex(prices.index)
    prices.index = index.tz_localize(None) if index.tz is not None else index
    prices.index.name = "Date"
    return prices.sort_index()


def uploaded_prices(dataset: LocalDataset) -> Prices:
    """An uploaded CSV of daily or intraday bars (columns Date and PRICE_COLUMNS), used whole."""
    frame = pd.read_csv(dataset.path)
    try:
        frame.index = pd.DatetimeIndex(pd.to_datetime(frame.pop("Date")), name="Date")
    except (ValueError, TypeError) as exc:
        raise PriceDataError(
            f"the Date column of dataset {dataset.ref.name!r} cannot be read as dates ({exc}); use e.g. 2018-12-31"
        ) from None
    prices = frame.loc[:, list(PRICE_COLUMNS)].astype("float64").dropna()
    if len(prices) < 2:
        raise PriceDataError(f"dataset {dataset.ref.name!r} has fewer than two complete OHLCV rows")
    index = pd.DatetimeIndex(prices.index)
    prices.index = index.tz_localize(None) if index.tz is not None else index
    name = dataset.ref.name
    source = DataSource(
        requested=f"uploaded: {name}",
        used=f"uploaded: {name}",
        description=f"uploaded dataset {name!r} (sha256 {dataset.ref.sha256[:12]})",
        dataset=dataset.ref,
    )
    return Prices(prices.sort_index(), source)


def read_sample() -> pd.DataFrame:
    """The whole shipped sample: S&P 500 daily OHLCV, 1999-01-04 to 2018-12-31 (5,031 trading days)."""
    with (resources.files(__package__) / "sample_data" / SAMPLE_FILE).open("rb") as handle:
        frame = pd.read_csv(handle, compression="gzip")
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame.pop("Date"), format="%m/%d/%Y"), name="Date")
    return frame.loc[:, list(PRICE_COLUMNS)].astype("float64")


def sample_description() -> str:
    return f"S&P 500 ({SAMPLE_TICKER}) daily OHLCV 1999-01-04..2018-12-31 from Yahoo! Finance"


def select_sample(request: PriceRequest) -> pd.DataFrame:
    """The part of the sample the request asks for, with yfinance's meaning of start, end and period."""
    if request.interval not in SAMPLE_INTERVALS:
        raise PriceDataError(
            f"the shipped sample is daily data, so interval {request.interval!r} is not available offline; "
            f"use one of {', '.join(SAMPLE_INTERVALS)}"
        )
    frame = read_sample()
    # yfinance treats `end` as exclusive; the sample does the same.
    last = frame.index[-1] if request.end is None else pd.Timestamp(request.end) - pd.Timedelta(days=1)
    if request.start is not None:
        first = pd.Timestamp(request.start)
    elif request.period not in (None, "max"):
        first = period_start(request.period, min(last, frame.index[-1]))
    else:
        first = frame.index[0]
    frame = frame.loc[first:last]
    rule = SAMPLE_INTERVALS[request.interval]
    if rule is not None and not frame.empty:
        aggregation = {"Open": "first", "High": "max", "Low": "min", "Close": "last", "Volume": "sum"}
        frame = frame.resample(rule).agg(aggregation).dropna()
    return clean_prices(frame, request)


def period_start(period: str, last: pd.Timestamp) -> pd.Timestamp:
    """First day of a yfinance-style period ("5d", "3mo", "2y", "ytd") that ends on `last`."""
    if period == "ytd":
        return pd.Timestamp(year=last.year, month=1, day=1)
    match = re.fullmatch(r"(\d+)(d|wk|mo|y)", period)
    if match is None:
        raise PriceDataError(f"period {period!r} is not one of 1d, 5d, 1mo, 3mo, 6mo, 1y, 2y, 5y, 10y, ytd, max")
    count, unit = int(match.group(1)), match.group(2)
    offsets = {
        "d": pd.DateOffset(days=count),
        "wk": pd.DateOffset(weeks=count),
        "mo": pd.DateOffset(months=count),
        "y": pd.DateOffset(years=count),
    }
    return last - offsets[unit]


def _call_with_deadline(call: Callable[[], T], seconds: float) -> T:
    """yfinance makes several requests per download (cookie, crumb, timezone, prices), each with its own
    timeout, so a silent network can stall it for minutes; this bounds the whole download. A call that
    overruns is left to finish in a daemon thread."""
    outcome: queue.Queue[Callable[[], T]] = queue.Queue(maxsize=1)

    def target() -> None:
        try:
            value = call()
        except BaseException as exc:  # re-raised in the caller's thread
            outcome.put(functools.partial(_reraise, exc))
        else:
            outcome.put(lambda: value)

    threading.Thread(target=target, name="yfinance-download", daemon=True).start()
    try:
        result = outcome.get(timeout=seconds)
    except queue.Empty:
        message = f"yfinance did not answer within {seconds:g} s"
        raise PriceSourceUnavailableError(message, message) from None
    return result()


def _reraise(exc: BaseException) -> NoReturn:
    raise exc


@contextlib.contextmanager
def _yfinance_raises() -> Iterator[None]:
    """yfinance logs and swallows errors by default, which makes a network failure look like an unknown
    ticker; ask it to raise instead, for the duration of one call."""
    previous = yf.config.debug.hide_exceptions
    yf.config.debug.hide_exceptions = False
    try:
        yield
    finally:
        yf.config.debug.hide_exceptions = previous


def _describe(request: PriceRequest) -> str:
    if request.start is not None or request.end is not None:
        span = f"from {request.start or 'the beginning'} to {request.end or 'today'}"
    else:
        span = f"over period {request.period}"
    return f"ticker {request.ticker!r} {span} at interval {request.interval}"


def _empty_hint(request: PriceRequest) -> str:
    if request.start is not None or request.end is not None:
        return "widen the start/end range so that it covers trading days, or check the ticker symbol"
    return "check the ticker symbol or choose a longer period"
