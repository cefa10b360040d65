from fastapi import APIRouter, Depends

from azuraforge_api import catalog
from azuraforge_api.auth import get_caller
from azuraforge_api.schemas import AppOut

router = APIRouter(prefix="/api/v1", tags=["apps"], dependencies=[Depends(get_caller)])  # no project role


@router.get("/apps")
def list_apps() -> list[AppOut]:
    """Installed apps, each with its description, config JSON schema and defaults."""
    return catalog.installed_apps()
