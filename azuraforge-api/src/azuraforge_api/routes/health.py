import redis
from fastapi import APIRouter, Depends
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from azuraforge_api.auth import get_caller
from azuraforge_api.deps import PlatformDep
from azuraforge_api.platform import Platform
from azuraforge_api.schemas import DependencyHealth, Health
from azuraforge_common import names

router = APIRouter(prefix="/api/v1", tags=["health"], dependencies=[Depends(get_caller)])  # no project role

OK = DependencyHealth(status="ok")


@router.get("/health")
def health(platform: PlatformDep) -> Health:
    """Whether Redis and the database do their jobs; "degraded", with the reason, when either does not."""
    redis_state, database_state = _redis_health(platform), _database_health(platform)
    degraded = "degraded" in (redis_state.status, database_state.status)
    return Health(status="degraded" if degraded else "ok", redis=redis_state, database=database_state)


def _redis_health(platform: Platform) -> DependencyHealth:
    try:
        # A write, not a PING: a Redis at its memory limit still answers PING but refuses every new event and task.
        platform.redis.set(names.HEALTH_KEY, 1, px=10_000)
    except redis.ResponseError as exc:
        return _degraded(f"Redis refuses writes ({_first_line(exc)}); raise its maxmemory or free memory")
    except redis.RedisError as exc:
        return _degraded(f"Redis is unreachable ({_first_line(exc)})")
    return OK


def _database_health(platform: Platform) -> DependencyHealth:
    try:
        with platform.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except PoolTimeoutError:
        return _degraded("the database is busy: no free connection")
    except DBAPIError as exc:
        return _degraded(f"the database is unreachable ({_first_line(exc.orig or exc)})")
    except SQLAlchemyError as exc:
        return _degraded(f"the database is unreachable ({_first_line(exc)})")
    return OK


def _degraded(reason: str) -> DependencyHealth:
    return DependencyHealth(status="degraded", reason=reason)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().split("\n", 1)[0][:200]
