"""Events waiting for Redis, on disk: what a worker could not publish survives the worker's restart.

A SQLite file per worker name, one row per event in the order it was emitted, each with its publisher's id and
number, so replaying it after a restart (or after a reply lost on the way back from Redis) publishes every event
exactly once (`azuraforge_common.publish.publish_once`).
"""

import logging
import sqlite3
from pathlib import Path
from typing import NamedTuple

log = logging.getLogger(__name__)


class SpooledEvent(NamedTuple):
    row: int
    publisher: str
    number: int
    event: str
    """The event's JSON, stamped with its ts when it was emitted."""


class EventSpool:
    """A bounded first-in, first-out store of events. Used from one thread (the publisher's)."""

    def __init__(self, path: Path, max_events: int = 100_000) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_events = max_events
        # Autocommit: every append and remove is its own transaction. synchronous=NORMAL in WAL mode survives a
        # killed process; only a power cut may lose the last few events.
        self._db = sqlite3.connect(path, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS events "
            "(row INTEGER PRIMARY KEY AUTOINCREMENT, publisher TEXT NOT NULL, number INTEGER NOT NULL, "
            "event TEXT NOT NULL)"
        )
        self.size = self._count()

    def append(self, publisher: str, number: int, event: str) -> bool:
        """Keeps the event, or returns False when the spool is full (the event is then lost, and logged)."""
        if self.size >= self.max_events:
            log.error("dropped event %d of %s: %d events are waiting for Redis already", number, publisher, self.size)
            return False
        self._db.execute("INSERT INTO events (publisher, number, event) VALUES (?, ?, ?)", (publisher, number, event))
        self.size += 1
        return True

    def oldest(self) -> SpooledEvent | None:
        row = self._db.execute("SELECT row, publisher, number, event FROM events ORDER BY row LIMIT 1").fetchone()
        return None if row is None else SpooledEvent(*row)

    def remove(self, row: int) -> None:
        self._db.execute("DELETE FROM events WHERE row = ?", (row,))
        self.size = self._count()

    def close(self) -> None:
        self._db.close()

    def _count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM events").fetchone()[0])
