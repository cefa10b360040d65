"""The FastAPI application: `uvicorn --factory azuraforge_api.app:create_app`."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from importlib.metadata import version

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from azuraforge_api.dashboard import mount_dashboard
from azuraforge_api.deps import bearer
from azuraforge_api.errors import COMMON_ERRORS, install_error_handlers
from azuraforge_api.guard import Guard, redact_tokens_in_server_logs
from azuraforge_api.openapi import document_extras
from azuraforge_api.platform import Platform
from azuraforge_api.reaper import reap_forever
from azuraforge_api.routes import apps, experiments, health, live, models
from azuraforge_common.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        platform = Platform.from_settings(settings)
        app.state.platform = platform
        platform.hub.start()
        reaper = asyncio.create_task(reap_forever(platform), name="azuraforge-reaper")
        try:
            yield
        finally:
            reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reaper
            await platform.close()

    app = FastAPI(
        title="AzuraForge",
        summary="Start deep-learning experiments, watch them train live, read their reports.",
        version=version("azuraforge-api"),
        lifespan=lifespan,
    )
    redact_tokens_in_server_logs()
    app.add_middleware(Guard, settings=settings)  # inside CORS, so that its refusals carry CORS headers
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
        )
    install_error_handlers(app)
    document_extras(app)
    for router in (health.router, apps.router, experiments.router, models.router):
        app.include_router(router, dependencies=[Depends(bearer)], responses=COMMON_ERRORS)
    app.include_router(live.router)
    mount_dashboard(app, settings.dashboard_dir)
    return app
