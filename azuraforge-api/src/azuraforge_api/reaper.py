"""Marks experiments whose worker died as failed: a running experiment whose heartbeat key has expired.

Runs in the API process every AZURAFORGE_REAPER_INTERVAL_S; with the default heartbeat TTL (30 s) and interval
(10 s) a killed worker's experiment is failed at most 40 s after the worker's last heartbeat. A run logged through
the MLflow tracking API has its client's calls as heartbeat (AZURAFORGE_TRACKING_TIMEOUT_S, 300 s by default).
"""

import asyncio
import logging

import redis
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from azuraforge_api.mlflow.ending import end_run
from azuraforge_api.mlflow.store import EXTERNAL
from azuraforge_api.platform import Platform
from azuraforge_common import names, store
from azuraforge_common.lifecycle import WORKER_LOST, end_experiment
from azuraforge_common.outcome import end_from_outcome

log = logging.getLogger(__name__)


def client_lost(platform: Platform) -> str:
    return (
        f"client lost: the MLflow client logging this run made no call for "
        f"{platform.settings.tracking_timeout_s:.0f} s (AZURAFORGE_TRACKING_TIMEOUT_S) and never ended it"
    )


def reap_lost_runs(platform: Platform) -> list[str]:
    """Ends every running experiment without a heartbeat: as its outcome file says if its worker got that far
    (the database was down when it finished), else failed; an external run, whose heartbeat is its client's
    calls, failed with its report written. Returns their ids."""
    if _redis_uptime_s(platform) < platform.settings.heartbeat_ttl_s:
        return []  # Redis just restarted: workers have not rewritten their heartbeats yet
    reaped = []
    with platform.sessions() as session:
        for experiment_id in store.running_experiment_ids(session):
            if platform.redis.exists(names.heartbeat_key(experiment_id)):
                continue
            experiment = store.get_experiment(session, experiment_id)
            if experiment is not None and experiment.source == EXTERNAL:
                if end_run(platform, session, experiment, "failed", error=client_lost(platform)):
                    log.warning("run %s: %s", experiment_id, client_lost(platform))
                    reaped.append(experiment_id)
                continue
            if status := end_from_outcome(session, platform.redis, platform.artifacts, experiment_id, ["running"]):
                log.warning(
                    "experiment %s: its worker is gone; recorded it %s from its outcome file", experiment_id, status
                )
                reaped.append(experiment_id)
            elif end_experiment(session, platform.redis, experiment_id, ["running"], "failed", error=WORKER_LOST):
                log.warning("experiment %s: %s", experiment_id, WORKER_LOST)
                reaped.append(experiment_id)
    return reaped


def _redis_uptime_s(platform: Platform) -> float:
    return float(platform.redis.info("server")["uptime_in_seconds"])


async def reap_forever(platform: Platform) -> None:
    while True:
        await asyncio.sleep(platform.settings.reaper_interval_s)
        try:
            await run_in_threadpool(reap_lost_runs, platform)
        except (redis.RedisError, SQLAlchemyError) as exc:
            log.warning(
                "could not look for lost runs (%s); trying again in %.0f s", exc, platform.settings.reaper_interval_s
            )
