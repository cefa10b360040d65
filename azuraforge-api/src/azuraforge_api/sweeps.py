"""What the sweep routes do: check a search space against the app's config schema, create a sweep, pause, resume
and stop it, describe it with its trials; and the periodic step that keeps every sweep going.

The sweep's own logic (Optuna, the idempotent step) is in azuraforge_common.sweeps, which the worker runs too."""

import asyncio
import contextlib
import hashlib
import logging
import math
import operator
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from typing import Any

import optuna
import redis
from fastapi import HTTPException, status
from fastapi.exceptions import RequestValidationError
from kombu.exceptions import OperationalError as BrokerError
from optuna.importance import PedAnovaImportanceEvaluator
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from azuraforge_api import catalog, datasets, services
from azuraforge_api.platform import Platform
from azuraforge_api.schemas import Objective, SweepCreate, SweepOut, SweepSummary, TrialOut
from azuraforge_common import names, store, sweeps
from azuraforge_common.events import TERMINAL_STATUSES
from azuraforge_common.models import Experiment, IdempotencyKey, Sweep, new_id
from azuraforge_common.sweeps import Categorical, FloatRange, IntRange, SearchParam, TrialStateName
from azuraforge_common.worker import run_task_options
from azuraforge_learner.config import excerpt

log = logging.getLogger(__name__)

_OPTUNA_STATE: dict[TrialState, TrialStateName] = {
    TrialState.COMPLETE: "complete",
    TrialState.PRUNED: "pruned",
    TrialState.FAIL: "failed",
}


# --- checking a space against the app's config schema ----------------------------------------------------


def check_space(request: SweepCreate, app: Mapping[str, Any]) -> dict[str, Any]:
    """The base config with the app's defaults, checked against its published schema; 422 naming every field of
    the space (or the base config) that cannot be searched as asked."""
    base = catalog.with_defaults(app, request.base_config)
    if problems := catalog.config_errors(app, base):
        raise RequestValidationError([_error(("body", "base_config", *path), message) for path, message in problems])
    schema: dict[str, Any] = app["config_schema"]
    properties: dict[str, Any] = schema.get("properties", {})
    errors = []
    for name, param in request.space.items():
        loc = ("body", "space", name)
        if name not in properties:
            errors.append(_error(loc, f"unknown field; the fields of this app are: {', '.join(properties)}"))
            continue
        problem = _unsearchable(param, _alternatives(properties[name], schema))
        if problem is None:
            problem = _invalid_extreme(app, base, name, param)
        if problem is not None:
            errors.append(_error(loc, problem))
    if request.sampler == "grid":
        errors += _grid_errors(request)
    if errors:
        raise RequestValidationError(errors)
    return base


def _alternatives(field: dict[str, Any], schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The field's schema as a list of plain alternatives: anyOf (an optional field) flattened, $refs resolved."""
    if "$ref" in field:
        target = schema.get("$defs", {}).get(field["$ref"].rsplit("/", 1)[-1], {})
        return _alternatives({**target, **{k: v for k, v in field.items() if k != "$ref"}}, schema)
    if "anyOf" in field:
        return [alt for option in field["anyOf"] for alt in _alternatives(option, schema)]
    return [field]


def _unsearchable(param: SearchParam, alternatives: list[dict[str, Any]]) -> str | None:
    """Why this field cannot be searched this way, or None."""
    types = {alt.get("type") for alt in alternatives}
    if isinstance(param, FloatRange | IntRange):
        wanted = "number" if isinstance(param, FloatRange) else "integer"
        numeric = next((alt for alt in alternatives if alt.get("type") == wanted), None)
        if numeric is None:
            hint = {
                "integer": 'it is an integer field: search it with {"type": "int", ...}',
                "number": 'it is a float field: search it with {"type": "float", ...}',
                "boolean": 'it is a yes/no field: search it with {"type": "categorical", "choices": [true, false]}',
            }
            named = [hint[kind] for kind in ("integer", "number", "boolean") if kind in types]
            return named[0] if named else 'only numbers can be ranges; list its values as {"type": "categorical"}'
        for end in (param.low, param.high):
            if (message := _outside(numeric, end)) is not None:
                return message
        return None
    for choice in param.choices:
        if not any(_accepts(alt, choice) for alt in alternatives):
            allowed = [str(v) for alt in alternatives for v in alt.get("enum", [])]
            expected = f"one of: {', '.join(allowed)}" if allowed else f"of type {' or '.join(sorted(map(str, types)))}"
            return f"choice {excerpt(str(choice))} is not a value of this field; expected {expected}"
    return None


def _outside(alt: dict[str, Any], value: float) -> str | None:
    """Why `value` is outside the bounds of a numeric schema, or None."""
    for key, (holds, words) in _BOUNDS.items():
        if key in alt and not holds(value, float(alt[key])):
            return f"the range goes outside the field's bounds: {value} is not {words} {alt[key]}"
    return None


_BOUNDS: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "minimum": (operator.ge, "at least"),
    "exclusiveMinimum": (operator.gt, "above"),
    "maximum": (operator.le, "at most"),
    "exclusiveMaximum": (operator.lt, "below"),
}


