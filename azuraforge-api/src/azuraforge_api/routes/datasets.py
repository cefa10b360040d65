from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from starlette.concurrency import run_in_threadpool

from azuraforge_api import datasets, services
from azuraforge_api.auth import CallerDep
from azuraforge_api.deps import PlatformDep, SessionDep
from azuraforge_api.errors import errors
from azuraforge_api.schemas import DatasetOut
from azuraforge_api.uploads import form_fields
from azuraforge_common.datasets import MAX_CSV_BYTES, MAX_ZIP_BYTES, MIB, DatasetKind
from azuraforge_common.models import DEFAULT_PROJECT, Dataset

router = APIRouter(prefix="/api/v1/datasets", tags=["datasets"])

MAX_NAME_LENGTH = 200
UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": f"csv: a CSV with a header line (at most {MAX_CSV_BYTES // MIB} MiB); "
                            "image-folder: a zip with one folder of images per class (at most "
                            f"{MAX_ZIP_BYTES // MIB} MiB).",
                        },
                    },
                    "required": ["file"],
                }
            }
        },
    }
}


@router.get("")
def list_datasets(
    caller: CallerDep,
    session: SessionDep,
    project: Annotated[str | None, Query(max_length=32, description="Only this project's datasets.")] = None,
    kind: Annotated[DatasetKind | None, Query(description="Only datasets of this kind.")] = None,
) -> list[DatasetOut]:
    """Uploaded datasets of the projects the caller may see (or of `project`), newest first."""
    projects = caller.visible_projects()
    if project is not None:
        caller.require(project, "viewer", services.no_project(project))
        projects = [project]
    return [DatasetOut.model_validate(dataset) for dataset in datasets.listed(session, projects, kind)]


@router.get("/{dataset_id}", responses=errors(404))
def get_dataset(dataset_id: str, caller: CallerDep, session: SessionDep) -> DatasetOut:
    dataset = caller.record(session.get(Dataset, dataset_id), "viewer", datasets.no_dataset(dataset_id))
    return DatasetOut.model_validate(dataset)


@router.post("", status_code=status.HTTP_201_CREATED, openapi_extra=UPLOAD_BODY, responses=errors(404, 413, 422))
async def upload_dataset(
    request: Request,
    response: Response,
    caller: CallerDep,
    platform: PlatformDep,
    session: SessionDep,
    kind: Annotated[DatasetKind, Query(description="csv (time series) or image-folder (a zip of class folders).")],
    project: Annotated[str, Query(max_length=32)] = DEFAULT_PROJECT,
    name: Annotated[
        str | None, Query(min_length=1, max_length=MAX_NAME_LENGTH, description="Default: the file's name.")
    ] = None,
) -> DatasetOut:
    """Upload a dataset (multipart field `file`) to `project` (the editor role there is needed): checked (422
    naming what is wrong) and kept in the artifact store under its SHA-256. The same bytes uploaded again to the
    project answer 200 with the version already kept."""
    caller.require(project, "editor", services.no_project(project))  # before a large body is read
    fields = form_fields(request.headers.get("content-type", ""), await request.body())
    if "file" not in fields:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "the form has no 'file' field; attach the CSV or zip as 'file'"
        )
    filename, data = fields["file"]
    name = name or (filename or "")[-MAX_NAME_LENGTH:] or f"{kind} dataset"
    store = platform.artifacts
    dataset, created = await run_in_threadpool(datasets.upload, session, store, caller, project, name, kind, data)
    if not created:
        response.status_code = status.HTTP_200_OK
    return DatasetOut.model_validate(dataset)


@router.delete("/{dataset_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, 409))
def delete_dataset(dataset_id: str, caller: CallerDep, platform: PlatformDep, session: SessionDep) -> None:
    """Delete a dataset and its file (editor role); 409 naming the runs that used it while any is kept."""
    dataset = caller.record(session.get(Dataset, dataset_id), "editor", datasets.no_dataset(dataset_id))
    datasets.delete(session, platform.artifacts, caller, dataset)
