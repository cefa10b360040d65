"""The API's OpenAPI document, with the WebSocket's progress events added to its schemas (OpenAPI has no way to
describe a WebSocket, but clients generate their types from this one document: the dashboard does), and the
prediction inputs every task takes (the predict routes read their body themselves, JSON or an uploaded form).

The app serves it at /openapi.json and `python -m azuraforge_api.openapi FILE` writes it; the dashboard keeps a
copy (`openapi.json`) that its build turns into TypeScript, and the API's tests fail when that copy is stale.
"""

import json
import sys
from typing import Any

from fastapi import FastAPI
from pydantic import TypeAdapter

from azuraforge_common.events import ProgressEvent
from azuraforge_learner.serving import CONTRACTS

REF_TEMPLATE = "#/components/schemas/{model}"


def document_extras(app: FastAPI) -> None:
    """Makes the app's /openapi.json carry the progress events and the prediction inputs too."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        return _with_inputs(_with_events(build()))

    app.openapi = openapi  # type: ignore[method-assign]


def _with_events(document: dict[str, Any]) -> dict[str, Any]:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    if "ProgressEvent" in schemas:
        return document  # FastAPI caches the document: this one has them already
    events = TypeAdapter(ProgressEvent).json_schema(ref_template=REF_TEMPLATE, mode="serialization")
    schemas.update(events.pop("$defs", {}))
    schemas["ProgressEvent"] = events
    # azuraforge-common types the final event's result as a plain object, since it does not import the learner;
    # what it carries is the stored RunResult (see ExperimentOut.result), so the document says so.
    result = schemas["StatusEvent"]["properties"]["result"]
    result["anyOf"] = [{"$ref": REF_TEMPLATE.format(model="RunResult")}, {"type": "null"}]
    return document


def _with_inputs(document: dict[str, Any]) -> dict[str, Any]:
    schemas = document["components"]["schemas"]
    for input_model, _ in CONTRACTS.values():
        schema = input_model.model_json_schema(ref_template=REF_TEMPLATE)
        schemas.update(schema.pop("$defs", {}))
        schemas[input_model.__name__] = schema
    return document


def document_text(app: FastAPI) -> str:
    return json.dumps(app.openapi(), indent=2, sort_keys=True) + "\n"


def main() -> None:
    from azuraforge_api.app import create_app

    if len(sys.argv) != 2:
        sys.exit("usage: python -m azuraforge_api.openapi FILE (the OpenAPI document, with the progress events)")
    with open(sys.argv[1], "w", encoding="utf-8") as file:
        file.write(document_text(create_app()))


if __name__ == "__main__":
    main()
