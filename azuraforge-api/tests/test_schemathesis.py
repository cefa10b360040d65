"""Property-based requests from the OpenAPI schema against the authenticated API on a real uvicorn: no 5xx, and
every status, media type and body is the documented one (all of schemathesis' checks but one, see below). A
fixed seed (derandomize) and a bounded number of cases keep it repeatable and within a few minutes; a bigger run
is the same test with SCHEMATHESIS_CASES raised."""

import os

import pytest
import schemathesis
from argon2 import PasswordHasher
from conftest import RunningAPI, make_settings
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Ok

from azuraforge_api import accounts

TOKEN = "schemathesis-token"
CASES = int(os.environ.get("SCHEMATHESIS_CASES", "2000"))
"""In all, shared among the API's operations (at least 25 each), so that new routes do not lengthen the run."""


@pytest.fixture
def guarded(tmp_path, redis_server, redis_client, postgres_server, test_app_path):
    # PostgreSQL: the stricter of the two databases (no NUL in text, 64-bit integers).
    database_url = postgres_server.create_database("schemathesis")
    with RunningAPI(make_settings(tmp_path, redis_server.url, api_token=TOKEN, database_url=database_url)) as api:
        yield api


def test_the_api_answers_every_generated_request_as_documented(guarded, monkeypatch):
    # Still argon2id, at its lowest cost: every generated user would cost a second of hashing on a loaded machine.
    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    # The Python API rather than schemathesis' pytest plugin, whose node ids this pytest no longer has.
    schema = schemathesis.openapi.from_url(f"{guarded.url}/openapi.json")
    headers = {"Authorization": f"Bearer {TOKEN}"}
    # A request can match the schema and still be a 422: a config is checked against its app's own schema
    # (GET /apps), which the OpenAPI cannot carry, and strings must hold no NUL or lone surrogate.
    semantic = [schemathesis.checks.positive_data_acceptance]
    results = list(schema.get_all_operations())
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) == len(results), "schemathesis cannot read some operations of the OpenAPI"
    assert len(operations) >= 25

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=max(25, CASES // len(operations)),
            derandomize=True,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        def answers_as_documented(case):
            case.call_and_validate(headers=headers, excluded_checks=semantic)

        answers_as_documented()
