"""The worker's memory guard: how much memory a run needs, how much this worker has free, and how much a run
took (its peak resident size above the worker's idle size), which later runs of the same app are judged by."""

import threading
from types import TracebackType

import psutil
from sqlalchemy import select
from sqlalchemy.orm import Session

from azuraforge_common.models import Experiment

MB = 1024 * 1024
LEARNED_FROM_RUNS = 5
"""A run is expected to need the most that any of its app's last this-many measured runs took."""
SAMPLE_INTERVAL_S = 0.2


class NotEnoughMemoryError(Exception):
    """The run needs more memory than this worker has free: another worker (or this one later) should take it."""


def free_memory_mb(limit_mb: int | None) -> int:
    """What this worker may still use: the machine's available memory, and at most `limit_mb`
    (AZURAFORGE_WORKER_MEMORY_MB) minus what the worker process already holds."""
    free = psutil.virtual_memory().available // MB
    if limit_mb is not None:
        free = min(free, limit_mb - psutil.Process().memory_info().rss // MB)
    return int(free)


def needed_memory_mb(session: Session, app: str, declared_mb: int | None) -> tuple[int, str] | None:
    """(MB, where the figure comes from) a run of `app` needs: what the app declares, else the most its last
    runs took; None when neither is known (the first run of an app is let through)."""
    if declared_mb is not None:
        return declared_mb, "declared by the app"
    recent = (
        select(Experiment.peak_rss_mb)
        .where(Experiment.app == app, Experiment.peak_rss_mb.is_not(None))
        .order_by(Experiment.finished_at.desc())
        .limit(LEARNED_FROM_RUNS)
    )
    peaks = [peak for peak in session.scalars(recent) if peak is not None]
    return (max(peaks), f"the most its last {len(peaks)} run(s) took") if peaks else None


class PeakMemory:
    """`with PeakMemory() as peak:` samples this process's resident size while the block runs; `peak.mb` is the
    most it grew above its size at the start."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self._start = self._process.memory_info().rss
        self._peak = self._start
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="azuraforge-memory", daemon=True)

    @property
    def mb(self) -> int:
        return max(0, self._peak - self._start) // MB

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stopped.set()
        self._thread.join()
        self._peak = max(self._peak, self._process.memory_info().rss)

    def _sample(self) -> None:
        while not self._stopped.wait(SAMPLE_INTERVAL_S):
            self._peak = max(self._peak, self._process.memory_info().rss)
