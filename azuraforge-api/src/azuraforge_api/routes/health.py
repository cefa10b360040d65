import redis
from fastapi import APIRouter
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from azuraforge_api.deps import PlatformDep
from azuraforge_api.schemas import Health

router = APIRouter(prefix="/api/v1", tags=["health"])


@router.get("/health")
def health(platform: PlatformDep) -> Health:
    """Whether Redis and the database answer; "degraded" when either does not."""
    try:
        redis_ok = bool(platform.redis.ping())
    except redis.RedisError:
        redis_ok = False
    try:
        with platform.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        database_ok = True
    except SQLAlchemyError:
        database_ok = False
    return Health(status="ok" if redis_ok and database_ok else "degraded", redis=redis_ok, database=database_ok)
