import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Response, status
from fastapi.responses import PlainTextResponse, StreamingResponse

from azuraforge_api import services
from azuraforge_api.accounts import audit
from azuraforge_api.auth import Caller, CallerDep
from azuraforge_api.deps import EditedExperiment, PlatformDep, SessionDep, ViewedExperiment
from azuraforge_api.errors import errors
from azuraforge_api.files import artifact_response, read_artifact
from azuraforge_api.schemas import (
    MAX_OFFSET,
    BatchOut,
    BulkRequest,
    BulkResult,
    ExperimentCreate,
    ExperimentOut,
    ExperimentPage,
    ExperimentPatch,
    LogPage,
    PredictRequest,
)
from azuraforge_common import store
from azuraforge_common.events import TERMINAL_STATUSES
from azuraforge_learner.config import excerpt
from azuraforge_learner.serving import ForecastOutput

router = APIRouter(prefix="/api/v1/experiments", tags=["experiments"])

REPORT = "report.md"


@router.post("", status_code=status.HTTP_202_ACCEPTED, responses=errors(404, 409))
def create_experiment(
    body: ExperimentCreate,
    caller: CallerDep,
    platform: PlatformDep,
    session: SessionDep,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> ExperimentOut | BatchOut:
    """Queue an experiment in `project` (the editor role there is needed), or one per combination of `grid`.
    With an Idempotency-Key header, repeating the request returns what the first one created instead of
    creating more."""
    caller.require(body.project, "editor", services.no_project(body.project))
    submission = services.submit(platform, session, body, idempotency_key)
    if submission.batch_id is None:
        return ExperimentOut.of(submission.experiments[0])
    return BatchOut(batch_id=submission.batch_id, experiments=[ExperimentOut.of(e) for e in submission.experiments])


ListFilters = Annotated[
    store.ExperimentFilter, Depends(services.list_filter)
]  # app, status, tag, batch_id, source, q and filter, shared by the list and its CSV export
SortQuery = Annotated[
    str,
    Query(
        max_length=120,
        pattern=store.SORT_PATTERN,
        description="A column (created_at, started_at, finished_at, name, app, status), metric.<name> (a test "
        "metric, or a per-epoch one at its last epoch) or config.<field> (numbers); a leading '-' sorts "
        "descending. Runs without the value come last.",
    ),
]


@router.get("")
def list_experiments(
    caller: CallerDep,
    session: SessionDep,
    where: ListFilters,
    sort: SortQuery = "-created_at",
    project: Annotated[str | None, Query(max_length=32, description="Only this project's runs.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    cursor: Annotated[
        str | None, Query(max_length=2000, description="next_cursor of the previous page (same sort and filters).")
    ] = None,
) -> ExperimentPage:
    """A page of the experiments of the projects the caller may see (or of `project`), searched, filtered and
    sorted. Page with `cursor` (stable while runs are added or deleted) or with `offset`."""
    where = _visible(caller, where, project)
    items, total, next_cursor = services.list_page(session, where, sort, limit, offset, cursor)
    return ExperimentPage(
        items=[ExperimentOut.of(e) for e in items], total=total, limit=limit, offset=offset, next_cursor=next_cursor
    )


def _visible(caller: Caller, where: store.ExperimentFilter, project: str | None) -> store.ExperimentFilter:
    """The filter narrowed to the projects the caller may see, or to `project` if it may see that one."""
    if project is None:
        return dataclasses.replace(where, projects=caller.visible_projects())
    caller.require(project, "viewer", services.no_project(project))
    return dataclasses.replace(where, projects=[project])


class CSVResponse(PlainTextResponse):
    media_type = "text/csv"


@router.get(
    "/export.csv",
    response_class=CSVResponse,
    responses={200: {"description": "One row per experiment", "content": {"text/csv": {}}}},
)
def export_experiments(
    caller: CallerDep,
    session: SessionDep,
    where: ListFilters,
    sort: SortQuery = "-created_at",
    project: Annotated[str | None, Query(max_length=32, description="Only this project's runs.")] = None,
) -> CSVResponse:
    """The experiments the list shows with the same search, filters and sort (up to 10 000), as CSV: one column
    per field, metric (metric.<name>) and config field (config.<field>)."""
    return CSVResponse(
        services.export_csv(session, _visible(caller, where, project), sort),
        headers={"Content-Disposition": 'attachment; filename="experiments.csv"'},
    )


@router.post("/bulk", responses=errors(404))
def bulk_action(body: BulkRequest, caller: CallerDep, platform: PlatformDep, session: SessionDep) -> BulkResult:
    """Cancel or delete a selection of experiments, or a whole grid batch; what could not be done is listed
    with the reason (already ended, unknown id, not yours to change)."""
    return services.bulk(platform, session, caller, body)


@router.get("/{experiment_id}", responses=errors(404))
def get_experiment(experiment: ViewedExperiment) -> ExperimentOut:
    return ExperimentOut.of(experiment)


@router.patch("/{experiment_id}", responses=errors(404))
def update_experiment(
    experiment: EditedExperiment, body: ExperimentPatch, platform: PlatformDep, session: SessionDep
) -> ExperimentOut:
    """Rename, retag or write notes (markdown); fields left out stay as they are."""
    return ExperimentOut.of(services.update(platform, session, experiment.id, body))


@router.get("/{experiment_id}/clone", responses=errors(404))
def clone_experiment(experiment: ViewedExperiment, session: SessionDep) -> ExperimentCreate:
    """The request that runs this experiment again exactly (same config, same seed): POST it as it is, or
    change it first. Compare the two runs' result.provenance to see whether the data was the same."""
    return services.clone(session, experiment.id)


@router.post("/{experiment_id}/cancel", status_code=status.HTTP_202_ACCEPTED, responses=errors(404, 409))
def cancel_experiment(experiment: EditedExperiment, platform: PlatformDep, session: SessionDep) -> ExperimentOut:
    """A queued experiment ends cancelled at once; a running one stops after its current batch, keeping what it
    produced (watch its events, or GET it, for the end)."""
    return ExperimentOut.of(services.cancel(platform, session, experiment.id))


@router.delete("/{experiment_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404))
def delete_experiment(
    experiment: EditedExperiment, caller: CallerDep, platform: PlatformDep, session: SessionDep
) -> Response:
    """Deletes the experiment, its artifacts and its events; a queued or running one is cancelled first (its
    worker stops after the current batch)."""
    services.delete(platform, session, experiment.id)
    audit(session, caller.name, "experiment.delete", experiment.id, project_id=experiment.project_id, ip=caller.ip)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


class MarkdownResponse(PlainTextResponse):
    media_type = "text/markdown"


@router.get(
    "/{experiment_id}/report",
    response_class=MarkdownResponse,
    responses=errors(404) | {200: {"description": "report.md", "content": {"text/markdown": {}}}},
)
def get_report(experiment: ViewedExperiment, platform: PlatformDep) -> MarkdownResponse:
    """report.md as markdown; its image links are relative to .../artifacts/."""
    experiment_id = experiment.id
    report = read_artifact(platform, experiment_id, REPORT)
    if report is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"experiment {experiment_id} has no report yet (it is {experiment.status}); it is written when it ends",
        )
    return MarkdownResponse(report.decode("utf-8"))


@router.get(
    "/{experiment_id}/artifacts.zip",
    response_class=StreamingResponse,
    responses=errors(404) | {200: {"description": "Every artifact", "content": {"application/zip": {}}}},
)
def get_artifacts_zip(experiment: ViewedExperiment, platform: PlatformDep) -> StreamingResponse:
    """Every file the run wrote (its artifacts list, run.log included) as one zip."""
    experiment_id = experiment.id
    return StreamingResponse(
        services.artifacts_zip(platform, experiment_id, list(experiment.artifacts)),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{experiment_id}.zip"'},
    )


@router.get(
    "/{experiment_id}/artifacts/{path:path}",
    response_class=StreamingResponse,
    responses=errors(404)
    | {200: {"description": "The file, with the media type of its name", "content": {"application/octet-stream": {}}}},
)
def get_artifact(experiment: ViewedExperiment, path: str, platform: PlatformDep) -> StreamingResponse:
    """One file the experiment wrote (images/loss.png, model.npz, history.csv, ...), streamed from the store."""
    experiment_id = experiment.id
    response = artifact_response(platform, experiment_id, path)
    if response is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"experiment {experiment_id} has no artifact {excerpt(path)}; its artifacts are listed in "
            f"GET .../{experiment_id}",
        )
    return response


@router.get("/{experiment_id}/logs", responses=errors(404))
def get_logs(
    experiment: ViewedExperiment,
    platform: PlatformDep,
    after: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Skip this many lines.")] = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> LogPage:
    """Lines of the run's run.log (logging, stdout, stderr, warnings, a failure's traceback) after line `after`.
    While it runs, the log events of its WebSocket carry the same lines, numbered the same way."""
    total, lines = services.log_lines(platform, experiment.id, after, limit)
    return LogPage(first_line=after + 1, lines=lines, total=total, finished=experiment.status in TERMINAL_STATUSES)


@router.post("/{experiment_id}/predict", response_model=ForecastOutput, responses=errors(404, 409))
async def predict(experiment: ViewedExperiment, body: PredictRequest, platform: PlatformDep) -> dict[str, Any]:
    """Forecast with the experiment's saved model from the rows given (by the model server, as registered
    models are: POST /api/v1/models/{name}/versions/{version}/predict)."""
    return await services.predict_with_run(platform, experiment, body.data)
