"""MLflow's tracking REST API (/api/2.0/mlflow/...): the calls its Python client makes for tracking.

Routes are thin: validation and storage are in store, the JSON in entities, live events in live, the end of a
run in ending. Every call on a running run counts as its client's heartbeat. Every route takes the caller:
reading needs the viewer role in the record's project, changing anything the editor role (store's lookups check
it)."""

import functools
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from azuraforge_api.auth import CallerDep, get_caller
from azuraforge_api.deps import PlatformDep, SessionDep
from azuraforge_api.mlflow import entities, live, logged_models, protocol, search, store
from azuraforge_api.mlflow.ending import end_run
from azuraforge_api.mlflow.errors import MlflowError, MlflowRoute
from azuraforge_api.platform import Platform
from azuraforge_common.events import TERMINAL_STATUSES, StatusEvent
from azuraforge_common.models import Experiment
from azuraforge_common.publish import publish_event

router = APIRouter(prefix="/api/2.0/mlflow", tags=["mlflow"], route_class=MlflowRoute)

GET_HISTORY_PAGE = 25_000
"""The client's own page size for metrics/get-history."""
Empty = dict[str, Any]


def _alive(platform: Platform, run: Experiment) -> None:
    if run.status == "running":
        live.beat(platform.redis, run.id, platform.settings.tracking_timeout_s)


# Experiments


@router.post("/experiments/create")
def create_experiment(body: protocol.CreateExperiment, caller: CallerDep, session: SessionDep) -> dict[str, str]:
    experiment = store.create_tracking_experiment(session, caller, body.name, body.tags)
    return {"experiment_id": str(experiment.id)}


@router.get("/experiments/get")
def get_experiment(experiment_id: str, caller: CallerDep, session: SessionDep) -> dict[str, Any]:
    experiment = store.get_tracking_experiment(session, caller, experiment_id, "viewer")
    return {"experiment": entities.experiment_json(experiment)}


@router.get("/experiments/get-by-name")
def get_experiment_by_name(experiment_name: str, caller: CallerDep, session: SessionDep) -> dict[str, Any]:
    return {"experiment": entities.experiment_json(store.find_tracking_experiment(session, caller, experiment_name))}


@router.post("/experiments/search")
def search_experiments(body: protocol.SearchExperiments, caller: CallerDep, session: SessionDep) -> dict[str, Any]:
    numeric, strings = entities.EXPERIMENT_NUMERIC_ATTRIBUTES, entities.EXPERIMENT_STRING_ATTRIBUTES
    clauses = search.parse_filter(body.filter, numeric, strings)
    orderings = search.parse_order_by(body.order_by, numeric, strings) or [
        search.Ordering("attribute", "last_update_time", descending=True)
    ]
    found = [
        experiment
        for experiment in store.tracking_experiments(session, caller, body.view_type)
        if search.matches(clauses, functools.partial(entities.experiment_value, experiment))
    ]
    chosen, token = search.page(
        search.ordered(found, orderings, entities.experiment_value), body.max_results, body.page_token
    )
    answer: dict[str, Any] = {"experiments": [entities.experiment_json(experiment) for experiment in chosen]}
    return answer | ({"next_page_token": token} if token else {})


@router.post("/experiments/update")
def update_experiment(body: protocol.UpdateExperiment, caller: CallerDep, session: SessionDep) -> Empty:
    experiment = store.get_tracking_experiment(session, caller, body.experiment_id, "editor")
    store.rename_tracking_experiment(session, experiment, body.new_name)
    return {}


@router.post("/experiments/delete")
def delete_experiment(body: protocol.ExperimentId, caller: CallerDep, session: SessionDep) -> Empty:
    experiment = store.get_tracking_experiment(session, caller, body.experiment_id, "editor")
    store.set_tracking_experiment_stage(session, experiment, store.DELETED)
    return {}


@router.post("/experiments/restore")
def restore_experiment(body: protocol.ExperimentId, caller: CallerDep, session: SessionDep) -> Empty:
    experiment = store.get_tracking_experiment(session, caller, body.experiment_id, "editor")
    store.set_tracking_experiment_stage(session, experiment, store.ACTIVE)
    return {}


@router.post("/experiments/set-experiment-tag")
def set_experiment_tag(body: protocol.SetExperimentTag, caller: CallerDep, session: SessionDep) -> Empty:
    experiment = store.get_tracking_experiment(session, caller, body.experiment_id, "editor")
    store.set_tracking_experiment_tag(session, experiment, body.key, body.value)
    return {}


@router.post("/experiments/delete-tag")
def delete_experiment_tag(body: protocol.DeleteExperimentTag, caller: CallerDep, session: SessionDep) -> Empty:
    experiment = store.get_tracking_experiment(session, caller, body.experiment_id, "editor")
    store.delete_tracking_experiment_tag(session, experiment, body.key)
    return {}


# Runs