def _accepts(alt: dict[str, Any], value: Any) -> bool:
    if "enum" in alt:
        return value in alt["enum"] and type(value) in {type(v) for v in alt["enum"]}
    if "const" in alt:
        return bool(value == alt["const"])
    kind = alt.get("type")
    if kind == "null":
        return value is None
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    if kind in ("integer", "number") and isinstance(value, int | float) and not isinstance(value, bool):
        if kind == "integer" and not float(value).is_integer():
            return False
        return math.isfinite(value) and _outside(alt, value) is None
    return False


def _invalid_extreme(app: Mapping[str, Any], base: dict[str, Any], name: str, param: SearchParam) -> str | None:
    """Checks the base config with the field at each end of its range (or each choice) against the whole schema,
    which catches what the checks of the field alone do not (a pattern, a multiple). Rules between fields are
    the app's own code: a trial that breaks one fails when its run starts, naming the field."""
    values = param.choices if isinstance(param, Categorical) else [param.low, param.high]
    for value in values:
        if problems := catalog.config_errors(app, {**base, name: value}):
            return f"{name}={excerpt(str(value))} makes an invalid config: " + "; ".join(
                f"{'.'.join(path)}: {message}" for path, message in problems
            )
    return None


def _grid_errors(request: SweepCreate) -> list[dict[str, Any]]:
    size = 1
    errors = []
    for name, param in request.space.items():
        values = sweeps.grid_values(param)
        if values is None:
            errors.append(_error(("body", "space", name), "a grid needs a step for a float range, or choices"))
        else:
            size *= len(values)
    if not errors and request.n_trials > size:
        errors.append(_error(("body", "n_trials"), f"the grid has {size} points; ask for at most {size} trials"))
    return errors


def _error(loc: tuple[str, ...], message: str) -> dict[str, Any]:
    return {"loc": loc, "msg": message, "type": "value_error"}


# --- creating and controlling sweeps ---------------------------------------------------------------------


def create(platform: Platform, session: Session, request: SweepCreate, idempotency_key: str | None) -> SweepOut:
    """Stores the sweep and its Optuna study, and queues its first trials; with an idempotency key, a repeated
    request gets the sweep the first one created (as POST /experiments does)."""
    # Prefixed, so that a key first used for an experiment never matches a sweep request, nor the other way.
    request_hash = hashlib.sha256(b"sweep:" + request.model_dump_json().encode()).hexdigest()
    if idempotency_key is not None and (earlier := store.find_idempotency_key(session, idempotency_key)):
        return _replay(platform, session, earlier, request_hash)
    app = catalog.find_app(session, request.app)
    base = check_space(request, app)
    datasets.check_configs(session, request.project, app, [base])
    platform.redis.ping()  # Redis down: a 503 now, before anything is stored
    sweep = Sweep(
        id=new_id(),
        project_id=request.project,
        name=request.name or "",
        app=request.app,
        base_config=base,
        space={name: param.model_dump(mode="json") for name, param in request.space.items()},
        objective_metric=request.objective.metric,
        direction=request.objective.direction,
        sampler=request.sampler,
        pruner=request.pruner,
        n_trials=request.n_trials,
        parallelism=request.parallelism,
        seed=request.seed,
        queue=catalog.queue_of(None, app, platform.settings.queues),
    )
    # The study first: a study without its sweep row is never read, a sweep without its study could not run.
    sweeps.create_study(platform.settings.resolved_database_url, sweep)
    session.add(sweep)
    if idempotency_key is not None:
        session.add(IdempotencyKey(key=idempotency_key, request_hash=request_hash, batch_id=sweep.id))
    try:
        session.commit()
    except IntegrityError:
        # The same key, sent twice at once: the other request stored its sweep first (this study stays unread).
        session.rollback()
        earlier = store.find_idempotency_key(session, idempotency_key or "")
        if earlier is None:
            raise
        return _replay(platform, session, earlier, request_hash)
    step(platform, sweep.id)
    return describe(platform, session, sweep.id)


