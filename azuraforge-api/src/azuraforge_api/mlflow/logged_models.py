"""MLflow 3's logged models (`mlflow.<flavor>.log_model`): stored, looked up, searched, and shown as its JSON.

A logged model belongs to the run that logged it: its files are part of the run's, at
`mlflow-artifacts:/<run id>/models/<model id>/artifacts`, so the artifact proxy, the run's file list and the run's
project rules cover them, and a model logged outside a run is refused (MLflow can keep one without a run)."""

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from azuraforge_api.accounts import Role
from azuraforge_api.auth import Caller
from azuraforge_api.mlflow import protocol, search, store
from azuraforge_api.mlflow.entities import ARTIFACTS_SCHEME
from azuraforge_api.mlflow.errors import invalid, missing
from azuraforge_common.models import Experiment, LoggedModel, new_id, utcnow
from azuraforge_learner.config import excerpt

NUMERIC_ATTRIBUTES = frozenset({"creation_timestamp", "creation_time", "last_updated_timestamp"})
STRING_ATTRIBUTES = frozenset({"name", "model_id", "model_type", "status", "source_run_id", "experiment_id"})


def artifact_uri(model: LoggedModel) -> str:
    return f"{ARTIFACTS_SCHEME}{model.run_id}/models/{model.id}/artifacts"


def model_json(model: LoggedModel) -> dict[str, Any]:
    return {
        "info": {
            "model_id": model.id,
            "experiment_id": str(model.tracking_experiment_id),
            "name": model.name,
            "artifact_uri": artifact_uri(model),
            "creation_timestamp_ms": store.ms(model.created_at),
            "last_updated_timestamp_ms": store.ms(model.updated_at),
            "model_type": model.model_type,
            "source_run_id": model.run_id,
            "status": model.status,
            "status_message": model.status_message,
            "tags": [{"key": key, "value": value} for key, value in model.tags.items()],
        },
        # A model's metrics are its run's (metrics/get-history); they are not kept per model.
        "data": {"params": [{"key": key, "value": value} for key, value in model.params.items()], "metrics": []},
    }


def model_value(model: LoggedModel, kind: str, key: str) -> search.Value:
    if kind == "tag":
        return model.tags.get(key)
    if kind == "param":
        return model.params.get(key)
    if kind != "attribute":
        return None  # metrics: see model_json
    attributes: dict[str, search.Value] = {
        "name": model.name,
        "model_id": model.id,
        "model_type": model.model_type,
        "status": model.status,
        "source_run_id": model.run_id,
        "experiment_id": str(model.tracking_experiment_id),
        "creation_timestamp": store.ms(model.created_at),
        "creation_time": store.ms(model.created_at),
        "last_updated_timestamp": store.ms(model.updated_at),
    }
    return attributes.get(key)


def _checked(kind: str, entries: Sequence[protocol.KeyValue], limit: int) -> dict[str, str]:
    for entry in entries:
        store.check_key(kind, entry.key)
        store.check_value(kind, entry.key, entry.value, limit)
    return {entry.key: entry.value for entry in entries}


def create(session: Session, caller: Caller, request: protocol.CreateLoggedModel) -> LoggedModel:
    experiment = store.get_tracking_experiment(session, caller, request.experiment_id, "editor")
    if not request.source_run_id:
        raise invalid(
            "AzuraForge keeps a logged model with the run that logged it: log the model inside a run "
            "(mlflow.start_run()) or give source_run_id"
        )
    run = store.active_run(session, caller, request.source_run_id)
    if run.tracking_experiment_id != experiment.id:
        raise invalid(
            f"Run {run.id} belongs to experiment {run.tracking_experiment_id}, not {experiment.id}: a logged model "
            "is created in its source run's experiment"
        )
    model_id = f"m-{new_id()}"
    model = LoggedModel(
        id=model_id,
        run_id=run.id,
        tracking_experiment_id=experiment.id,
        project_id=run.project_id,
        name=request.name or f"model-{model_id[2:10]}",
        model_type=request.model_type,
        tags=_checked("Tag", request.tags, protocol.MAX_TAG_VALUE_LENGTH),
        params=_checked("Param", request.params, protocol.MAX_PARAM_VALUE_LENGTH),
    )
    session.add(model)
    session.commit()
    return model


