"""MLflow's proxied artifact API (/api/2.0/mlflow-artifacts/artifacts/...): a run's artifact URI is
`mlflow-artifacts:/<run id>`, so the client uploads, lists and downloads through here, and the files land in the
artifact store with the run's other files (its report), where the platform's artifact list and download route
find them. Uploading needs the editor role in the run's project, listing and downloading the viewer role."""

import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from azuraforge_api.auth import Caller, CallerDep
from azuraforge_api.deps import PlatformDep
from azuraforge_api.files import artifact_response, run_files
from azuraforge_api.mlflow import live, store
from azuraforge_api.mlflow.errors import MlflowRoute, invalid, missing
from azuraforge_api.platform import Platform
from azuraforge_common.artifacts import run_key, valid_key
from azuraforge_learner.config import excerpt

router = APIRouter(prefix="/api/2.0/mlflow-artifacts/artifacts", tags=["mlflow"], route_class=MlflowRoute)

SPOOL_BYTES = 8 << 20
"""An upload is held in memory up to this size, then in a temporary file, until it is stored whole."""


def _run_and_path(path: str) -> tuple[str, str]:
    run_id, _, relative = path.strip("/").partition("/")
    return run_id, relative


def _check_run(platform: Platform, caller: Caller, run_id: str) -> None:
    with platform.sessions() as session:
        store.active_run(session, caller, run_id)


def _store_upload(platform: Platform, run_id: str, relative: str, source: Path) -> None:
    """Stores the upload at the run's `relative` path, unless that path is a folder of the run's files or runs
    through one of its files (a store may hold both; a folder on a disk cannot)."""
    parts = relative.split("/")
    through_file = any(platform.artifacts.exists(run_key(run_id, "/".join(parts[:n]))) for n in range(1, len(parts)))
    if through_file or platform.artifacts.keys(run_key(run_id, f"{relative}/")):
        raise invalid(f"Invalid artifact path {excerpt(relative)}: a file and a folder of the run cannot share it")
    platform.artifacts.upload(run_key(run_id, relative), source)


def _uploaded(platform: Platform, caller: Caller, run_id: str) -> None:
    """The record's artifact list follows the store; the upload counts as a heartbeat."""
    with platform.sessions() as session:
        run = store.get_run(session, caller, run_id, "editor")
        run.artifacts = run_files(platform, run_id)
        session.commit()
        if run.status == "running":
            live.beat(platform.redis, run_id, platform.settings.tracking_timeout_s)


@router.put("/{path:path}")
async def upload_artifact(path: str, request: Request, caller: CallerDep, platform: PlatformDep) -> dict[str, Any]:
    """The body becomes the file, whole or not at all (received aside, then stored)."""
    run_id, relative = _run_and_path(path)
    await run_in_threadpool(_check_run, platform, caller, run_id)
    if not valid_key(relative):
        raise invalid(
            f"Invalid artifact path {excerpt(path)}: name a file inside the run's artifacts "
            "(mlflow-artifacts:/<run id>/<path>), without '..' or absolute parts"
        )
    with tempfile.NamedTemporaryFile(prefix="azuraforge-upload-") as received:
        async for chunk in request.stream():
            received.write(chunk)
        received.flush()
        await run_in_threadpool(_store_upload, platform, run_id, relative, Path(received.name))
    await run_in_threadpool(_uploaded, platform, caller, run_id)
    return {}


@router.get("")
def list_artifacts(caller: CallerDep, platform: PlatformDep, path: str = "") -> dict[str, Any]:
    """The files and folders directly in the run's folder `path` (MLflow lists one level at a time)."""
    run_id, relative = _run_and_path(path)
    if not run_id:
        return {"files": []}
    with platform.sessions() as session:
        store.get_run(session, caller, run_id, "viewer")
    if relative and not valid_key(relative):
        return {"files": []}
    folder = f"{relative}/" if relative else ""
    files: dict[str, dict[str, Any]] = {}
    for key, size in platform.artifacts.sizes(run_key(run_id, folder)).items():
        name, _, below = key.removeprefix(run_key(run_id, folder)).partition("/")
        files[name] = {"path": name, "is_dir": True} if below else {"path": name, "is_dir": False, "file_size": size}
    return {"files": [files[name] for name in sorted(files)]}


@router.get("/{path:path}")
def download_artifact(path: str, caller: CallerDep, platform: PlatformDep) -> StreamingResponse:
    run_id, relative = _run_and_path(path)
    with platform.sessions() as session:
        store.get_run(session, caller, run_id, "viewer")
    response = artifact_response(platform, run_id, relative, "application/octet-stream") if relative else None
    if response is None:
        raise missing(f"No artifact {excerpt(relative)} in run {run_id}; list them with GET ...?path={run_id}")
    return response
