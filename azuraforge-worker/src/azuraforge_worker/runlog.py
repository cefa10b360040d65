"""Everything a run writes, kept in its run.log and streamed live as log events.

While `capture_run_output` is active, what the training thread writes reaches the run's log: records of every
Python logger (at INFO and above), `print` and anything else written to sys.stdout / sys.stderr, and warnings.
The runner logs a failure's traceback inside it, so that ends up there too. Output of other threads (the event
publisher, the heartbeat) goes where it went before.

Each line goes to the file at once; a background thread sends the new lines as one log event every
FLUSH_INTERVAL_S. At most LINES_PER_S lines a second are sent live: the rest of that second's lines are held
back and announced, once the second is over, by a single event counting them (the file has them all), so a
chatty app cannot flood Redis.
"""

import contextlib
import logging
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from azuraforge_common.events import LogEvent

LINES_PER_S = 50
FLUSH_INTERVAL_S = 0.25
MAX_LIVE_LINE = 2000
"""Characters of one line sent live; the file keeps the whole line."""


class RunLog:
    """The run.log file and the live stream of its lines; `write` is thread-safe and never waits on Redis."""

    def __init__(
        self,
        path: Path,
        experiment_id: str,
        emit: Callable[[LogEvent], None],
        lines_per_s: int = LINES_PER_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.experiment_id = experiment_id
        self._emit = emit
        self._lines_per_s = lines_per_s
        self._clock = clock
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("w", encoding="utf-8", errors="replace")
        self._lock = threading.Lock()
        self._written = 0
        self._pending: list[str] = []
        self._pending_from = 1
        self._window_start = clock()
        self._sent_in_window = 0
        self._held_from = 0
        self._held = 0
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._flush_forever, name="azuraforge-run-log", daemon=True)
        self._thread.start()

    def write(self, source: str, level: str, text: str) -> None:
        """Appends `text` (one or more lines) as lines stamped with the time, level and source."""
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
        lines = [f"{stamp} {level} {source}: {line}" for line in text.rstrip("\n").split("\n")]
        with self._lock:
            if self._file.closed:
                return
            # Whole lines in one write: a reader of the growing file never sees half a line as a whole one.
            self._file.write("".join(f"{line}\n" for line in lines))
            self._file.flush()
            if not self._pending:
                self._pending_from = self._written + 1
            self._written += len(lines)
            self._pending.extend(lines)

    def close(self) -> None:
        """Sends what is left (and the count of what was held back), then closes the file."""
        self._closed.set()
        self._thread.join()
        self._flush(final=True)
        with self._lock:
            self._file.close()

    def _flush_forever(self) -> None:
        while not self._closed.wait(FLUSH_INTERVAL_S):
            self._flush(final=False)

    def _flush(self, final: bool) -> None:
        with self._lock:
            lines, first = self._pending, self._pending_from
            self._pending = []
        now = self._clock()
        if now - self._window_start >= 1.0:
            self._announce_held_back()
            self._window_start, self._sent_in_window = now, 0
        if lines:
            room = max(self._lines_per_s - self._sent_in_window, 0)
            sent = lines[:room]
            if sent:
                self._sent_in_window += len(sent)
                self._emit(LogEvent(experiment_id=self.experiment_id, first_line=first, lines=[_cut(x) for x in sent]))
            if len(lines) > len(sent):
                if not self._held:
                    self._held_from = first + len(sent)
                self._held += len(lines) - len(sent)
        if final:
            self._announce_held_back()

    def _announce_held_back(self) -> None:
        if self._held:
            self._emit(
                LogEvent(experiment_id=self.experiment_id, first_line=self._held_from, lines=[], held_back=self._held)
            )
            self._held = 0


def _cut(line: str) -> str:
    return line if len(line) <= MAX_LIVE_LINE else f"{line[:MAX_LIVE_LINE]}… ({len(line)} characters in run.log)"


class _Handler(logging.Handler):
    """Logging records of the training thread, into the run log."""

    def __init__(self, run_log: RunLog, thread_id: int) -> None:
        super().__init__(logging.INFO)
        self.run_log = run_log
        self.thread_id = thread_id
        self.setFormatter(logging.Formatter("%(message)s"))

    def filter(self, record: logging.LogRecord) -> bool:
        return record.thread == self.thread_id

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.run_log.write(record.name, record.levelname, self.format(record))
        except Exception:
            self.handleError(record)


class _Stream:
    """Stands in for sys.stdout or sys.stderr: whole lines written by the training thread go to the run log,
    whatever other threads write goes to the stream it replaced."""

    def __init__(self, run_log: RunLog, name: str, level: str, replaced: TextIO, thread_id: int) -> None:
        self.run_log = run_log
        self.name = name
        self.level = level
        self.replaced = replaced
        self.thread_id = thread_id
        self.partial = ""

    def write(self, text: str) -> int:
        if threading.get_ident() != self.thread_id:
            return self.replaced.write(text)
        complete, _, self.partial = (self.partial + text).rpartition("\n")
        if complete:
            self.run_log.write(self.name, self.level, complete)
        return len(text)

    def flush(self) -> None:
        if threading.get_ident() == self.thread_id and self.partial:
            self.run_log.write(self.name, self.level, self.partial)
            self.partial = ""

    def isatty(self) -> bool:
        return False

    def __getattr__(self, name: str) -> object:
        return getattr(self.replaced, name)


@contextlib.contextmanager
def capture_run_output(run_log: RunLog) -> Iterator[None]:
    """Sends what the calling thread logs, prints and warns to `run_log` until the block ends."""
    thread_id = threading.get_ident()
    root = logging.getLogger()
    handler = _Handler(run_log, thread_id)
    level = root.level
    stdout = _Stream(run_log, "stdout", "INFO", sys.stdout, thread_id)
    stderr = _Stream(run_log, "stderr", "ERROR", sys.stderr, thread_id)

    def show_warning(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        run_log.write("warnings", "WARNING", warnings.formatwarning(message, category, filename, lineno, line))

    root.addHandler(handler)
    root.setLevel(min(level, logging.INFO))  # NOTSET (0) already lets everything through
    sys.stdout, sys.stderr = stdout, stderr
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.showwarning = show_warning
            yield
    finally:
        stdout.flush()
        stderr.flush()
        sys.stdout, sys.stderr = stdout.replaced, stderr.replaced
        root.setLevel(level)
        root.removeHandler(handler)
