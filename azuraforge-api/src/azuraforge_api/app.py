"""The FastAPI application: `uvicorn --factory azuraforge_api.app:create_app`."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from importlib.metadata import version

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import Scope

from azuraforge_api.dashboard import mount_dashboard
from azuraforge_api.deps import bearer, session_cookie
from azuraforge_api.errors import COMMON_ERRORS, install_error_handlers
from azuraforge_api.guard import Guard, redact_tokens_in_server_logs
from azuraforge_api.mlflow import router as mlflow_router
from azuraforge_api.openapi import document_extras
from azuraforge_api.platform import Platform
from azuraforge_api.reaper import reap_forever
from azuraforge_api.routes import accounts, apps, datasets, experiments, health, live, models, sweeps
from azuraforge_api.sweeps import step_forever
from azuraforge_common.processes import freeze_startup_objects
from azuraforge_common.settings import Settings


def create_app(settings: Settings | None = None, *, freeze_gc: bool = True) -> FastAPI:
    """`freeze_gc`: at startup, exempt every object alive then from garbage collection (a full collection stopped
    the event loop 0.2-0.7 s, set off by a crowd of watchers joining a run, and every live event of that moment
    waited for it); for the process that serves the app, not for a test process that starts many apps."""
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        platform = Platform.from_settings(settings)
        app.state.platform = platform
        platform.hub.start()
        loops = [
            asyncio.create_task(reap_forever(platform), name="azuraforge-reaper"),
            asyncio.create_task(step_forever(platform), name="azuraforge-sweeps"),
        ]
        if freeze_gc:
            freeze_startup_objects()
        try:
            yield
        finally:
            for loop in loops:
                loop.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await loop
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
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-CSRF-Token"],
            allow_credentials=True,
        )
    install_error_handlers(app)
    document_extras(app)
    credentials = [Depends(bearer), Depends(session_cookie)]  # documentation: the guard checks them
    routers = (accounts.public, health.router, apps.router, experiments.router, accounts.router, sweeps.router)
    for router in (*routers, models.router, datasets.router):
        app.include_router(router, dependencies=credentials, responses=COMMON_ERRORS)
    app.include_router(mlflow_router, dependencies=credentials, include_in_schema=False)  # MLflow's API
    app.include_router(live.router)
    mount_dashboard(app, settings.dashboard_dir)
    build_routing_tables(app)
    return app


def build_routing_tables(app: FastAPI) -> None:
    """FastAPI builds an included router's routing table (dependencies, validators) when a request first walks
    past it. The first watcher's WebSocket walks past every REST router, and building them all took ~80 ms of
    the event loop on an idle machine, most of a second while training held the cores, with a crowd joining a
    run waiting behind it. A request to no route, of each kind, builds them all before the first real one."""
    for kind in ("http", "websocket"):
        nowhere: Scope = {
            "type": kind,
            "path": "/\x00",
            "root_path": "",
            "method": "GET",
            "headers": [],
            "query_string": b"",
        }
        for route in app.router.routes:
            route.matches(nowhere)
