"""The dashboard builds its TypeScript types from its copy of the OpenAPI document: that copy must be current."""

from pathlib import Path

from azuraforge_api.app import create_app
from azuraforge_api.openapi import document_text

DASHBOARD_COPY = Path(__file__).parents[2] / "azuraforge-dashboard" / "openapi.json"


def test_the_dashboards_openapi_copy_is_current():
    assert DASHBOARD_COPY.read_text(encoding="utf-8") == document_text(create_app()), (
        "azuraforge-dashboard/openapi.json is stale: run `npm run openapi` in azuraforge-dashboard"
    )


def test_the_served_document_describes_the_progress_events_and_the_run_record_in_the_final_one(api):
    schemas = api.http.get("/openapi.json").json()["components"]["schemas"]
    kinds = [ref["$ref"].rsplit("/", 1)[1] for ref in schemas["ProgressEvent"]["oneOf"]]
    assert sorted(kinds) == [
        "BatchEvent", "EpochEndEvent", "LogEvent", "PredictionsEvent", "StatusEvent", "SystemEvent", "TrainBeginEvent",
    ]  # fmt: skip
    assert {"$ref": "#/components/schemas/RunResult"} in schemas["StatusEvent"]["properties"]["result"]["anyOf"]
    assert "result" in schemas["ExperimentOut"]["required"]
