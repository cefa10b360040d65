"""Running one experiment: claim it, train it with live progress, record the outcome, announce the end.

Every status change is a conditional UPDATE (see azuraforge_common.store), and only the change that wins
publishes its status event: a redelivered task, a cancel from the API and the API's reaper can all race this
code and the experiment still ends exactly once, with exactly one final event.
"""

import logging
import threading
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import redis
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session, sessionmaker

from azuraforge_common import names, store, sweeps
from azuraforge_common.artifacts import ArtifactStore, run_key
from azuraforge_common.database import create_db_engine, session_factory
from azuraforge_common.events import ExperimentStatus, StatusEvent
from azuraforge_common.lifecycle import end_experiment, end_lost_run
from azuraforge_common.models import Experiment, Sweep
from azuraforge_common.outcome import write_outcome
from azuraforge_common.publish import publish_event
from azuraforge_common.settings import Settings
from azuraforge_learner.artifacts import list_files
from azuraforge_learner.callbacks import Callback
from azuraforge_learner.pipeline import METRICS_FILE
from azuraforge_learner.plugins import load_pipeline
from azuraforge_learner.record import Plan, RunResult
from azuraforge_learner.reporter import Reporter
from azuraforge_worker.datasets import local_dataset
from azuraforge_worker.heartbeat import Heartbeat
from azuraforge_worker.memory import NotEnoughMemoryError, PeakMemory, free_memory_mb, needed_memory_mb
from azuraforge_worker.priority import in_training_thread
from azuraforge_worker.progress import EventPublisher, RedisProgressCallback, RedisReporter, StopRequest
from azuraforge_worker.run_folder import RunFolder
from azuraforge_worker.runlog import RunLog, capture_run_output
from azuraforge_worker.system import SystemMonitor
from azuraforge_worker.trials import TrialPruning

log = logging.getLogger(__name__)

shutting_down = threading.Event()
"""Set when the worker is asked to stop (SIGTERM): the running experiment is interrupted after its current
batch, which its result's stop_reason then says."""

RECORD_RETRY_START_S = 0.5
RECORD_RETRY_MAX_S = 5.0
"""A returning database gets the result within this long."""

INTERRUPTED = (
    "interrupted: the worker was stopped while this experiment trained; "
    "start a new experiment with the same config to run it again"
)


@dataclass(frozen=True)
class Services:
    settings: Settings
    sessions: sessionmaker[Session]
    redis: redis.Redis
    spool_path: Path
    """Where this worker keeps the events Redis could not take yet (see azuraforge_worker.spool)."""
    artifacts: ArtifactStore

    @classmethod
    def from_settings(cls, settings: Settings, worker_name: str = "worker") -> "Services":
        """`worker_name`: the Celery hostname; a worker restarted under the same name finds its spool again."""
        return cls(
            settings=settings,
            sessions=session_factory(create_db_engine(settings.resolved_database_url, settings.database_timeout_s)),
            redis=redis.Redis.from_url(settings.require_redis_url(), socket_timeout=10, health_check_interval=30),
            spool_path=settings.data_dir / "event-spool" / f"{worker_name}.sqlite3",
            artifacts=settings.artifacts(),
        )


def run_experiment(services: Services, experiment_id: str, last_chance: bool = True) -> ExperimentStatus | None:
    """Runs a queued experiment to its end; returns its final status, or None if it was not this call's to run
    (deleted, already running or finished: a redelivered task). A run this worker has not the memory for raises
    NotEnoughMemoryError (to be handed to another worker), or on its `last_chance` is failed saying so."""
    with services.sessions() as session:
        experiment = store.get_experiment(session, experiment_id)
        if experiment is None:
            log.info("experiment %s was deleted before it ran", experiment_id)
            return None
        if experiment.status != "queued":
            log.warning("experiment %s is already %s; not running it again", experiment_id, experiment.status)
            return None
        app, project_id, config = experiment.app, experiment.project_id, dict(experiment.config)
        if _cancel_requested(services, experiment_id):
            return _finish(services, session, experiment_id, "queued", "cancelled", {})
        if refusal := _does_not_fit(services, session, app):
            if not last_chance:
                raise NotEnoughMemoryError(refusal)
            return _finish(services, session, experiment_id, "queued", "failed", {"error": refusal})
        with Heartbeat(services.redis, experiment_id, services.settings.heartbeat_ttl_s):
            if not store.transition(session, experiment_id, ["queued"], "running"):
                return None
            publish_event(services.redis, StatusEvent(experiment_id=experiment_id, status="running"))
            with PeakMemory() as peak:
                status, fields = _train_and_store(
                    services, experiment_id, app, project_id, config, _pruning(services, session, experiment)
                )
            fields["peak_rss_mb"] = peak.mb
            _write_outcome(services, experiment_id, status, fields)
            ended = _finish(services, session, experiment_id, "running", status, fields)
            session.expunge_all()
            if ended is None and store.get_experiment(session, experiment_id) is None:
                _forget_deleted(services, experiment_id)
            return ended