def _replay(platform: Platform, session: Session, earlier: IdempotencyKey, request_hash: str) -> SweepOut:
    services.check_same_request(earlier, request_hash)
    return describe(platform, session, earlier.batch_id or "")


def pause(platform: Platform, session: Session, sweep_id: str) -> SweepOut:
    """No new trials; those queued or running finish."""
    _move(session, sweep_id, {"running"}, "paused")
    return describe(platform, session, sweep_id)


def resume(platform: Platform, session: Session, sweep_id: str) -> SweepOut:
    _move(session, sweep_id, {"paused"}, "running")
    step(platform, sweep_id)
    return describe(platform, session, sweep_id)


def stop(platform: Platform, session: Session, sweep_id: str) -> SweepOut:
    """No new trials, and the queued and running ones are cancelled (a running one keeps what it trained)."""
    _move(session, sweep_id, {"running", "paused"}, "stopped")
    for experiment in sweeps.trial_experiments(session, sweep_id):
        if experiment.status not in TERMINAL_STATUSES:
            with contextlib.suppress(HTTPException):  # it ended meanwhile: nothing to cancel
                services.cancel(platform, session, experiment.id)
    step(platform, sweep_id)
    return describe(platform, session, sweep_id)


def _move(session: Session, sweep_id: str, from_states: set[str], to_state: str) -> None:
    sweep = get(session, sweep_id)
    if sweep.state not in from_states:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"sweep {sweep_id} is {sweep.state}; only a {' or '.join(sorted(from_states))} "
            f"sweep can be made {to_state}",
        )  # fmt: skip
    sweep.state = to_state
    session.commit()


def step(platform: Platform, sweep_id: str) -> None:
    """The sweep's step now; if Redis or the broker is away it is left to the periodic step."""
    try:
        sweeps.advance(
            platform.sessions,
            platform.redis,
            platform.settings.resolved_database_url,
            sweep_id,
            lambda experiment: platform.celery.send_task(
                names.RUN_EXPERIMENT_TASK, args=[experiment.id], **run_task_options(experiment)
            ),
            platform.settings.visibility_timeout_s,
        )
    except (redis.RedisError, BrokerError) as exc:
        log.warning("sweep %s: its step waits for Redis (%s); the periodic step will take it", sweep_id, exc)


async def step_forever(platform: Platform) -> None:
    """Every AZURAFORGE_SWEEP_INTERVAL_S, every unfinished sweep's step: it catches up with trials that ended
    while no worker could advance their sweep (a worker killed, the database away) and after an API restart."""
    while True:
        await asyncio.sleep(platform.settings.sweep_interval_s)
        try:
            await run_in_threadpool(_step_all, platform)
        except (redis.RedisError, SQLAlchemyError) as exc:
            log.warning("could not advance the sweeps (%s); trying again shortly", exc)
        except Exception:
            # Whatever went wrong with one sweep, the others (and later ticks) must go on.
            log.exception("advancing the sweeps failed; trying again shortly")


def _step_all(platform: Platform) -> None:
    with platform.sessions() as session:
        sweep_ids = sweeps.active_sweep_ids(session)
    for sweep_id in sweep_ids:
        step(platform, sweep_id)


