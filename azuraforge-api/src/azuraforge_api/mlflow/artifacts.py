"""MLflow's proxied artifact API (/api/2.0/mlflow-artifacts/artifacts/...): a run's artifact URI is
`mlflow-artifacts:/<run id>`, so the client uploads, lists and downloads through here, and the files land in the
run's folder next to its report, where the platform's artifact list and download route find them. Uploading
needs the editor role in the run's project, listing and downloading the viewer role."""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from azuraforge_api.auth import Caller, CallerDep
from azuraforge_api.deps import PlatformDep
from azuraforge_api.files import listed_directory, served_file, writable_file
from azuraforge_api.mlflow import live, store
from azuraforge_api.mlflow.errors import MlflowRoute, invalid, missing
from azuraforge_api.platform import Platform
from azuraforge_learner.artifacts import atomic_write, list_files
from azuraforge_learner.config import excerpt

router = APIRouter(prefix="/api/2.0/mlflow-artifacts/artifacts", tags=["mlflow"], route_class=MlflowRoute)


def _run_and_path(path: str) -> tuple[str, str]:
    run_id, _, relative = path.strip("/").partition("/")
    return run_id, relative


def _check_run(platform: Platform, caller: Caller, run_id: str) -> None:
    with platform.sessions() as session:
        store.active_run(session, caller, run_id)


def _uploaded(platform: Platform, caller: Caller, run_id: str) -> None:
    """The record's artifact list follows the folder; the upload counts as a heartbeat."""
    with platform.sessions() as session:
        run = store.get_run(session, caller, run_id, "editor")
        run.artifacts = list_files(platform.settings.experiment_dir(run_id))
        session.commit()
        if run.status == "running":
            live.beat(platform.redis, run_id, platform.settings.tracking_timeout_s)


@router.put("/{path:path}")
async def upload_artifact(path: str, request: Request, caller: CallerDep, platform: PlatformDep) -> dict[str, Any]:
    """The body becomes the file, whole or not at all (written aside, then renamed into place)."""
    run_id, relative = _run_and_path(path)
    await run_in_threadpool(_check_run, platform, caller, run_id)
    target = writable_file(platform.settings.experiment_dir(run_id), relative) if relative else None
    if target is None:
        raise invalid(
            f"Invalid artifact path {excerpt(path)!r}: name a file inside the run's artifacts "
            "(mlflow-artifacts:/<run id>/<path>), without '..' or absolute parts"
        )
    with atomic_write(target) as handle:
        async for chunk in request.stream():
            handle.write(chunk)
    await run_in_threadpool(_uploaded, platform, caller, run_id)
    return {}


@router.get("")
def list_artifacts(caller: CallerDep, platform: PlatformDep, path: str = "") -> dict[str, Any]:
    run_id, relative = _run_and_path(path)
    if not run_id:
        return {"files": []}
    with platform.sessions() as session:
        store.get_run(session, caller, run_id, "viewer")
    root = platform.settings.experiment_dir(run_id)
    directory = listed_directory(root, relative)
    if directory is None:
        return {"files": []}
    files = []
    for entry in sorted(directory.iterdir()):
        if entry.name.startswith("."):
            continue  # temporary files of uploads in progress
        info: dict[str, Any] = {"path": entry.name, "is_dir": entry.is_dir()}
        if entry.is_file():
            info["file_size"] = entry.stat().st_size
        files.append(info)
    return {"files": files}


@router.get("/{path:path}")
def download_artifact(path: str, caller: CallerDep, platform: PlatformDep) -> FileResponse:
    run_id, relative = _run_and_path(path)
    with platform.sessions() as session:
        store.get_run(session, caller, run_id, "viewer")
    file = served_file(platform.settings.experiment_dir(run_id), relative) if relative else None
    if file is None:
        raise missing(f"No artifact {excerpt(relative)!r} in run {run_id}; list them with GET ...?path={run_id}")
    return FileResponse(file, media_type="application/octet-stream")
