"""The dashboard's built files at /, with client-side routes (/experiments/abc) answered by index.html."""

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

BUNDLED_DIR = Path(__file__).parent / "dashboard"

NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>AzuraForge</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 4rem auto; line-height: 1.5">
<h1>AzuraForge is running</h1>
<p>The dashboard is not built, so there is nothing to show here yet. From the repository, build it into
this package with <code>./scripts/build-dashboard.sh</code> and start again (or point
<code>AZURAFORGE_DASHBOARD_DIR</code> at a built <code>dist/</code>). The released wheel carries it.</p>
<p>The API works without it: see <a href="/docs">/docs</a>.</p>
</body></html>
"""


class SinglePageApp(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        try:
            return await super().get_response(path, scope)
        except HTTPException as exc:
            if exc.status_code != 404 or path.startswith(("api/", "ws/")):
                raise
            return await super().get_response("index.html", scope)


def mount_dashboard(app: FastAPI, directory: Path | None) -> None:
    """Serves `directory` (or the files bundled in this package); a page explaining how to build it if absent."""
    root = directory or BUNDLED_DIR
    if (root / "index.html").is_file():
        app.mount("/", SinglePageApp(directory=root, html=True), name="dashboard")
        return

    @app.get("/", include_in_schema=False)
    def dashboard_not_built() -> HTMLResponse:
        return HTMLResponse(NOT_BUILT)
