"""An on-disk cache for data-loading calls (downloads, slow reads) that return a pandas DataFrame.

    params = {"ticker": "AAPL", "interval": "1d", "start": start}
    frame = cached("yfinance", params, lambda: download(**params), max_age=timedelta(hours=12))

The key is the sha256 of the canonical JSON of (namespace, params), so equal parameters hit the same file
whatever their order. Entries are pickles written atomically; an entry older than `max_age` is refreshed and an
unreadable one is treated as a miss and overwritten. Environment:
AZURAFORGE_CACHE_DIR (default ~/.cache/azuraforge) and AZURAFORGE_NO_CACHE=1 (bypass: always call the loader).
Pickles execute code when read, so the cache directory must only be writable by you (the default is).
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
import logging
import os
import pickle
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from azuraforge_learner.artifacts import atomic_write

log = logging.getLogger(__name__)

CACHE_DIR_ENV = "AZURAFORGE_CACHE_DIR"
NO_CACHE_ENV = "AZURAFORGE_NO_CACHE"


def default_cache_dir() -> Path:
    configured = os.environ.get(CACHE_DIR_ENV)
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "azuraforge"


def cache_enabled() -> bool:
    return os.environ.get(NO_CACHE_ENV, "").strip().lower() not in ("1", "true", "yes")


def _canonical(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    raise TypeError(
        f"cache parameter value {value!r} of type {type(value).__name__} has no canonical form; "
        "pass strings, numbers, booleans, None, dates, lists or dicts of them"
    )


def cache_key(namespace: str, params: Mapping[str, Any]) -> str:
    """sha256 hex digest of the canonical JSON of (namespace, params)."""
    canonical = json.dumps(
        {"namespace": namespace, "params": dict(params)},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        default=_canonical,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def cache_path(namespace: str, params: Mapping[str, Any], cache_dir: Path | None = None) -> Path:
    """Where the entry for these parameters lives."""
    safe_namespace = "".join(char if char.isalnum() or char in "-_." else "_" for char in namespace) or "default"
    root = cache_dir if cache_dir is not None else default_cache_dir()
    return root / safe_namespace / f"{cache_key(namespace, params)}.pkl"


def _read(path: Path, max_age: dt.timedelta | None) -> pd.DataFrame | None:
    """The cached frame, or None when the entry is missing, expired or unreadable."""
    try:
        with path.open("rb") as handle:
            entry = pickle.load(handle)
    except FileNotFoundError:
        return None
    except Exception as exc:  # a truncated or foreign file is a miss, never a crash
        log.warning("ignoring unreadable cache entry %s (%s); it will be rewritten", path, exc)
        return None
    if not (isinstance(entry, dict) and isinstance(entry.get("frame"), pd.DataFrame)):
        log.warning("ignoring cache entry %s: it does not hold a DataFrame; it will be rewritten", path)
        return None
    created = entry.get("created")
    if max_age is not None and (not isinstance(created, float) or time.time() - created > max_age.total_seconds()):
        return None
    frame: pd.DataFrame = entry["frame"]
    return frame


def cached(
    namespace: str,
    params: Mapping[str, Any],
    loader: Callable[[], pd.DataFrame],
    max_age: dt.timedelta | None = None,
    cache_dir: Path | None = None,
    enabled: bool = True,
) -> pd.DataFrame:
    """`loader()`'s result for `params`, from the cache when a fresh entry exists, else loaded and stored.

    `max_age=None` keeps entries forever; `enabled=False` (or AZURAFORGE_NO_CACHE=1) calls the loader and
    neither reads nor writes the cache.
    """
    if not (enabled and cache_enabled()):
        return loader()
    path = cache_path(namespace, params, cache_dir)
    frame = _read(path, max_age)
    if frame is not None:
        log.debug("cache hit %s %s", namespace, path.name)
        return frame
    frame = loader()
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"the loader cached under {namespace!r} must return a pandas DataFrame, got {type(frame)}")
    with atomic_write(path) as handle:
        pickle.dump({"created": time.time(), "params": dict(params), "frame": frame}, handle, pickle.HIGHEST_PROTOCOL)
    log.debug("cache miss %s: stored %s", namespace, path)
    return frame