def _forget_deleted(services: Services, experiment_id: str) -> None:
    """Removes what a run deleted while it trained wrote after the API removed its files and keys."""
    log.info("experiment %s was deleted while it ran; removing what it wrote since", experiment_id)
    services.redis.delete(*names.experiment_keys(experiment_id))
    services.artifacts.delete(run_key(experiment_id))


def _pruning(services: Services, session: Session, experiment: Experiment) -> list[Callback]:
    """For a sweep's trial, the callback that reports its epochs to the sweep and stops it when pruned."""
    if experiment.trial_number is None or experiment.batch_id is None:
        return []
    try:
        sweep = session.get(Sweep, experiment.batch_id)
        if sweep is None:
            return []
        return [TrialPruning(services.settings.resolved_database_url, sweep, experiment.trial_number)]
    except (SQLAlchemyError, optuna.exceptions.OptunaError) as exc:
        log.warning("trial %s runs without pruning: its sweep's study could not be read: %s", experiment.id, exc)
        return []


def advance_sweep(services: Services, experiment_id: str, send: sweeps.SendTask) -> None:
    """When a sweep's trial has ended: the sweep's step (tell Optuna, queue the next trial) now, rather than at
    the API's next tick. A failure here is only logged: that tick repeats the step."""
    try:
        with services.sessions() as session:
            experiment = store.get_experiment(session, experiment_id)
            if experiment is None or experiment.trial_number is None or experiment.batch_id is None:
                return
            sweep_id = experiment.batch_id
        sweeps.advance(
            services.sessions,
            services.redis,
            services.settings.resolved_database_url,
            sweep_id,
            send,
            services.settings.visibility_timeout_s,
        )
    except Exception:
        log.exception("could not advance the sweep of experiment %s; the API's periodic step will", experiment_id)


def _does_not_fit(services: Services, session: Session, app: str) -> str | None:
    """Why this worker cannot take a run of `app` (too little free memory), or None if it can."""
    try:
        declared = load_pipeline(app).memory_mb
    except Exception:
        return None  # an app that does not load fails in _train, with its error
    needed = needed_memory_mb(session, app, declared)
    if needed is None:
        return None
    need_mb, source = needed
    free_mb = free_memory_mb(services.settings.worker_memory_mb)
    if need_mb <= free_mb:
        return None
    return (
        f"not enough memory: a run of {app} needs about {need_mb} MB ({source}) and no worker of its queue had "
        f"that free (this one had {free_mb} MB); run it on a queue with larger workers, or free memory and start it "
        "again"
    )


def _train_and_store(
    services: Services,
    experiment_id: str,
    app: str,
    project_id: str,
    config: dict[str, Any],
    extra_callbacks: list[Callback],
) -> tuple[ExperimentStatus, dict[str, Any]]:
    """Trains in the run's folder, whose files reach the artifact store as they are written."""
    with RunFolder(services.artifacts, services.settings.data_dir, experiment_id) as folder:
        return _train(services, experiment_id, app, project_id, config, folder.path, extra_callbacks)


def _write_outcome(services: Services, experiment_id: str, status: ExperimentStatus, fields: dict[str, Any]) -> None:
    """The outcome backs up the record for a database outage; the store being down as well only loses that."""
    try:
        write_outcome(services.artifacts, experiment_id, status, fields)
    except Exception as exc:
        log.warning("the outcome of %s was not stored (%s); recording it in the database only", experiment_id, exc)


