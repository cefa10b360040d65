"""A finished run's outcome, written to the artifact store next to its results before the database is told.

If recording it fails (the database stays down longer than the worker waits, or the worker dies first), the
API's reaper and `azuraforge recover` rebuild the record from this file instead of calling the run lost.
"""

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import redis
from sqlalchemy.orm import Session

from azuraforge_common.artifacts import RUNS_PREFIX, ArtifactStore, run_key
from azuraforge_common.database import dumps_json
from azuraforge_common.events import ExperimentStatus
from azuraforge_common.lifecycle import end_experiment

OUTCOME_FILE = "outcome.json"
RECORD_FIELDS = (
    "metrics", "baseline_metrics", "history", "artifacts", "result", "error", "traceback", "system", "peak_rss_mb",
)  # fmt: skip
"""The experiment columns an outcome carries."""


@dataclass(frozen=True)
class Outcome:
    status: ExperimentStatus
    fields: dict[str, Any]


def write_outcome(store: ArtifactStore, experiment_id: str, status: ExperimentStatus, fields: dict[str, Any]) -> None:
    """Writes the outcome atomically (a reader sees the whole file or none)."""
    store.write(run_key(experiment_id, OUTCOME_FILE), dumps_json({"status": status, **fields}).encode())


def read_outcome(store: ArtifactStore, experiment_id: str) -> Outcome | None:
    text = store.read(run_key(experiment_id, OUTCOME_FILE))
    if text is None:
        return None
    stored = json.loads(text)
    fields = {key: stored[key] for key in RECORD_FIELDS if key in stored}
    return Outcome(status=stored["status"], fields=fields)


def end_from_outcome(
    session: Session,
    client: redis.Redis,
    store: ArtifactStore,
    experiment_id: str,
    from_statuses: Collection[ExperimentStatus],
) -> ExperimentStatus | None:
    """Ends the experiment (from one of `from_statuses`) as its outcome file says; returns the status it
    recorded, or None if there is no outcome file or the experiment was not in one of `from_statuses`."""
    outcome = read_outcome(store, experiment_id)
    if outcome is None:
        return None
    if not end_experiment(session, client, experiment_id, from_statuses, outcome.status, **outcome.fields):
        return None
    return outcome.status


def outcome_ids(store: ArtifactStore) -> list[str]:
    """The experiments that have an outcome in the store."""
    suffix = f"/{OUTCOME_FILE}"
    return [
        key.removeprefix(f"{RUNS_PREFIX}/").removesuffix(suffix)
        for key in store.keys(f"{RUNS_PREFIX}/")
        if key.endswith(suffix) and key.count("/") == 2
    ]
