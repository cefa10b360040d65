from fastapi import APIRouter, Depends

from azuraforge_api import catalog
from azuraforge_api.auth import get_caller
from azuraforge_api.deps import SessionDep
from azuraforge_api.schemas import AppOut

router = APIRouter(prefix="/api/v1", tags=["apps"], dependencies=[Depends(get_caller)])  # no project role


@router.get("/apps")
def list_apps(session: SessionDep) -> list[AppOut]:
    """The apps the workers have installed, as they published them: each with its description, config JSON schema
    and defaults, the metrics a run declares, and who published it when. An app that fails to load is left out
    (the API logs its error; submitting it is a 422 naming the error)."""
    return catalog.published_apps(session)
