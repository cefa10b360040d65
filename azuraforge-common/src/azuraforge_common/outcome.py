"""A finished run's outcome, written next to its results before the database is told.

If recording it fails (the database stays down longer than the worker waits, or the worker dies first), the
API's reaper and `azuraforge recover` rebuild the record from this file instead of calling the run lost.
"""

import json
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from sqlalchemy.orm import Session

from azuraforge_common.database import dumps_json
from azuraforge_common.events import ExperimentStatus
from azuraforge_common.lifecycle import end_experiment

OUTCOME_FILE = "outcome.json"
RECORD_FIELDS = (
    "metrics", "baseline_metrics", "history", "artifacts", "result", "error", "traceback", "system",
)  # fmt: skip
"""The experiment columns an outcome carries."""


@dataclass(frozen=True)
class Outcome:
    status: ExperimentStatus
    fields: dict[str, Any]


def write_outcome(directory: Path, status: ExperimentStatus, fields: dict[str, Any]) -> None:
    """Writes the outcome atomically (a reader sees the whole file or none)."""
    directory.mkdir(parents=True, exist_ok=True)
    partial = directory / f".{OUTCOME_FILE}.partial"
    partial.write_text(dumps_json({"status": status, **fields}), encoding="utf-8")
    partial.replace(directory / OUTCOME_FILE)


def read_outcome(directory: Path) -> Outcome | None:
    try:
        stored = json.loads((directory / OUTCOME_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    fields = {key: stored[key] for key in RECORD_FIELDS if key in stored}
    return Outcome(status=stored["status"], fields=fields)


def end_from_outcome(
    session: Session,
    client: redis.Redis,
    experiment_id: str,
    directory: Path,
    from_statuses: Collection[ExperimentStatus],
) -> ExperimentStatus | None:
    """Ends the experiment (from one of `from_statuses`) as its outcome file says; returns the status it
    recorded, or None if there is no outcome file or the experiment was not in one of `from_statuses`."""
    outcome = read_outcome(directory)
    if outcome is None:
        return None
    if not end_experiment(session, client, experiment_id, from_statuses, outcome.status, **outcome.fields):
        return None
    return outcome.status
