import datetime as dt
import time
from pathlib import Path

import pandas as pd
import pytest

from azuraforge_learner.cache import cache_key, cache_path, cached


class Source:
    """A data source that counts how often it is reached."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> pd.DataFrame:
        self.calls += 1
        return pd.DataFrame({"close": [1.0, 2.0, 3.0]}, index=pd.date_range("2024-01-01", periods=3))


PARAMS = {"ticker": "AAPL", "interval": "1d", "start": dt.date(2024, 1, 1)}


def test_the_second_call_with_the_same_parameters_does_not_reach_the_source(tmp_path):
    source = Source()
    first = cached("prices", PARAMS, source, cache_dir=tmp_path)
    second = cached("prices", dict(reversed(list(PARAMS.items()))), source, cache_dir=tmp_path)
    assert source.calls == 1
    pd.testing.assert_frame_equal(first, second)
    cached("prices", {**PARAMS, "ticker": "MSFT"}, source, cache_dir=tmp_path)
    cached("other", PARAMS, source, cache_dir=tmp_path)
    assert source.calls == 3


def test_keys_are_canonical_sha256():
    assert cache_key("ns", {"a": 1, "b": [1, 2]}) == cache_key("ns", {"b": [1, 2], "a": 1})
    assert cache_key("ns", {"a": 1}) != cache_key("ns", {"a": 1.5})
    assert len(cache_key("ns", {})) == 64
    with pytest.raises(TypeError, match="no canonical form"):
        cache_key("ns", {"a": object()})


def test_an_entry_older_than_max_age_is_reloaded(tmp_path, monkeypatch):
    source = Source()
    cached("prices", PARAMS, source, max_age=dt.timedelta(hours=1), cache_dir=tmp_path)
    cached("prices", PARAMS, source, max_age=dt.timedelta(hours=1), cache_dir=tmp_path)
    assert source.calls == 1
    later = time.time() + 2 * 3600
    monkeypatch.setattr(time, "time", lambda: later)
    cached("prices", PARAMS, source, max_age=dt.timedelta(hours=1), cache_dir=tmp_path)
    assert source.calls == 2
    cached("prices", PARAMS, source, max_age=None, cache_dir=tmp_path)
    assert source.calls == 2


@pytest.mark.parametrize("content", [b"", b"not a pickle at all", b"\x80\x05K\x01."])
def test_a_corrupt_entry_is_a_miss_and_is_rewritten(tmp_path, content):
    source = Source()
    path = cache_path("prices", PARAMS, tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    frame = cached("prices", PARAMS, source, cache_dir=tmp_path)
    assert source.calls == 1
    assert len(frame) == 3
    cached("prices", PARAMS, source, cache_dir=tmp_path)
    assert source.calls == 1


def test_the_bypass_switches_never_read_or_write(tmp_path, monkeypatch):
    source = Source()
    cached("prices", PARAMS, source, cache_dir=tmp_path, enabled=False)
    cached("prices", PARAMS, source, cache_dir=tmp_path, enabled=False)
    monkeypatch.setenv("AZURAFORGE_NO_CACHE", "1")
    cached("prices", PARAMS, source, cache_dir=tmp_path)
    assert source.calls == 3
    assert list(tmp_path.iterdir()) == []


def test_the_environment_chooses_the_directory_and_no_temporary_file_is_left(tmp_path, monkeypatch):
    monkeypatch.setenv("AZURAFORGE_CACHE_DIR", str(tmp_path / "env-cache"))
    cached("prices", PARAMS, Source())
    files = [path.relative_to(tmp_path) for path in tmp_path.rglob("*") if path.is_file()]
    assert files == [Path("env-cache") / "prices" / f"{cache_key('prices', PARAMS)}.pkl"]


def test_a_failing_loader_stores_nothing(tmp_path):
    def offline() -> pd.DataFrame:
        raise ConnectionError("no network")

    with pytest.raises(ConnectionError):
        cached("prices", PARAMS, offline, cache_dir=tmp_path)
    assert not any(path.is_file() for path in tmp_path.rglob("*"))
    with pytest.raises(TypeError, match="must return a pandas DataFrame"):
        cached("prices", PARAMS, lambda: [1, 2], cache_dir=tmp_path)  # type: ignore[arg-type, return-value]
    assert not any(path.is_file() for path in tmp_path.rglob("*"))
