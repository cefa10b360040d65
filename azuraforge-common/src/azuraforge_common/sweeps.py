"""Hyperparameter sweeps on Optuna, shared by the API (which creates sweeps and ticks them) and the worker (which
reports each trial's epochs and advances its sweep when a trial ends).

A sweep's Optuna study is named by the sweep's id and lives in the platform's own database through Optuna's
RDBStorage, so every process on every host sees the same trials. Each Optuna trial is run by one experiment,
whose id is derived from (sweep id, trial number), so creating it twice is impossible.

`advance` is the sweep's one step, safe to run any number of times from any process (a Redis lock keeps two
from running at once): it makes the stored state consistent (an experiment for every asked trial, Optuna told of
every ended one, every queued trial's task sent) and then asks for new trials until `parallelism` are queued or
running and `n_trials` have been asked. The worker runs it when a trial ends; the API on a periodic tick, which
also catches up after any crash, since nothing is remembered outside the database and Redis.
"""

import functools
import logging
import math
import threading
import uuid
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal

import optuna
import redis
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.storages import RDBStorage
from optuna.study import StudyDirection
from optuna.trial import TrialState
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from azuraforge_common import names
from azuraforge_common.events import TERMINAL_STATUSES, StatusEvent
from azuraforge_common.models import Experiment, Sweep, utcnow
from azuraforge_common.publish import publish_event

log = logging.getLogger(__name__)

SamplerKind = Literal["tpe", "random", "grid"]
PrunerKind = Literal["median", "hyperband", "none"]
Direction = Literal["minimize", "maximize"]
SweepState = Literal["running", "paused", "stopped", "finished"]
TrialStateName = Literal["queued", "running", "complete", "pruned", "failed"]

MAX_TRIALS = 1000
MAX_PARALLELISM = 64
MAX_CHOICES = 100
LOCK_TIMEOUT_S = 60
"""A step takes well under a second; a holder that died frees the lock after this long."""

Choice = str | int | float | bool | None


