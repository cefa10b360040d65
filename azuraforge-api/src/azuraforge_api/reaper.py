"""Marks experiments whose worker died as failed: a running experiment whose heartbeat key has expired.

Runs in the API process every AZURAFORGE_REAPER_INTERVAL_S; with the default heartbeat TTL (30 s) and interval
(10 s) a killed worker's experiment is failed at most 40 s after the worker's last heartbeat.
"""

import asyncio
import logging

import redis
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from azuraforge_api.platform import Platform
from azuraforge_common import names, store
from azuraforge_common.lifecycle import end_experiment

log = logging.getLogger(__name__)

WORKER_LOST = (
    "worker lost: the worker running this experiment stopped sending heartbeats (its process died or was "
    "killed); start the experiment again"
)


def reap_lost_runs(platform: Platform) -> list[str]:
    """Fails every running experiment without a heartbeat; returns their ids."""
    reaped = []
    with platform.sessions() as session:
        for experiment_id in store.running_experiment_ids(session):
            if platform.redis.exists(names.heartbeat_key(experiment_id)):
                continue
            if end_experiment(session, platform.redis, experiment_id, ["running"], "failed", error=WORKER_LOST):
                log.warning("experiment %s: %s", experiment_id, WORKER_LOST)
                reaped.append(experiment_id)
    return reaped


async def reap_forever(platform: Platform) -> None:
    while True:
        await asyncio.sleep(platform.settings.reaper_interval_s)
        try:
            await run_in_threadpool(reap_lost_runs, platform)
        except (redis.RedisError, SQLAlchemyError) as exc:
            log.warning(
                "could not look for lost runs (%s); trying again in %.0f s", exc, platform.settings.reaper_interval_s
            )
