"""Ending an experiment: the one step the worker, the API's cancel and the API's reaper all take."""

from collections.abc import Collection
from typing import Any

import redis
from sqlalchemy.orm import Session

from azuraforge_common import names, store
from azuraforge_common.events import ExperimentStatus, StatusEvent
from azuraforge_common.publish import publish_event

WORKER_LOST = (
    "worker lost: the worker running this experiment stopped sending heartbeats (its process died or was "
    "killed); start the experiment again"
)
"""The error of a run the API's reaper failed because its heartbeat stopped."""


def end_experiment(
    session: Session,
    client: redis.Redis,
    experiment_id: str,
    from_statuses: Collection[ExperimentStatus],
    status: ExperimentStatus,
    **fields: Any,
) -> bool:
    """Moves the experiment from one of `from_statuses` to the final `status` and, only if this call made that
    change, publishes the final status event (so an experiment has exactly one). Returns whether it did.

    Its Redis keys then go: the cancel flag at once, its events after names.FINISHED_EVENTS_TTL_S."""
    if not store.transition(session, experiment_id, from_statuses, status, **fields):
        return False
    publish_event(
        client,
        StatusEvent(
            experiment_id=experiment_id,
            status=status,
            error=fields.get("error"),
            final=True,
            result=fields.get("result"),
        ),
    )
    with client.pipeline() as pipeline:
        pipeline.delete(names.cancel_key(experiment_id))
        pipeline.expire(names.events_stream(experiment_id), names.FINISHED_EVENTS_TTL_S)
        pipeline.expire(names.seq_key(experiment_id), names.FINISHED_EVENTS_TTL_S)
        pipeline.execute()
    return True


def end_lost_run(session: Session, experiment_id: str, status: ExperimentStatus, **fields: Any) -> bool:
    """Records the real end of a run the reaper failed as lost (its worker was cut off, not dead, and finished
    it); returns whether the record was such a run. No event: the run's one final event was already sent."""
    return store.transition_lost(session, experiment_id, WORKER_LOST, status, **fields)
