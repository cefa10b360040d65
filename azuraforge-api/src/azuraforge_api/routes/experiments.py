from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Response, status
from fastapi.responses import PlainTextResponse, StreamingResponse

from azuraforge_api import services
from azuraforge_api.deps import PlatformDep, SessionDep
from azuraforge_api.errors import errors
from azuraforge_api.files import artifact_response, read_artifact
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
    platform: PlatformDep,
    session: SessionDep,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> ExperimentOut | BatchOut:
    """Queue an experiment, or one per combination of `grid`. With an Idempotency-Key header, repeating the
    request returns what the first one created instead of creating more."""
    submission = services.submit(platform, session, body, idempotency_key)
    if submission.batch_id is None:
        return ExperimentOut.of(submission.experiments[0])
    return BatchOut(batch_id=submission.batch_id, experiments=[ExperimentOut.of(e) for e in submission.experiments])


@router.get("")
def list_experiments(
    session: SessionDep,
    app: str | None = None,
    status: ExperimentStatus | None = None,
    tag: str | None = None,
    batch_id: str | None = None,
    sort: store.SortField = "-created_at",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> ExperimentPage:
    """A page of experiments, filtered and sorted (a leading "-" sorts descending)."""
    where = store.ExperimentFilter(app=app, status=status, tag=tag, batch_id=batch_id)
    items, total = store.list_experiments(session, where, sort, limit, offset)
    return ExperimentPage(items=[ExperimentOut.of(e) for e in items], total=total, limit=limit, offset=offset)


@router.get("/{experiment_id}", responses=errors(404))
def get_experiment(experiment_id: str, session: SessionDep) -> ExperimentOut:
    return ExperimentOut.of(services.get(session, experiment_id))


@router.post("/{experiment_id}/cancel", status_code=status.HTTP_202_ACCEPTED, responses=errors(404, 409))
def cancel_experiment(experiment_id: str, platform: PlatformDep, session: SessionDep) -> ExperimentOut:
    """A queued experiment ends cancelled at once; a running one stops after its current batch, keeping what it
    produced (watch its events, or GET it, for the end)."""
    return ExperimentOut.of(services.cancel(platform, session, experiment_id))


@router.delete("/{experiment_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, 409))
def delete_experiment(experiment_id: str, platform: PlatformDep, session: SessionDep) -> Response:
    """Deletes the experiment, its artifacts and its events. Cancel a queued or running one first."""
    services.delete(platform, session, experiment_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


class MarkdownResponse(PlainTextResponse):
    media_type = "text/markdown"


@router.get(
    "/{experiment_id}/report",
    response_class=MarkdownResponse,
    responses=errors(404) | {200: {"description": "report.md", "content": {"text/markdown": {}}}},
)
def get_report(experiment_id: str, platform: PlatformDep, session: SessionDep) -> MarkdownResponse:
    """report.md as markdown; its image links are relative to .../artifacts/."""
    experiment = services.get(session, experiment_id)
    report = read_artifact(platform, experiment_id, REPORT)
    if report is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"experiment {experiment_id} has no report yet (it is {experiment.status}); it is written when it ends",
        )
    return MarkdownResponse(report.decode("utf-8"))


@router.get(
    "/{experiment_id}/artifacts/{path:path}",
    response_class=StreamingResponse,
    responses=errors(404)
    | {200: {"description": "The file, with the media type of its name", "content": {"application/octet-stream": {}}}},
)
def get_artifact(experiment_id: str, path: str, platform: PlatformDep, session: SessionDep) -> StreamingResponse:
    """One file the experiment wrote (images/loss.png, model.npz, history.csv, ...), streamed from the store."""
    services.get(session, experiment_id)
    response = artifact_response(platform, experiment_id, path)
    if response is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"experiment {experiment_id} has no artifact {excerpt(path)}; its artifacts are listed in "
            f"GET .../{experiment_id}",
        )
    return response


@router.post("/{experiment_id}/predict", responses=errors(404, 409))
async def predict(experiment_id: str, body: PredictRequest, platform: PlatformDep) -> dict[str, Any]:
    """Forecast with the experiment's saved model from the rows given."""
    return await services.predict(platform, experiment_id, body.data)