def _train(
    services: Services,
    experiment_id: str,
    app: str,
    project_id: str,
    config: dict[str, Any],
    output_dir: Path,
    extra_callbacks: list[Callback],
) -> tuple[ExperimentStatus, dict[str, Any]]:
    publisher = EventPublisher(services.redis, services.spool_path)
    run_log = RunLog(output_dir / names.RUN_LOG_FILE, experiment_id, publisher.emit)
    monitor = SystemMonitor(experiment_id, publisher.emit)
    progress = RedisProgressCallback(experiment_id, publisher, lambda: _stop_request(services, experiment_id))
    reporters: list[Reporter] = [
        RedisReporter(experiment_id, publisher),
        ProgressRecorder(services.sessions, experiment_id),
    ]

    def train() -> RunResult | tuple[ExperimentStatus, dict[str, Any]]:
        with capture_run_output(run_log):
            try:
                pipeline = load_pipeline(app)()
                dataset = local_dataset(services.settings, services.artifacts, services.sessions, project_id, config)
                return pipeline.run(
                    config,
                    callbacks=[progress, monitor, *extra_callbacks],
                    output_dir=output_dir,
                    reporters=reporters,
                    dataset=dataset,
                )
            except Exception as exc:
                log.exception("experiment %s failed", experiment_id)
                return "failed", {
                    "error": f"{type(exc).__name__}: {exc}",
                    "traceback": traceback.format_exc(),
                    "artifacts": _files(output_dir),
                    "result": _failure_result(output_dir),
                    "system": monitor.record().model_dump(mode="json"),
                }

    monitor.start()
    try:
        outcome = in_training_thread(train, services.settings.training_nice)
    finally:
        monitor.stop()
        run_log.close()
        publisher.close()
    if isinstance(outcome, tuple):
        return outcome
    result = outcome
    fields: dict[str, Any] = {
        "metrics": result.metrics,
        "baseline_metrics": result.strongest_baseline_metrics(),
        "history": result.history,
        "artifacts": result.artifacts,
        "result": result.model_dump(mode="json"),
        "system": monitor.record().model_dump(mode="json"),
    }
    # The record keeps the experiment statuses: a run cut short by a shutdown did not finish, and was not
    # cancelled by anyone, so it is failed with the reason.
    if result.stop_reason.kind == "interrupted":
        return "failed", {**fields, "error": INTERRUPTED}
    return result.status, fields


def _finish(
    services: Services,
    session: Session,
    experiment_id: str,
    from_status: ExperimentStatus,
    status: ExperimentStatus,
    fields: dict[str, Any],
) -> ExperimentStatus | None:
    """Records the end, waiting out a database outage (the heartbeat still beats meanwhile, so the reaper
    leaves the run alone) for at most the visibility timeout, after which Redis hands the task out again."""
    deadline = time.monotonic() + services.settings.visibility_timeout_s
    delay = RECORD_RETRY_START_S
    while True:
        try:
            ended = end_experiment(session, services.redis, experiment_id, [from_status], status, **fields)
            break
        except (OperationalError, PoolTimeoutError) as exc:
            session.rollback()
            if time.monotonic() + delay > deadline:
                raise
            log.warning(
                "could not record the end (%s) of experiment %s: %s; retrying in %.1f s",
                status,
                experiment_id,
                exc,
                delay,
            )
            time.sleep(delay)
            delay = min(delay * 2, RECORD_RETRY_MAX_S)
    if ended:
        return status
    if end_lost_run(session, experiment_id, status, **fields):
        # Cut off from Redis long enough to be reaped, this worker still finished the run: its end replaces "lost".
        log.warning("experiment %s was reaped as lost while it ran; recorded its real end, %s", experiment_id, status)
        return status
    log.warning("experiment %s was ended elsewhere (cancelled) before it could be %s", experiment_id, status)
    return None


def _cancel_requested(services: Services, experiment_id: str) -> bool:
    return bool(services.redis.exists(names.cancel_key(experiment_id)))


def _stop_request(services: Services, experiment_id: str) -> StopRequest | None:
    if shutting_down.is_set():
        return "interrupt"
    try:
        return "cancel" if _cancel_requested(services, experiment_id) else None
    except redis.RedisError as exc:
        log.warning("could not check for a cancel request: %s", exc)
        return None


def _failure_result(output_dir: Path) -> dict[str, Any] | None:
    """The failed RunResult the pipeline wrote before re-raising (plan, provenance so far, the error as the stop
    reason); None when it could not write one (the config did not validate, the disk is full)."""
    try:
        text = (output_dir / METRICS_FILE).read_text(encoding="utf-8")
        return RunResult.model_validate_json(text).model_dump(mode="json")
    except (OSError, ValidationError) as exc:
        log.warning("no result record for the failed run in %s: %s", output_dir, exc)
        return None


def _files(output_dir: Path) -> list[str]:
    return list_files(output_dir) if output_dir.is_dir() else []


class ProgressRecorder:
    """Keeps the record's `progress` (epoch N of M) current, so lists show it without watching every run.
    A Reporter (see azuraforge_learner.reporter)."""

    def __init__(self, sessions: sessionmaker[Session], experiment_id: str) -> None:
        self.sessions = sessions
        self.experiment_id = experiment_id

    def train_begin(self, plan: Plan) -> None:
        """Nothing to store: the record already holds the app and the config."""

    def epoch(self, epoch: int, total_epochs: int, metrics: Mapping[str, float]) -> None:
        try:
            with self.sessions() as session:
                store.record_progress(session, self.experiment_id, epoch, total_epochs)
        except SQLAlchemyError as exc:
            log.warning("progress of %s not recorded: %s", self.experiment_id, exc)

    def predictions(self, epoch: int, actual: Sequence[float], predicted: Sequence[float]) -> None:
        """Nothing to store: live predictions are for watchers only."""

    def finished(self, result: RunResult) -> None:
        """Nothing to store here: the runner records the result with the final status."""