@router.post("/runs/create")
def create_run(
    body: protocol.CreateRun, caller: CallerDep, platform: PlatformDep, session: SessionDep
) -> dict[str, Any]:
    run = store.create_run(session, caller, body)
    live.beat(platform.redis, run.id, platform.settings.tracking_timeout_s)
    live.run_started(platform.redis, run)
    return {"run": entities.run_json(session, run)}


@router.get("/runs/get")
def get_run(caller: CallerDep, session: SessionDep, run_id: str = "", run_uuid: str = "") -> dict[str, Any]:
    return {"run": entities.run_json(session, store.get_run(session, caller, run_id or run_uuid, "viewer"))}


@router.post("/runs/update")
def update_run(
    body: protocol.UpdateRun, caller: CallerDep, platform: PlatformDep, session: SessionDep
) -> dict[str, Any]:
    run = store.get_run(session, caller, body.id, "editor")
    if body.run_name:
        store.rename_run(session, run, body.run_name)
    end_time = store.from_ms(body.end_time) if body.end_time is not None else None
    wanted = entities.PLATFORM_STATUS[body.status] if body.status else None
    if wanted in TERMINAL_STATUSES and run.status not in TERMINAL_STATUSES:
        error = None if wanted == "succeeded" else f"the MLflow client ended the run as {body.status}"
        end_run(platform, session, run, wanted, end_time, error)
        session.refresh(run)
    elif wanted is not None and wanted in TERMINAL_STATUSES:
        store.restate_ended_run(session, run, wanted, end_time)
    elif wanted == "running" and run.status in TERMINAL_STATUSES and store.reopen_run(session, run):
        publish_event(platform.redis, StatusEvent(experiment_id=run.id, status="running"))
    _alive(platform, run)
    return {"run_info": entities.run_views(session, [run])[0].info_json()}


@router.post("/runs/delete")
def delete_run(body: protocol.RunId, caller: CallerDep, session: SessionDep) -> Empty:
    store.set_run_stage(session, store.get_run(session, caller, body.id, "editor"), store.DELETED)
    return {}


@router.post("/runs/restore")
def restore_run(body: protocol.RunId, caller: CallerDep, session: SessionDep) -> Empty:
    store.set_run_stage(session, store.get_run(session, caller, body.id, "editor"), store.ACTIVE)
    return {}


@router.post("/runs/search")
def search_runs(body: protocol.SearchRuns, caller: CallerDep, session: SessionDep) -> dict[str, Any]:
    numeric, strings = entities.RUN_NUMERIC_ATTRIBUTES, entities.RUN_STRING_ATTRIBUTES
    clauses = search.parse_filter(body.filter, numeric, strings)
    orderings = [
        *search.parse_order_by(body.order_by, numeric, strings),
        search.Ordering("attribute", "start_time", descending=True),
        search.Ordering("attribute", "run_id", descending=False),
    ]
    candidates = store.search_candidates(session, caller, body.experiment_ids, body.run_view_type)
    views = entities.run_views(session, candidates)
    found = [view for view in views if search.matches(clauses, view.value)]
    chosen, token = search.page(
        search.ordered(found, orderings, lambda view, kind, key: view.value(kind, key)),
        body.max_results,
        body.page_token,
    )
    answer: dict[str, Any] = {"runs": [view.json() for view in chosen]}
    return answer | ({"next_page_token": token} if token else {})


def _log(platform: Platform, session: SessionDep, caller: CallerDep, run_id: str, batch: store.Batch) -> Empty:
    run = store.active_run(session, caller, run_id)
    applied = store.log_batch(session, run, batch)
    if run.status == "running":
        # Values linked to a logged model are, from MLflow's log_model, the run's own sent again: not news.
        fresh = [metric for metric in batch.metrics if not metric.model_id] if applied else []
        live.logged(platform.redis, run, fresh, platform.settings.tracking_timeout_s)
    return {}


@router.post("/runs/log-metric")
def log_metric(body: protocol.LogMetric, caller: CallerDep, platform: PlatformDep, session: SessionDep) -> Empty:
    return _log(platform, session, caller, body.id, store.Batch(metrics=[body]))


@router.post("/runs/log-parameter")
def log_param(body: protocol.LogParam, caller: CallerDep, platform: PlatformDep, session: SessionDep) -> Empty:
    return _log(platform, session, caller, body.id, store.Batch(params=[body]))


@router.post("/runs/set-tag")
def set_tag(body: protocol.SetTag, caller: CallerDep, platform: PlatformDep, session: SessionDep) -> Empty:
    return _log(platform, session, caller, body.id, store.Batch(tags=[body]))


@router.post("/runs/log-batch")
def log_batch(body: protocol.LogBatch, caller: CallerDep, platform: PlatformDep, session: SessionDep) -> Empty:
    return _log(platform, session, caller, body.id, store.Batch(body.metrics, body.params, body.tags))


