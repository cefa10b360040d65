"""Engines and sessions for SQLite (the default, one file in the data directory) and PostgreSQL."""

import json
import math
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_POOL_SIZE = 40
"""anyio's default thread pool size, which runs FastAPI's sync routes."""


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def dumps_json(value: Any) -> str:
    """JSON for the database: NaN and infinity (a diverged loss) become null, which every database accepts."""
    return json.dumps(_finite(value), allow_nan=False)


def create_db_engine(database_url: str, timeout_s: float = 10.0) -> Engine:
    """An engine that survives a database server restart (pre-ping) and never makes a caller wait longer than
    `timeout_s` for a pooled connection or (SQLite) for the write lock: it raises instead, which the API turns
    into a 503 with Retry-After.

    On SQLite, WAL lets readers run while one connection writes; synchronous=NORMAL is WAL's safe setting and
    spares an fsync per commit; the pool is as big as the API's thread pool, so concurrent requests wait for
    the write lock (short: every write is one statement and a commit), not for a connection. No pre-ping there:
    a file has no server that could have dropped the connection, and the ping was a query per checkout."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, pool_timeout=timeout_s, json_serializer=dumps_json)
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        pool_size=SQLITE_POOL_SIZE,
        max_overflow=0,
        pool_timeout=timeout_s,
        json_serializer=dumps_json,
        connect_args={"check_same_thread": False, "timeout": timeout_s},
    )

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(timeout_s * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
