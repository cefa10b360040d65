"""MLflow's tracking API, served by the platform: an unmodified MLflow client (MLFLOW_TRACKING_URI pointing at
the API) logs runs that become ordinary experiments with source "external"."""

from fastapi import APIRouter

from azuraforge_api.mlflow import artifacts, routes

router = APIRouter()
router.include_router(artifacts.router)
router.include_router(routes.router)
