"""Everything the routes talk to, built once per API process from the settings."""

import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import redis
from celery import Celery
from redis.asyncio import BlockingConnectionPool
from redis.asyncio import Redis as AsyncRedis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.driver_info import DriverInfo
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from azuraforge_api import accounts
from azuraforge_api.hub import EventHub
from azuraforge_common.artifacts import ArtifactStore
from azuraforge_common.database import create_db_engine, session_factory
from azuraforge_common.settings import Settings
from azuraforge_common.worker import celery_settings

if TYPE_CHECKING:
    from azuraforge_api.auth import Caller

PREDICT_SLOTS = 32
"""Predictions the API waits for at once (the model server computes them); more are refused with a 503."""
LIVE_THREADS = 2
"""Threads for the WebSocket routes' database reads. Each read is a millisecond or two, and a crowd joining a run
given a thread each (the shared pool's 40) made 40 threads take turns with the event loop for the GIL: the loop,
back from every system call, waited for its turn, up to most of a second, with live events queued behind it."""
JOINS_AT_ONCE = 4
"""WebSockets routed, admitted and sent their replay at once; the others wait for a slot before any of that. The
event loop runs one step of every ready task in turn, so 200 watchers joining together made each turn of the loop
200 steps long, and a live event arriving then waited for the whole turn."""

_DRIVER_INFO = DriverInfo()
"""What each Redis connection tells the server it is (CLIENT SETINFO), worked out once: left to redis-py, every new
connection parsed the package's metadata file again, 4-8 ms on the event loop, and a crowd of watchers joining at
once makes the pool open dozens."""
_CONNECTION_OPTIONS: dict[str, Any] = {
    "driver_info": _DRIVER_INFO,
    "max_connections": 50,
    "socket_timeout": 5,
    "socket_connect_timeout": 2,
    "health_check_interval": 15,
}


def _task_sender(settings: Settings) -> Celery:
    """A Celery app that only sends tasks, by name: the worker's code is never imported here."""
    celery = Celery("azuraforge")
    celery.conf.update(celery_settings(settings))
    return celery


def session_secret(settings: Settings) -> str:
    """AZURAFORGE_SESSION_SECRET, or a random one kept in the data directory (made on first use, owner-only)."""
    if settings.session_secret is not None:
        return settings.session_secret
    path: Path = settings.data_dir / "session-secret"
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with path.open("x", encoding="utf-8") as file:
                path.chmod(0o600)
                file.write(secrets.token_urlsafe(48))
        except FileExistsError:
            pass  # another API process made it first
        return path.read_text(encoding="utf-8").strip()


def _async_retry() -> AsyncRetry:
    return AsyncRetry(ExponentialBackoff(cap=0.5, base=0.05), 2)


@dataclass
class RecentCallers:
    """Callers verified lately by their API token (azuraforge_api.auth), by the token's digest, each until a
    deadline (Unix seconds): a client sending a call per logged value is not looked up in the database per call."""

    LIMIT = 10_000

    found: dict[str, tuple[float, "Caller"]] = field(default_factory=dict)

    def get(self, digest: str) -> "Caller | None":
        deadline, caller = self.found.get(digest, (0.0, None))
        return caller if deadline > time.time() else None

    def remember(self, digest: str, caller: "Caller", deadline: float) -> None:
        if len(self.found) >= self.LIMIT:
            self.found.clear()
        self.found[digest] = (deadline, caller)

    def forget(self) -> None:
        self.found.clear()


@dataclass
class Platform:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    redis: redis.Redis
    """For the REST routes, which FastAPI runs in its thread pool."""
    aredis: AsyncRedis
    """For the WebSocket routes and the event hub, on the event loop."""
    celery: Celery
    hub: EventHub
    serving: AsyncRedis
    """For waiting on the model server's replies: a pool of its own, so waits never starve the other routes."""
    predict_slots: anyio.CapacityLimiter
    live_threads: anyio.CapacityLimiter
    """Threads the WebSocket routes read the database on (LIVE_THREADS)."""
    joins: anyio.Semaphore
    """WebSockets being routed, admitted and sent their replay at once (JOINS_AT_ONCE; guard.JoinSlot)."""
    """How many predictions may wait on the model server at once (503 beyond)."""
    session_secret: str
    """Signs login sessions (azuraforge_api.auth)."""
    artifacts: ArtifactStore
    """Runs' and registered models' files: read them through azuraforge_api.files."""
    recent_callers: RecentCallers = field(default_factory=RecentCallers)
    _accounts_seen: bool | None = field(default=None, repr=False)

    def has_accounts(self) -> bool:
        """Whether any user account exists (then the API is no longer open). Accounts are deactivated, never
        deleted, so once seen this is remembered. With the database unreachable, the last answer stands (an
        unreachable database gains no account), so /health can still say what is wrong."""
        if not self._accounts_seen:
            try:
                with self.sessions() as session:
                    self._accounts_seen = accounts.any_user(session)
            except SQLAlchemyError:
                if self._accounts_seen is None:
                    raise  # never checked: nothing to fall back on
        return bool(self._accounts_seen)

    @classmethod
    def from_settings(cls, settings: Settings) -> "Platform":
        redis_url = settings.require_redis_url()
        engine = create_db_engine(settings.resolved_database_url, settings.database_timeout_s)
        # Short timeouts: with Redis down, a call must answer 503 quickly rather than hang. Bounded pools that
        # wait for a free connection: a burst of clients queues up instead of failing with "too many connections".
        return cls(
            settings=settings,
            engine=engine,
            sessions=session_factory(engine),
            redis=redis.Redis.from_pool(
                redis.BlockingConnectionPool.from_url(redis_url, timeout=10, **_CONNECTION_OPTIONS)
            ),
            # One quick retry: after a Redis restart, the first use of each pooled connection finds it closed.
            aredis=AsyncRedis.from_pool(
                BlockingConnectionPool.from_url(
                    redis_url,
                    timeout=10,
                    retry=_async_retry(),
                    **_CONNECTION_OPTIONS,
                )
            ),
            celery=_task_sender(settings),
            # The hub waits for messages as long as it takes, so no socket timeout there.
            hub=EventHub(
                AsyncRedis.from_url(
                    redis_url, socket_connect_timeout=2, health_check_interval=15, driver_info=_DRIVER_INFO
                )
            ),
            serving=AsyncRedis.from_pool(
                BlockingConnectionPool.from_url(
                    redis_url,
                    timeout=10,
                    retry=_async_retry(),
                    **{**_CONNECTION_OPTIONS, "max_connections": PREDICT_SLOTS},
                )
            ),
            predict_slots=anyio.CapacityLimiter(PREDICT_SLOTS),
            live_threads=anyio.CapacityLimiter(LIVE_THREADS),
            joins=anyio.Semaphore(JOINS_AT_ONCE),
            session_secret=session_secret(settings),
            artifacts=settings.artifacts(),
        )

    async def close(self) -> None:
        await self.hub.close()
        await self.aredis.aclose()
        await self.serving.aclose()
        self.redis.close()
        self.celery.close()
        self.engine.dispose()