# --- describing sweeps -----------------------------------------------------------------------------------


def no_sweep(sweep_id: str) -> str:
    return f"no sweep {excerpt(sweep_id)}; GET /api/v1/sweeps lists them"


def get(session: Session, sweep_id: str) -> Sweep:
    sweep = session.get(Sweep, sweep_id)
    if sweep is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, no_sweep(sweep_id))
    return sweep


def describe(platform: Platform, session: Session, sweep_id: str) -> SweepOut:
    session.expire_all()
    sweep = get(session, sweep_id)
    study = _study(platform, sweep)
    trials = _trials(study, session, sweep)
    return SweepOut(**_summary_fields(sweep, trials), trials=trials, importances=_importances(study))


def page(
    platform: Platform, session: Session, projects: Collection[str] | None, limit: int, offset: int
) -> tuple[list[SweepSummary], int]:
    """Sweeps of `projects` (None: every project), newest first."""
    visible = select(Sweep) if projects is None else select(Sweep).where(Sweep.project_id.in_(projects))
    total = session.scalar(select(func.count()).select_from(visible.subquery())) or 0
    rows = session.scalars(visible.order_by(Sweep.created_at.desc(), Sweep.id).limit(limit).offset(offset))
    summaries = [
        SweepSummary(**_summary_fields(sweep, _trials(_study(platform, sweep), session, sweep))) for sweep in rows
    ]
    return summaries, total


def _study(platform: Platform, sweep: Sweep) -> optuna.Study:
    return optuna.load_study(study_name=sweep.id, storage=sweeps.storage(platform.settings.resolved_database_url))


def _importances(study: optuna.Study) -> dict[str, float]:
    """How much each searched field explains the objective, by PED-ANOVA (Optuna's own, needing no scikit-learn as
    fANOVA does); empty until two trials are complete."""
    if len(study.get_trials(deepcopy=False, states=[TrialState.COMPLETE])) < 2:
        return {}
    return optuna.importance.get_param_importances(study, evaluator=PedAnovaImportanceEvaluator())


def _summary_fields(sweep: Sweep, trials: list[TrialOut]) -> dict[str, Any]:
    complete = [trial for trial in trials if trial.state == "complete" and trial.value is not None]
    pick = min if sweep.direction == "minimize" else max
    best = pick(complete, key=lambda trial: trial.value or 0.0) if complete else None
    return {
        "id": sweep.id,
        "project_id": sweep.project_id,
        "name": sweep.name,
        "app": sweep.app,
        "state": sweep.state,
        "base_config": sweep.base_config,
        "space": sweep.space,
        "objective": Objective(metric=sweep.objective_metric, direction=sweep.direction),  # type: ignore[arg-type]
        "sampler": sweep.sampler,
        "pruner": sweep.pruner,
        "n_trials": sweep.n_trials,
        "parallelism": sweep.parallelism,
        "seed": sweep.seed,
        "created_at": sweep.created_at,
        "finished_at": sweep.finished_at,
        "counts": dict(Counter(trial.state for trial in trials)),
        "best": best,
    }


def _trials(study: optuna.Study, session: Session, sweep: Sweep) -> list[TrialOut]:
    experiments = {e.trial_number: e for e in sweeps.trial_experiments(session, sweep.id)}
    return [
        _trial(trial, experiments[trial.number])
        for trial in study.get_trials(deepcopy=False)
        if trial.number in experiments
    ]


def _trial(trial: FrozenTrial, experiment: Experiment) -> TrialOut:
    state: TrialStateName = _OPTUNA_STATE.get(trial.state, "running")
    if state == "running" and experiment.status == "queued":
        state = "queued"
    steps = trial.intermediate_values
    return TrialOut(
        number=trial.number,
        experiment_id=experiment.id,
        state=state,
        value=trial.value,
        latest=steps[max(steps)] if steps else None,
        epochs_reported=len(steps),
        params=experiment.trial_params or trial.params,
        experiment_status=experiment.status,  # type: ignore[arg-type]
        error=experiment.error,
    )