@router.post("/runs/delete-tag")
def delete_tag(body: protocol.DeleteTag, caller: CallerDep, platform: PlatformDep, session: SessionDep) -> Empty:
    run = store.active_run(session, caller, body.id)
    store.delete_tag(session, run, body.key)
    _alive(platform, run)
    return {}


@router.post("/runs/log-inputs")
def log_inputs(body: protocol.LogInputs, caller: CallerDep, platform: PlatformDep, session: SessionDep) -> Empty:
    run = store.active_run(session, caller, body.id)
    store.log_inputs(session, run, body.datasets)
    _alive(platform, run)
    return {}


@router.get("/metrics/get-history")
def get_metric_history(
    caller: CallerDep,
    session: SessionDep,
    metric_key: str,
    run_id: str = "",
    run_uuid: str = "",
    max_results: Annotated[int, Query(ge=1, le=GET_HISTORY_PAGE)] = GET_HISTORY_PAGE,
    page_token: str | None = None,
) -> dict[str, Any]:
    run = store.get_run(session, caller, run_id or run_uuid, "viewer")
    after = search.decode_token(page_token)  # the last metric row of the previous page
    rows = store.metric_history(session, run.id, metric_key, after, max_results + 1)
    chosen = rows[:max_results]
    answer: dict[str, Any] = {"metrics": [entities.metric_json(metric) for _, metric in chosen]}
    if len(rows) > max_results:
        answer["next_page_token"] = search.encode_token(chosen[-1][0])
    return answer


# Logged models (MLflow 3's log_model): see logged_models.


@router.post("/logged-models")
def create_logged_model(
    body: protocol.CreateLoggedModel, caller: CallerDep, platform: PlatformDep, session: SessionDep
) -> dict[str, Any]:
    model = logged_models.create(session, caller, body)
    _alive(platform, store.get_run(session, caller, model.run_id, "editor"))
    return {"model": logged_models.model_json(model)}


@router.post("/logged-models/search")
def search_logged_models(body: protocol.SearchLoggedModels, caller: CallerDep, session: SessionDep) -> dict[str, Any]:
    chosen, token = logged_models.search_models(session, caller, body)
    answer: dict[str, Any] = {"models": [logged_models.model_json(model) for model in chosen]}
    return answer | ({"next_page_token": token} if token else {})


@router.get("/logged-models/{model_id}")
def get_logged_model(
    model_id: str, caller: CallerDep, session: SessionDep, allow_deleted: bool = False
) -> dict[str, Any]:
    return {"model": logged_models.model_json(logged_models.get(session, caller, model_id, "viewer", allow_deleted))}


@router.patch("/logged-models/{model_id}")
def finalize_logged_model(
    model_id: str, body: protocol.FinalizeLoggedModel, caller: CallerDep, session: SessionDep
) -> dict[str, Any]:
    model = logged_models.get(session, caller, model_id, "editor")
    logged_models.finalize(session, model, body.status)
    return {"model": logged_models.model_json(model)}


@router.delete("/logged-models/{model_id}")
def delete_logged_model(model_id: str, caller: CallerDep, session: SessionDep) -> Empty:
    logged_models.delete(session, logged_models.get(session, caller, model_id, "editor"))
    return {}


@router.patch("/logged-models/{model_id}/tags")
def set_logged_model_tags(
    model_id: str, body: protocol.LoggedModelTags, caller: CallerDep, session: SessionDep
) -> Empty:
    logged_models.set_tags(session, logged_models.get(session, caller, model_id, "editor"), body.tags)
    return {}


@router.delete("/logged-models/{model_id}/tags/{tag_key:path}")
def delete_logged_model_tag(model_id: str, tag_key: str, caller: CallerDep, session: SessionDep) -> Empty:
    logged_models.delete_tag(session, logged_models.get(session, caller, model_id, "editor"), tag_key)
    return {}


@router.post("/logged-models/{model_id}/params")
def log_logged_model_params(
    model_id: str, body: protocol.LoggedModelParams, caller: CallerDep, session: SessionDep
) -> Empty:
    logged_models.log_params(session, logged_models.get(session, caller, model_id, "editor"), body.params)
    return {}


@router.post("/runs/outputs")
def log_outputs(body: protocol.LogOutputs, caller: CallerDep, platform: PlatformDep, session: SessionDep) -> Empty:
    _alive(platform, logged_models.log_outputs(session, caller, body))
    return {}


@router.api_route(
    "/{unknown:path}",
    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
    dependencies=[Depends(get_caller)],  # signed-in callers learn what is not served
)
def not_served(unknown: str, request: Request) -> None:
    raise MlflowError(
        "ENDPOINT_NOT_FOUND",
        f"{request.method} /api/2.0/mlflow/{unknown[:100]} is not served by AzuraForge; its README lists the MLflow "
        "tracking endpoints it serves",
    )
