"""Everything the routes talk to, built once per API process from the settings."""

from dataclasses import dataclass
from typing import Any

import anyio
import redis
from celery import Celery
from redis.asyncio import BlockingConnectionPool
from redis.asyncio import Redis as AsyncRedis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from azuraforge_api.hub import EventHub
from azuraforge_common.artifacts import ArtifactStore
from azuraforge_common.database import create_db_engine, session_factory
from azuraforge_common.settings import Settings
from azuraforge_common.worker import celery_settings

PREDICT_SLOTS = 4
"""Predictions that may run at once; more are refused with a 503 rather than queued."""

_CONNECTION_OPTIONS: dict[str, Any] = {
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


def _async_retry() -> AsyncRetry:
    return AsyncRetry(ExponentialBackoff(cap=0.5, base=0.05), 2)


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
    predict_slots: anyio.CapacityLimiter
    """Threads for predictions, apart from the pool that runs the other routes."""
    artifacts: ArtifactStore
    """Runs' files: read them through azuraforge_api.files."""

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
            hub=EventHub(AsyncRedis.from_url(redis_url, socket_connect_timeout=2, health_check_interval=15)),
            predict_slots=anyio.CapacityLimiter(PREDICT_SLOTS),
            artifacts=settings.artifacts(),
        )

    async def close(self) -> None:
        await self.hub.close()
        await self.aredis.aclose()
        self.redis.close()
        self.celery.close()
        self.engine.dispose()