def get(session: Session, caller: Caller, model_id: str, role: Role, allow_deleted: bool = False) -> LoggedModel:
    found = session.get(LoggedModel, model_id) if model_id else None
    if found is not None and found.lifecycle_stage != store.ACTIVE and not allow_deleted:
        found = None
    return caller.record(found, role, f"Logged model with ID {excerpt(model_id)} not found")


def _touched(session: Session, model: LoggedModel) -> None:
    model.updated_at = utcnow()
    session.commit()


def finalize(session: Session, model: LoggedModel, status: protocol.LoggedModelStatus) -> None:
    model.status = status
    _touched(session, model)


def set_tags(session: Session, model: LoggedModel, tags: Sequence[protocol.KeyValue]) -> None:
    model.tags = {**model.tags, **_checked("Tag", tags, protocol.MAX_TAG_VALUE_LENGTH)}
    _touched(session, model)


def delete_tag(session: Session, model: LoggedModel, key: str) -> None:
    if key not in model.tags:
        raise missing(f"No tag with key {excerpt(key)} found for logged model {model.id}")
    model.tags = {k: v for k, v in model.tags.items() if k != key}
    _touched(session, model)


def log_params(session: Session, model: LoggedModel, params: Sequence[protocol.KeyValue]) -> None:
    given = _checked("Param", params, protocol.MAX_PARAM_VALUE_LENGTH)
    changed = sorted(key for key, value in given.items() if model.params.get(key, value) != value)
    if changed:
        raise invalid(f"Changing param values is not allowed: logged model {model.id} already has {changed[0]!r}")
    model.params = {**model.params, **given}
    _touched(session, model)


def delete(session: Session, model: LoggedModel) -> None:
    model.lifecycle_stage = store.DELETED
    _touched(session, model)


def log_outputs(session: Session, caller: Caller, request: protocol.LogOutputs) -> Experiment:
    """Records the step each model was logged at; a model is an output of the run that logged it only."""
    run = store.active_run(session, caller, request.run_id)
    for output in request.models:
        model = get(session, caller, output.model_id, "editor")
        if model.run_id != run.id:
            raise invalid(f"Logged model {model.id} was logged by run {model.run_id}, not by run {run.id}")
        model.step = output.step
    session.commit()
    return run


def search_models(
    session: Session, caller: Caller, request: protocol.SearchLoggedModels
) -> tuple[list[LoggedModel], str | None]:
    clauses = search.parse_filter(request.filter, NUMERIC_ATTRIBUTES, STRING_ATTRIBUTES)
    orderings = [
        search.Ordering(
            *search.parse_identifier(order.field_name, NUMERIC_ATTRIBUTES, STRING_ATTRIBUTES), not order.ascending
        )
        for order in request.order_by
    ]
    orderings += [
        search.Ordering("attribute", "creation_timestamp", descending=True),
        search.Ordering("attribute", "model_id", descending=False),
    ]
    experiment_ids = [store.experiment_number(experiment_id) for experiment_id in request.experiment_ids]
    query = select(LoggedModel).where(
        LoggedModel.tracking_experiment_id.in_(experiment_ids), LoggedModel.lifecycle_stage == store.ACTIVE
    )
    projects = caller.visible_projects()
    if projects is not None:
        query = query.where(LoggedModel.project_id.in_(projects))
    found = [
        model for model in session.scalars(query) if search.matches(clauses, functools.partial(model_value, model))
    ]
    return search.page(search.ordered(found, orderings, model_value), request.max_results, request.page_token)
