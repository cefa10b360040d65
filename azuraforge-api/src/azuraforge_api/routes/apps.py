from fastapi import APIRouter

from azuraforge_api import catalog
from azuraforge_api.schemas import AppOut

router = APIRouter(prefix="/api/v1", tags=["apps"])


@router.get("/apps")
def list_apps() -> list[AppOut]:
    """Installed apps, each with its description, config JSON schema and defaults."""
    return catalog.installed_apps()
