import mimetypes
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Response, status
from fastapi.responses import FileResponse, PlainTextResponse

from azuraforge_api import services
from azuraforge_api.accounts import audit
from azuraforge_api.auth import CallerDep
from azuraforge_api.deps import EditedExperiment, PlatformDep, SessionDep, ViewedExperiment
from azuraforge_api.errors import errors
from azuraforge_api.files import served_file
from azuraforge_api.schemas import (
    MAX_OFFSET,
    BatchOut,
    ExperimentCreate,
    ExperimentOut,
    ExperimentPage,
    PredictRequest,
)
from azuraforge_common import store
from azuraforge_common.events import ExperimentStatus
from azuraforge_learner.config import excerpt

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


@router.get("")
def list_experiments(
    caller: CallerDep,
    session: SessionDep,
    project: str | None = None,
    app: str | None = None,
    status: ExperimentStatus | None = None,
    tag: str | None = None,
    batch_id: str | None = None,
    sort: store.SortField = "-created_at",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> ExperimentPage:
    """A page of the experiments of the projects the caller may see (or of `project`), filtered and sorted (a
    leading "-" sorts descending)."""
    projects = caller.visible_projects()
    if project is not None:
        caller.require(project, "viewer", services.no_project(project))
        projects = [project]
    where = store.ExperimentFilter(app=app, status=status, tag=tag, batch_id=batch_id, projects=projects)
    items, total = store.list_experiments(session, where, sort, limit, offset)
    return ExperimentPage(items=[ExperimentOut.of(e) for e in items], total=total, limit=limit, offset=offset)


@router.get("/{experiment_id}", responses=errors(404))
def get_experiment(experiment: ViewedExperiment) -> ExperimentOut:
    return ExperimentOut.of(experiment)


@router.post("/{experiment_id}/cancel", status_code=status.HTTP_202_ACCEPTED, responses=errors(404, 409))
def cancel_experiment(experiment: EditedExperiment, platform: PlatformDep, session: SessionDep) -> ExperimentOut:
    """A queued experiment ends cancelled at once; a running one stops after its current batch, keeping what it
    produced (watch its events, or GET it, for the end)."""
    return ExperimentOut.of(services.cancel(platform, session, experiment.id))


@router.delete("/{experiment_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, 409))
def delete_experiment(
    experiment: EditedExperiment, caller: CallerDep, platform: PlatformDep, session: SessionDep
) -> Response:
    """Deletes the experiment, its artifacts and its events. Cancel a queued or running one first."""
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
    report = served_file(platform.settings.experiment_dir(experiment_id), REPORT)
    if report is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"experiment {experiment_id} has no report yet (it is {experiment.status}); it is written when it ends",
        )
    return MarkdownResponse(report.read_text(encoding="utf-8"))


@router.get(
    "/{experiment_id}/artifacts/{path:path}",
    response_class=FileResponse,
    responses=errors(404)
    | {200: {"description": "The file, with the media type of its name", "content": {"application/octet-stream": {}}}},
)
def get_artifact(experiment: ViewedExperiment, path: str, platform: PlatformDep) -> FileResponse:
    """One file the experiment wrote (images/loss.png, model.npz, history.csv, ...)."""
    experiment_id = experiment.id
    file = served_file(platform.settings.experiment_dir(experiment_id), path)
    if file is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"experiment {experiment_id} has no artifact {excerpt(path)}; its artifacts are listed in "
            f"GET .../{experiment_id}",
        )
    media_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    return FileResponse(file, media_type=media_type)


@router.post("/{experiment_id}/predict", responses=errors(404, 409))
async def predict(experiment: ViewedExperiment, body: PredictRequest, platform: PlatformDep) -> dict[str, Any]:
    """Forecast with the experiment's saved model from the rows given (viewers may: it changes nothing)."""
    return await services.predict(platform, experiment, body.data)