class _Param(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FloatRange(_Param):
    type: Literal["float"]
    low: float
    high: float
    log: bool = Field(False, description="Sample evenly on a log scale (learning rates); low must be above 0.")
    step: float | None = Field(None, gt=0, description="Only multiples of step from low; not with log.")

    @model_validator(mode="after")
    def _consistent(self) -> "FloatRange":
        _check_range(self.low, self.high, self.log, self.step is not None)
        return self


class IntRange(_Param):
    type: Literal["int"]
    low: int
    high: int
    step: int = Field(1, ge=1, description="Only low, low+step, ... up to high.")
    log: bool = Field(False, description="Sample evenly on a log scale; low must be above 0; step must be 1.")

    @model_validator(mode="after")
    def _consistent(self) -> "IntRange":
        _check_range(self.low, self.high, self.log, self.step != 1)
        return self


class Categorical(_Param):
    type: Literal["categorical"]
    choices: list[Choice] = Field(min_length=1, max_length=MAX_CHOICES)


SearchParam = Annotated[FloatRange | IntRange | Categorical, Field(discriminator="type")]


def _check_range(low: float, high: float, log: bool, stepped: bool) -> None:
    if not low < high:
        raise ValueError(f"low ({low}) must be below high ({high})")
    if log and low <= 0:
        raise ValueError(f"a log range must start above 0; got low={low}")
    if log and stepped:
        raise ValueError("a range is either log or stepped, not both")


def distribution(param: SearchParam) -> BaseDistribution:
    if isinstance(param, FloatRange):
        return FloatDistribution(param.low, param.high, log=param.log, step=param.step)
    if isinstance(param, IntRange):
        return IntDistribution(param.low, param.high, log=param.log, step=param.step)
    return CategoricalDistribution(param.choices)


def grid_values(param: SearchParam) -> list[Choice] | None:
    """Every value a grid visits for this field; None for a float range without a step (it has no grid)."""
    if isinstance(param, Categorical):
        return list(param.choices)
    if isinstance(param, IntRange):
        return list(range(param.low, param.high + 1, param.step))
    if param.step is None:
        return None
    count = math.floor((param.high - param.low) / param.step + 1e-9) + 1
    return [round(param.low + i * param.step, 12) for i in range(count)]


def parse_space(space: dict[str, Any]) -> dict[str, SearchParam]:
    """The stored space (JSON) as parameter models; it was validated when the sweep was created."""
    return {name: _SpaceModel.model_validate({"param": spec}).param for name, spec in space.items()}


class _SpaceModel(BaseModel):
    param: SearchParam


# --- Optuna: storage, study, sampler, pruner ---------------------------------------------------------------


_storage_lock = threading.Lock()


def storage(database_url: str) -> RDBStorage:
    """Optuna's storage in the platform's database, one per process and URL.

    Its tables are created on first use. The database's alembic_version table belongs to the platform's own
    migrations, so Optuna's schema check (which reads that table) is skipped: the Optuna version is pinned by
    requirements.lock, and moving it to one with a new storage schema needs its `optuna storage upgrade`."""
    with _storage_lock:  # threads of one process asking at once would create the tables at once
        return _open_storage(database_url)


@functools.cache
def _open_storage(database_url: str) -> RDBStorage:
    url = make_url(database_url)
    engine_kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if url.get_backend_name() == "sqlite":
        engine_kwargs["connect_args"] = {"timeout": 30}
    try:
        return RDBStorage(database_url, engine_kwargs=engine_kwargs, skip_compatibility_check=True)
    except SQLAlchemyError:
        # Another process created Optuna's tables between its check and ours ("already exists"): they are there now.
        return RDBStorage(database_url, engine_kwargs=engine_kwargs, skip_compatibility_check=True)


def make_sampler(sweep: Sweep, trials_so_far: int) -> optuna.samplers.BaseSampler:
    """A sampler for the next ask. A seeded sweep gets a different seed per ask (each ask builds a new sampler,
    which would otherwise repeat the same draw), so a seeded sweep run alone is repeatable."""
    seed = None if sweep.seed is None else sweep.seed + trials_so_far
    if sweep.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if sweep.sampler == "grid":
        # The seed shuffles the grid's order, and a trial holds only its index into that order: every sampler
        # of the sweep, in every process, must shuffle alike.
        grid = {name: grid_values(param) or [] for name, param in parse_space(sweep.space).items()}
        return optuna.samplers.GridSampler(grid, seed=sweep.seed if sweep.seed is not None else int(sweep.id[:8], 16))
    # constant_liar: trials still running count as bad guesses, so parallel asks spread out.
    return optuna.samplers.TPESampler(seed=seed, constant_liar=True)


def make_pruner(sweep: Sweep) -> optuna.pruners.BasePruner:
    if sweep.pruner == "median":
        return optuna.pruners.MedianPruner()
    if sweep.pruner == "hyperband":
        epochs = sweep.base_config.get("epochs")
        searched = "epochs" in sweep.space
        return optuna.pruners.HyperbandPruner(
            max_resource=epochs if isinstance(epochs, int) and not searched and epochs > 1 else "auto"
        )
    return optuna.pruners.NopPruner()


def create_study(database_url: str, sweep: Sweep) -> None:
    direction = StudyDirection.MAXIMIZE if sweep.direction == "maximize" else StudyDirection.MINIMIZE
    optuna.create_study(storage=storage(database_url), study_name=sweep.id, direction=direction)


def load_study(database_url: str, sweep: Sweep, trials_so_far: int = 0) -> optuna.Study:
    return optuna.load_study(
        study_name=sweep.id,
        storage=storage(database_url),
        sampler=make_sampler(sweep, trials_so_far),
        pruner=make_pruner(sweep),
    )


def trial_experiment_id(sweep_id: str, number: int) -> str:
    """The id of the experiment that runs trial `number`: the same in every process, so it is created once."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"azuraforge:sweep:{sweep_id}:trial:{number}").hex


# --- the step ----------------------------------------------------------------------------------------------

SendTask = Callable[[Experiment], None]
"""Queues the worker's task for a queued experiment (azuraforge_common.worker.run_task_options)."""


def advance(
    sessions: sessionmaker[Session],
    client: redis.Redis,
    database_url: str,
    sweep_id: str,
    send: SendTask,
    sent_ttl_s: int,
) -> None:
    """The sweep's idempotent step (see the module's docstring); does nothing if another process is in it."""
    lock = client.lock(names.sweep_lock_key(sweep_id), timeout=LOCK_TIMEOUT_S, blocking_timeout=LOCK_TIMEOUT_S)
    if not lock.acquire():
        log.warning("sweep %s: another process held its lock for %d s; skipping this step", sweep_id, LOCK_TIMEOUT_S)
        return
    try:
        with sessions() as session:
            sweep = session.get(Sweep, sweep_id)
            if sweep is not None:
                _Step(session, client, database_url, sweep, send, sent_ttl_s).run()
    finally:
        lock.release()


class _Step:
    def __init__(
        self,
        session: Session,
        client: redis.Redis,
        database_url: str,
        sweep: Sweep,
        send: SendTask,
        sent_ttl_s: int,
    ) -> None:
        self.session = session
        self.client = client
        self.database_url = database_url
        self.sweep = sweep
        self.send = send
        self.sent_ttl_s = sent_ttl_s
        self.study = load_study(database_url, sweep)
        self.states = {trial.number: trial.state for trial in self.study.get_trials(deepcopy=False)}
        self.experiments = {e.trial_number: e for e in trial_experiments(session, sweep.id)}

    def run(self) -> None:
        for trial in self.study.get_trials(deepcopy=False, states=[TrialState.RUNNING]):
            self._reconcile(trial)
        if self.sweep.state == "running":
            active = [e for e in self.experiments.values() if e.status not in TERMINAL_STATUSES]
            room = min(self.sweep.parallelism - len(active), self.sweep.n_trials - len(self.states))
            for _ in range(max(room, 0)):
                self._ask()
        if all(state.is_finished() for state in self.states.values()):
            if self.sweep.state == "running" and len(self.states) >= self.sweep.n_trials:
                self.sweep.state = "finished"
            if self.sweep.state in ("finished", "stopped") and self.sweep.finished_at is None:
                self.sweep.finished_at = utcnow()
                self.session.commit()

    def _reconcile(self, trial: optuna.trial.FrozenTrial) -> None:
        experiment = self.experiments.get(trial.number)
        if experiment is None:
            # The process that asked for this trial stopped before storing its experiment.
            experiment = self._create_experiment(trial.number, trial.params)
        if experiment.status in TERMINAL_STATUSES:
            self.states[trial.number] = self._tell(trial.number, experiment).state
        elif experiment.status == "queued":
            self._send_once(experiment)

    def _tell(self, number: int, experiment: Experiment) -> optuna.trial.FrozenTrial:
        kind = ((experiment.result or {}).get("stop_reason") or {}).get("kind")
        value = objective_value(experiment, self.sweep.objective_metric)
        if experiment.status == "succeeded" and kind == "pruned":
            # Optuna records a pruned trial's last reported intermediate value as its value.
            return self.study.tell(number, state=TrialState.PRUNED, skip_if_finished=True)
        if experiment.status == "succeeded" and value is not None:
            return self.study.tell(number, value, skip_if_finished=True)
        return self.study.tell(number, state=TrialState.FAIL, skip_if_finished=True)

    def _ask(self) -> None:
        study = load_study(self.database_url, self.sweep, len(self.states))
        trial = study.ask({name: distribution(param) for name, param in parse_space(self.sweep.space).items()})
        self.states[trial.number] = TrialState.RUNNING
        experiment = self._create_experiment(trial.number, trial.params)
        self._send_once(experiment)

    def _create_experiment(self, number: int, params: dict[str, Any]) -> Experiment:
        experiment = Experiment(
            id=trial_experiment_id(self.sweep.id, number),
            project_id=self.sweep.project_id,
            app=self.sweep.app,
            name=f"{self.sweep.name or 'sweep'} #{number}"[:200],
            config={**self.sweep.base_config, **params},
            batch_id=self.sweep.id,
            trial_number=number,
            trial_params=dict(params),
            queue=self.sweep.queue,
        )
        self.session.add(experiment)
        self.session.commit()
        publish_event(self.client, StatusEvent(experiment_id=experiment.id, status="queued"))
        self.experiments[number] = experiment
        return experiment

    def _send_once(self, experiment: Experiment) -> None:
        """Sends the task unless this Redis already holds it. The marker lives next to the queue, so if Redis lost
        its data the task is sent again; a second copy of a task is harmless (only a queued run is started)."""
        key = names.sent_key(experiment.id)
        if self.client.exists(key):
            return
        self.send(experiment)
        self.client.set(key, 1, ex=self.sent_ttl_s)


def objective_value(experiment: Experiment, metric: str) -> float | None:
    """The metric at the trial's last completed epoch (what a pruned trial is judged by too); None without one."""
    values = (experiment.history or {}).get(metric) or []
    last = values[-1] if values else None
    return float(last) if isinstance(last, int | float) and math.isfinite(last) else None


def trial_experiments(session: Session, sweep_id: str) -> Sequence[Experiment]:
    query = select(Experiment).where(Experiment.batch_id == sweep_id, Experiment.trial_number.is_not(None))
    return session.scalars(query.order_by(Experiment.trial_number)).all()


def active_sweep_ids(session: Session) -> list[str]:
    """Sweeps that may still have something to do: all but the finished ones and the stopped ones whose every
    trial has been told (finished_at is stamped then)."""
    return list(session.scalars(select(Sweep.id).where(Sweep.finished_at.is_(None))))


# --- pruning, in the worker ------------------------------------------------------------------------------


class TrialReport:
    """Reports one trial's intermediate values and asks its sweep's pruner whether to stop it."""

    def __init__(self, database_url: str, sweep: Sweep, number: int) -> None:
        self.storage = storage(database_url)
        self.study = optuna.load_study(study_name=sweep.id, storage=self.storage, pruner=make_pruner(sweep))
        study_id = self.storage.get_study_id_from_name(sweep.id)
        self.trial_id = self.storage.get_trial_id_from_study_id_trial_number(study_id, number)
        self.metric = sweep.objective_metric

    def should_prune(self, step: int, value: float) -> bool:
        if not math.isfinite(value):
            return False
        try:
            self.storage.set_trial_intermediate_value(self.trial_id, step, value)
        except optuna.exceptions.UpdateFinishedTrialError:
            return False  # already told (the sweep was stopped): nothing left to decide
        return bool(self.study.pruner.prune(self.study, self.storage.get_trial(self.trial_id)))
