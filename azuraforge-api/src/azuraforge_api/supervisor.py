"""What `azuraforge up` does while the platform runs: keep every child it started (Redis, API, workers) alive."""

import signal
import subprocess
import sys
import time
from collections.abc import Callable

RESTART_DELAY_MIN_S = 0.5
RESTART_DELAY_MAX_S = 30.0
STABLE_AFTER_S = 60.0
"""A child that ran this long before exiting is restarted after the shortest delay again."""


class Child:
    """One supervised child process: restarted whenever it exits, after a delay that doubles with each quick
    exit (a crash loop backs off instead of spinning), with the reason logged."""

    def __init__(self, name: str, start: Callable[[], subprocess.Popen[bytes]]) -> None:
        self.name = name
        self._start = start
        self.process = start()
        self._started_at = time.monotonic()
        self._delay = RESTART_DELAY_MIN_S
        self._restart_at: float | None = None

    def check(self) -> None:
        """Notices an exit and restarts the child once its delay is over; call it every fraction of a second."""
        if self._restart_at is None and self.process.poll() is None:
            return
        now = time.monotonic()
        if self._restart_at is None:
            if now - self._started_at >= STABLE_AFTER_S:
                self._delay = RESTART_DELAY_MIN_S
            _log(f"{self.name} {exit_reason(self.process.returncode)}; restarting it in {self._delay:.1f} s")
            self._schedule(now)
        if self._restart_at is not None and now >= self._restart_at:
            try:
                self.process = self._start()
            except (OSError, RuntimeError, TimeoutError) as exc:
                _log(f"{self.name} could not be restarted ({exc}); trying again in {self._delay:.1f} s")
                self._schedule(now)
                return
            self._started_at, self._restart_at = time.monotonic(), None
            _log(f"{self.name} restarted (pid {self.process.pid})")

    def _schedule(self, now: float) -> None:
        self._restart_at = now + self._delay
        self._delay = min(self._delay * 2, RESTART_DELAY_MAX_S)


def exit_reason(returncode: int) -> str:
    if returncode < 0:
        return f"was killed by {signal.Signals(-returncode).name}"
    return f"exited with code {returncode}"


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
