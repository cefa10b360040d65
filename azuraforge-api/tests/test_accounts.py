"""Accounts, projects and scoped tokens (issue 17) against a real uvicorn, Redis and SQLite (PostgreSQL where
it matters): who may see and do what, on every route of the app (the OpenAPI's and the MLflow tracking API's)
and on the WebSockets."""

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import websockets
from argon2 import PasswordHasher
from conftest import RunningAPI, create, make_settings, run_in_process, serving
from fastapi.routing import APIRoute, APIWebSocketRoute
from websockets.sync.client import connect

from azuraforge_api import accounts
from azuraforge_api.auth import CSRF_COOKIE, get_caller
from azuraforge_common.models import ApiToken, utcnow
from azuraforge_learner.tracking import Run, TrackingError, start_run

BOOTSTRAP = "bootstrap-admin-token"
PASSWORD = "correct horse battery"
PUBLIC = {("POST", "/api/v1/auth/login")}
"""The only operations answered without credentials."""
MLFLOW_PREFIXES = ("/api/2.0/mlflow/", "/api/2.0/mlflow-artifacts/")


MLFLOW = "/api/2.0/mlflow"
MLFLOW_ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
TRACKING_B = "tracking-of-b"
"""The name of project B's MLflow experiment."""


@dataclass
class Team:
    """Project A (alice owns it) and project B (bob owns it, vera views it), each with one queued run; B also
    has an MLflow experiment with a running MLflow run, which logged a metric and an artifact."""

    api: RunningAPI
    project_a: str
    project_b: str
    run_a: str
    run_b: str
    tokens: dict[str, str]
    ids: dict[str, str]
    tracking_b: str
    mlflow_run_b: str

    def as_user(self, name: str) -> httpx.Client:
        return httpx.Client(base_url=self.api.url, headers={"Authorization": f"Bearer {self.tokens[name]}"}, timeout=30)


def login(api: RunningAPI, username: str, password: str = PASSWORD) -> httpx.Client:
    """A browser-like client: the session cookie, and the CSRF header taken from its cookie."""
    client = httpx.Client(base_url=api.url, timeout=30)
    response = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    assert response.json()["csrf_token"] == client.cookies[CSRF_COOKIE]
    client.headers["X-CSRF-Token"] = client.cookies[CSRF_COOKIE]
    return client


def add_user(api: RunningAPI, username: str, **fields):
    response = api.http.post("/api/v1/users", json={"username": username, "password": PASSWORD, **fields})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def new_token(client: httpx.Client, scopes=("read", "write"), **fields):
    response = client.post("/api/v1/tokens", json={"name": "test", "scopes": list(scopes), **fields})
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture(autouse=True)
def quick_hashes(monkeypatch):
    """Still argon2id, at its lowest cost: the tests check who gets in, not how long a guess takes (on a
    loaded machine the default costs about a second per hash)."""
    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def team(tmp_path, redis_server, redis_client, test_app_path):
    with RunningAPI(make_settings(tmp_path, redis_server.url, api_token=BOOTSTRAP)) as api:
        ids = {name: add_user(api, name) for name in ("alice", "bob", "vera")}
        sessions = {name: login(api, name) for name in ids}
        project_a = sessions["alice"].post("/api/v1/projects", json={"name": "A"}).json()["id"]
        project_b = sessions["bob"].post("/api/v1/projects", json={"name": "B"}).json()["id"]
        response = sessions["bob"].put(f"/api/v1/projects/{project_b}/members/vera", json={"role": "viewer"})
        assert response.status_code == 200, response.text
        runs = {}
        for name, project in (("alice", project_a), ("bob", project_b)):
            body = {"app": "sine_test", "project": project, "config": {"epochs": 1, "window": 4, "horizon": 2}}
            response = sessions[name].post("/api/v1/experiments", json=body)
            assert response.status_code == 202, response.text
            runs[name] = response.json()["id"]
        sweep = {"app": "sine_test", "project": project_b, "space": SPACE, "objective": {"metric": "val_loss"}}
        response = sessions["bob"].post("/api/v1/sweeps", json={**sweep, "n_trials": 1, "parallelism": 1})
        assert response.status_code == 202, response.text
        ids["sweep_b"] = response.json()["id"]
        upload = {"file": ("b.csv", b"time,value\n1,2\n2,3\n")}
        response = sessions["bob"].post("/api/v1/datasets", params={"project": project_b, "kind": "csv"}, files=upload)
        assert response.status_code == 201, response.text
        ids["dataset_b"] = response.json()["id"]
        tokens = {name: new_token(session)["token"] for name, session in sessions.items()}
        ids["bob_token"] = sessions["bob"].get("/api/v1/tokens").json()[0]["id"]
        for session in sessions.values():
            session.close()
        tracking_b, mlflow_run_b, ids["logged_model_b"] = mlflow_run_in(api, tokens["bob"], project_b)
        yield Team(api, project_a, project_b, runs["alice"], runs["bob"], tokens, ids, tracking_b, mlflow_run_b)


def mlflow_run_in(api: RunningAPI, token: str, project: str) -> tuple[str, str, str]:
    """An MLflow experiment (TRACKING_B) made in `project` through its tag, and a run in it with a metric, an
    artifact and a logged model (tagged stage=candidate), logged with `token`."""
    with httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        tags = [{"key": "azuraforge.project", "value": project}]
        created = client.post(f"{MLFLOW}/experiments/create", json={"name": TRACKING_B, "tags": tags})
        assert created.status_code == 200, created.text
        experiment_id = created.json()["experiment_id"]
        run = client.post(f"{MLFLOW}/runs/create", json={"experiment_id": experiment_id, "run_name": "b-run"})
        assert run.status_code == 200, run.text
        run_id = run.json()["run"]["info"]["run_id"]
        metric = {"run_id": run_id, "key": "loss", "value": 0.5, "timestamp": 1, "step": 0}
        assert client.post(f"{MLFLOW}/runs/log-metric", json=metric).status_code == 200
        assert client.put(f"{MLFLOW_ARTIFACTS}/{run_id}/notes.txt", content=b"of b").status_code == 200
        model = {"experiment_id": experiment_id, "source_run_id": run_id, "name": "b-model"}
        model |= {"tags": [{"key": "stage", "value": "candidate"}]}
        created = client.post(f"{MLFLOW}/logged-models", json=model)
        assert created.status_code == 200, created.text
    return experiment_id, run_id, created.json()["model"]["info"]["model_id"]


# The role matrix: every operation of the app, called by someone signed out, by alice (no role in project B)
# and by vera (viewer of B), on project B's records. A new operation fails here until it is listed, with the
# status each of them must get. The MLflow routes answer in MLflow's shape: RESOURCE_DOES_NOT_EXIST (404) for a
# record alice cannot see, PERMISSION_DENIED (403) for vera changing one.

ROWS = [{"value": float(i)} for i in range(8)]
SPACE = {"learning_rate": {"type": "float", "low": 0.001, "high": 0.1}}
MATRIX: dict[tuple[str, str], tuple[int, int, int]] = {
    # (method, path): (signed out, outsider, viewer)
    ("POST", "/api/v1/auth/login"): (401, 401, 401),  # with a wrong password
    ("POST", "/api/v1/auth/logout"): (401, 204, 204),
    ("GET", "/api/v1/auth/me"): (401, 200, 200),
    ("GET", "/api/v1/health"): (401, 200, 200),
    ("GET", "/api/v1/apps"): (401, 200, 200),
    ("POST", "/api/v1/experiments"): (401, 404, 403),
    ("GET", "/api/v1/experiments"): (401, 200, 200),
    ("GET", "/api/v1/experiments/{experiment_id}"): (401, 404, 200),
    ("POST", "/api/v1/experiments/{experiment_id}/cancel"): (401, 404, 403),
    ("DELETE", "/api/v1/experiments/{experiment_id}"): (401, 404, 403),
    ("GET", "/api/v1/experiments/{experiment_id}/report"): (401, 404, 200),
    ("GET", "/api/v1/experiments/{experiment_id}/artifacts/{path}"): (401, 404, 200),
    ("POST", "/api/v1/experiments/{experiment_id}/predict"): (401, 404, 200),
    ("GET", "/api/v1/tokens"): (401, 200, 200),
    ("POST", "/api/v1/tokens"): (401, 201, 201),
    ("DELETE", "/api/v1/tokens/{token_id}"): (401, 404, 404),
    ("GET", "/api/v1/projects"): (401, 200, 200),
    ("POST", "/api/v1/projects"): (401, 201, 201),
    ("GET", "/api/v1/projects/{project_id}/members"): (401, 404, 200),
    ("PUT", "/api/v1/projects/{project_id}/members/{username}"): (401, 404, 403),
    ("DELETE", "/api/v1/projects/{project_id}/members/{username}"): (401, 404, 403),
    ("GET", "/api/v1/users"): (401, 403, 403),
    ("POST", "/api/v1/users"): (401, 403, 403),
    ("PATCH", "/api/v1/users/{user_id}"): (401, 403, 403),
    ("GET", "/api/v1/audit"): (401, 403, 403),
    ("GET", "/api/v1/experiments/export.csv"): (401, 200, 200),
    ("POST", "/api/v1/experiments/bulk"): (401, 200, 200),  # each refused id is listed as skipped
    ("PATCH", "/api/v1/experiments/{experiment_id}"): (401, 404, 403),
    ("GET", "/api/v1/experiments/{experiment_id}/clone"): (401, 404, 200),
    ("GET", "/api/v1/experiments/{experiment_id}/artifacts.zip"): (401, 404, 200),
    ("GET", "/api/v1/experiments/{experiment_id}/logs"): (401, 404, 200),
    ("POST", "/api/v1/sweeps"): (401, 404, 403),
    ("GET", "/api/v1/sweeps"): (401, 200, 200),
    ("GET", "/api/v1/sweeps/{sweep_id}"): (401, 404, 200),
    ("POST", "/api/v1/sweeps/{sweep_id}/pause"): (401, 404, 403),
    ("POST", "/api/v1/sweeps/{sweep_id}/resume"): (401, 404, 403),
    ("POST", "/api/v1/sweeps/{sweep_id}/stop"): (401, 404, 403),
    # MLflow's tracking API (not in the OpenAPI).
    ("POST", f"{MLFLOW}/experiments/create"): (401, 404, 403),
    ("GET", f"{MLFLOW}/experiments/get"): (401, 404, 200),
    ("GET", f"{MLFLOW}/experiments/get-by-name"): (401, 404, 200),
    ("POST", f"{MLFLOW}/experiments/search"): (401, 200, 200),
    ("POST", f"{MLFLOW}/experiments/update"): (401, 404, 403),
    ("POST", f"{MLFLOW}/experiments/delete"): (401, 404, 403),
    ("POST", f"{MLFLOW}/experiments/restore"): (401, 404, 403),
    ("POST", f"{MLFLOW}/experiments/set-experiment-tag"): (401, 404, 403),
    ("POST", f"{MLFLOW}/experiments/delete-tag"): (401, 404, 403),
    ("POST", f"{MLFLOW}/runs/create"): (401, 404, 403),
    ("GET", f"{MLFLOW}/runs/get"): (401, 404, 200),
    ("POST", f"{MLFLOW}/runs/update"): (401, 404, 403),
    ("POST", f"{MLFLOW}/runs/delete"): (401, 404, 403),
    ("POST", f"{MLFLOW}/runs/restore"): (401, 404, 403),
    ("POST", f"{MLFLOW}/runs/search"): (401, 200, 200),
    ("POST", f"{MLFLOW}/runs/log-metric"): (401, 404, 403),
    ("POST", f"{MLFLOW}/runs/log-parameter"): (401, 404, 403),
    ("POST", f"{MLFLOW}/runs/set-tag"): (401, 404, 403),
    ("POST", f"{MLFLOW}/runs/log-batch"): (401, 404, 403),
    ("POST", f"{MLFLOW}/runs/delete-tag"): (401, 404, 403),
    ("POST", f"{MLFLOW}/runs/log-inputs"): (401, 404, 403),
    ("GET", f"{MLFLOW}/metrics/get-history"): (401, 404, 200),
    ("POST", f"{MLFLOW}/logged-models"): (401, 404, 403),
    ("POST", f"{MLFLOW}/logged-models/search"): (401, 200, 200),
    ("GET", f"{MLFLOW}/logged-models/{{model_id}}"): (401, 404, 200),
    ("PATCH", f"{MLFLOW}/logged-models/{{model_id}}"): (401, 404, 403),
    ("DELETE", f"{MLFLOW}/logged-models/{{model_id}}"): (401, 404, 403),
    ("PATCH", f"{MLFLOW}/logged-models/{{model_id}}/tags"): (401, 404, 403),
    ("DELETE", f"{MLFLOW}/logged-models/{{model_id}}/tags/{{tag_key}}"): (401, 404, 403),
    ("POST", f"{MLFLOW}/logged-models/{{model_id}}/params"): (401, 404, 403),
    ("POST", f"{MLFLOW}/runs/outputs"): (401, 404, 403),
    **{(method, f"{MLFLOW}/{{unknown}}"): (401, 404, 404) for method in ("GET", "POST", "PUT", "PATCH", "DELETE")},
    ("PUT", f"{MLFLOW_ARTIFACTS}/{{path}}"): (401, 404, 403),
    ("GET", f"{MLFLOW_ARTIFACTS}/{{path}}"): (401, 404, 200),
    ("GET", MLFLOW_ARTIFACTS): (401, 404, 200),
    ("GET", "/api/v1/models"): (401, 200, 200),
    ("GET", "/api/v1/models/resolve"): (401, 422, 422),  # no uri: test_models_of_a_project_... resolves B's
    ("GET", "/api/v1/models/{name}"): (401, 404, 200),
    ("PATCH", "/api/v1/models/{name}"): (401, 404, 403),
    ("POST", "/api/v1/models/{name}/versions"): (401, 404, 403),
    ("GET", "/api/v1/models/{name}/versions/{version}"): (401, 404, 200),
    ("PATCH", "/api/v1/models/{name}/versions/{version}"): (401, 404, 403),
    ("DELETE", "/api/v1/models/{name}/versions/{version}"): (401, 404, 403),
    ("PUT", "/api/v1/models/{name}/aliases/{alias}"): (401, 404, 403),
    ("DELETE", "/api/v1/models/{name}/aliases/{alias}"): (401, 404, 403),
    ("POST", "/api/v1/models/{reference}/predict"): (401, 404, 200),
    ("POST", "/api/v1/models/{name}/versions/{version}/predict"): (401, 404, 200),
    ("GET", "/api/v1/datasets"): (401, 200, 200),
    ("POST", "/api/v1/datasets"): (401, 404, 403),
    ("GET", "/api/v1/datasets/{dataset_id}"): (401, 404, 200),
    ("DELETE", "/api/v1/datasets/{dataset_id}"): (401, 404, 403),
}
BODIES = {
    ("POST", "/api/v1/auth/login"): {"username": "vera", "password": "not the password"},
    ("POST", "/api/v1/experiments"): {"app": "sine_test", "project": "{project_id}"},
    ("POST", "/api/v1/experiments/{experiment_id}/predict"): {"data": ROWS},
    ("POST", "/api/v1/experiments/bulk"): {"action": "cancel", "ids": ["{experiment_id}"]},
    ("PATCH", "/api/v1/experiments/{experiment_id}"): {"notes": "changed by {caller}"},
    ("POST", "/api/v1/sweeps"): {
        "app": "sine_test",
        "project": "{project_id}",
        "space": SPACE,
        "objective": {"metric": "val_loss"},
        "n_trials": 1,
    },
    ("POST", "/api/v1/tokens"): {"name": "matrix", "scopes": ["read"]},
    ("POST", "/api/v1/projects"): {"name": "made by {caller}"},
    ("PUT", "/api/v1/projects/{project_id}/members/{username}"): {"role": "owner"},
    ("POST", "/api/v1/users"): {"username": "mallory", "password": PASSWORD, "admin": True},
    ("PATCH", "/api/v1/users/{user_id}"): {"admin": True},
    ("PATCH", "/api/v1/models/{name}"): {"description": "changed by {caller}"},
    ("POST", "/api/v1/models/{name}/versions"): {"experiment_id": "{experiment_id}"},
    ("PATCH", "/api/v1/models/{name}/versions/{version}"): {"description": "changed by {caller}"},
    ("PUT", "/api/v1/models/{name}/aliases/{alias}"): {"version": 2},
    ("POST", "/api/v1/models/{reference}/predict"): {"history": ROWS},
    ("POST", "/api/v1/models/{name}/versions/{version}/predict"): {"history": ROWS},
    ("POST", f"{MLFLOW}/experiments/create"): {
        "name": "made by {caller}",
        "tags": [{"key": "azuraforge.project", "value": "{project_id}"}],
    },
    ("POST", f"{MLFLOW}/experiments/search"): {},
    ("POST", f"{MLFLOW}/experiments/update"): {"experiment_id": "{tracking_id}", "new_name": "renamed"},
    ("POST", f"{MLFLOW}/experiments/delete"): {"experiment_id": "{tracking_id}"},
    ("POST", f"{MLFLOW}/experiments/restore"): {"experiment_id": "{tracking_id}"},
    ("POST", f"{MLFLOW}/experiments/set-experiment-tag"): {"experiment_id": "{tracking_id}", "key": "k", "value": "v"},
    ("POST", f"{MLFLOW}/experiments/delete-tag"): {"experiment_id": "{tracking_id}", "key": "azuraforge.project"},
    ("POST", f"{MLFLOW}/runs/create"): {"experiment_id": "{tracking_id}"},
    ("POST", f"{MLFLOW}/runs/update"): {"run_id": "{mlflow_run}", "status": "KILLED"},
    ("POST", f"{MLFLOW}/runs/delete"): {"run_id": "{mlflow_run}"},
    ("POST", f"{MLFLOW}/runs/restore"): {"run_id": "{mlflow_run}"},
    ("POST", f"{MLFLOW}/runs/search"): {"experiment_ids": ["{tracking_id}"]},
    ("POST", f"{MLFLOW}/runs/log-metric"): {
        "run_id": "{mlflow_run}",
        "key": "loss",
        "value": 9.0,
        "timestamp": 2,
        "step": 1,
    },
    ("POST", f"{MLFLOW}/runs/log-parameter"): {"run_id": "{mlflow_run}", "key": "lr", "value": "1"},
    ("POST", f"{MLFLOW}/runs/set-tag"): {"run_id": "{mlflow_run}", "key": "k", "value": "v"},
    ("POST", f"{MLFLOW}/runs/log-batch"): {"run_id": "{mlflow_run}", "params": [{"key": "lr", "value": "1"}]},
    ("POST", f"{MLFLOW}/runs/delete-tag"): {"run_id": "{mlflow_run}", "key": "mlflow.runName"},
    ("POST", f"{MLFLOW}/runs/log-inputs"): {
        "run_id": "{mlflow_run}",
        "datasets": [{"dataset": {"name": "d", "digest": "1", "source_type": "local", "source": "/d"}}],
    },
    ("POST", f"{MLFLOW}/logged-models"): {"experiment_id": "{tracking_id}", "source_run_id": "{mlflow_run}"},
    ("POST", f"{MLFLOW}/logged-models/search"): {"experiment_ids": ["{tracking_id}"]},
    ("PATCH", f"{MLFLOW}/logged-models/{{model_id}}"): {"status": "LOGGED_MODEL_UPLOAD_FAILED"},
    ("PATCH", f"{MLFLOW}/logged-models/{{model_id}}/tags"): {"tags": [{"key": "stage", "value": "planted"}]},
    ("POST", f"{MLFLOW}/logged-models/{{model_id}}/params"): {"params": [{"key": "planted", "value": "1"}]},
    ("POST", f"{MLFLOW}/runs/outputs"): {"run_id": "{mlflow_run}", "models": [{"model_id": "{model_id}", "step": 7}]},
}
QUERIES = {
    ("POST", "/api/v1/datasets"): {"project": "{project_id}", "kind": "csv"},
    ("GET", f"{MLFLOW}/experiments/get"): {"experiment_id": "{tracking_id}"},
    ("GET", f"{MLFLOW}/experiments/get-by-name"): {"experiment_name": TRACKING_B},
    ("GET", f"{MLFLOW}/runs/get"): {"run_id": "{mlflow_run}"},
    ("GET", f"{MLFLOW}/metrics/get-history"): {"run_id": "{mlflow_run}", "metric_key": "loss"},
    ("GET", MLFLOW_ARTIFACTS): {"path": "{mlflow_run}"},
}
URLS = {
    # One path parameter, two meanings: the MLflow artifact proxy's path starts with the run's id.
    ("PUT", f"{MLFLOW_ARTIFACTS}/{{path}}"): f"{MLFLOW_ARTIFACTS}/{{mlflow_run}}/planted.txt",
    ("GET", f"{MLFLOW_ARTIFACTS}/{{path}}"): f"{MLFLOW_ARTIFACTS}/{{mlflow_run}}/notes.txt",
}


def path_values(team: Team) -> dict[str, str]:
    """Project B's records, by the name of the path parameter that holds them."""
    return {
        "experiment_id": team.run_b,
        "path": "report.md",
        "token_id": team.ids["bob_token"],
        "project_id": team.project_b,
        "username": "vera",
        "user_id": team.ids["bob"],
        "sweep_id": team.ids["sweep_b"],
        "tracking_id": team.tracking_b,
        "mlflow_run": team.mlflow_run_b,
        "unknown": "registered-models/create",
        "name": MODEL_B,
        "version": "1",
        "alias": "production",
        "reference": f"{MODEL_B}@production",
        "dataset_id": team.ids["dataset_b"],
        "model_id": team.ids["logged_model_b"],
        "tag_key": "stage",
    }


MODEL_B = "model-of-b"


def register_model_b(team: Team) -> None:
    """B's run finished (by the worker's code, here) and registered by bob as MODEL_B version 1, aliased
    production; version 2 is the same run again."""
    run_in_process(team.api, team.run_b)
    bob = team.as_user("bob")
    for _ in range(2):
        response = bob.post(f"/api/v1/models/{MODEL_B}/versions", json={"experiment_id": team.run_b})
        assert response.status_code == 201, response.text
    assert bob.put(f"/api/v1/models/{MODEL_B}/aliases/production", json={"version": 1}).status_code == 200


def fill(value, values: dict[str, str]):
    if isinstance(value, str):
        return value.format(**values)
    if isinstance(value, dict):
        return {key: fill(item, values) for key, item in value.items()}
    if isinstance(value, list):
        return [fill(item, values) for item in value]
    return value


def app_routes(routes):
    """Every route of the app, also those of included routers (which newer FastAPI wraps)."""
    for route in routes:
        if isinstance(route, APIRoute | APIWebSocketRoute):
            yield route
        elif hasattr(route, "original_router"):
            yield from app_routes(route.original_router.routes)


def test_every_route_but_login_depends_on_the_caller(team):
    routes = [r for r in app_routes(team.api.app.routes) if isinstance(r, APIRoute) and r.path.startswith("/api/")]
    # As the OpenAPI writes them: {path:path} is {path}.
    found = {(method, re.sub(r":\w+}", "}", route.path)) for route in routes for method in route.methods or ()}
    assert found == set(MATRIX), "every route of the app is in the matrix, which checks what each caller gets"
    unscoped = [
        f"{method} {route.path}"
        for route in routes
        for method in route.methods or ()
        if (method, route.path) not in PUBLIC and not _depends_on(route.dependant, get_caller)
    ]
    assert unscoped == [], "give these routes a CallerDep (see the README's 'How to scope a new route')"


def test_every_websocket_refuses_a_caller_without_credentials(team):
    paths = [route.path for route in app_routes(team.api.app.routes) if isinstance(route, APIWebSocketRoute)]
    assert sorted(paths) == ["/ws/experiments", "/ws/experiments/{experiment_id}"]
    for path in paths:
        url = team.api.ws_url + re.sub(r"\{(\w+)\}", lambda match: path_values(team)[match[1]], path)
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            connect(url).close()
        assert refused.value.response.status_code == 401, path


def _depends_on(dependant, call) -> bool:
    return dependant.call is call or any(_depends_on(sub, call) for sub in dependant.dependencies)


@pytest.fixture
def team_model_server(team):
    """The model server's code on the team's platform, so that predictions get answered."""
    with serving(team.api) as cache:
        yield cache


def test_the_role_matrix_covers_every_operation_and_holds(team, team_model_server):
    document = team.api.http.get("/openapi.json").json()
    operations = {(method.upper(), path) for path, methods in document["paths"].items() for method in methods}
    assert operations - MATRIX.keys() == set(), "add these operations to MATRIX with what each caller gets"
    register_model_b(team)  # B's run ends, with a report, artifacts and a model, registered in B
    values = path_values(team)
    outsider, viewer = team.as_user("alice"), team.as_user("vera")
    anonymous = httpx.Client(base_url=team.api.url, timeout=30)
    wrong = []
    for (method, path), expected in MATRIX.items():
        for caller, client, status in zip(
            ("signed out", "alice", "vera"), (anonymous, outsider, viewer), expected, strict=True
        ):
            body = fill(BODIES.get((method, path)), {**values, "caller": caller})
            url = URLS.get((method, path), path).format(**values)
            query = fill(QUERIES.get((method, path)), values)
            response = client.request(method, url, json=body, params=query)
            if response.status_code != status:
                wrong.append(
                    f"{caller}: {method} {path} is {response.status_code}, not {status}: {response.text[:200]}"
                )
            if path.startswith(MLFLOW_PREFIXES) and caller != "signed out" and status in (403, 404):
                code = {403: "PERMISSION_DENIED", 404: "RESOURCE_DOES_NOT_EXIST"}[status]
                if "unknown" in path:
                    code = "ENDPOINT_NOT_FOUND"
                if response.json().get("error_code") != code:
                    wrong.append(f"{caller}: {method} {path} is not MLflow's {code}: {response.text[:200]}")
            sent = f"{url} {query} {body}"
            if caller == "alice":  # beyond what she sent herself, nothing of project B reaches her
                for secret in (team.run_b, team.project_b, '"B"', team.mlflow_run_b, TRACKING_B):
                    if secret not in sent:
                        assert secret not in response.text, f"{method} {path} shows alice a record of project B"
    assert wrong == []
    # Nothing a refused call tried happened.
    bob = team.as_user("bob")
    model = bob.get(f"/api/v1/models/{MODEL_B}").json()
    assert (model["description"], [a["version"] for a in model["aliases"]], model["versions"]) == ("", [1], 2)
    assert bob.get(f"/api/v1/experiments/{team.run_b}").json()["status"] == "succeeded"
    members = {m["username"]: m["role"] for m in bob.get(f"/api/v1/projects/{team.project_b}/members").json()}
    assert members == {"bob": "owner", "vera": "viewer"}
    assert team.api.http.get("/api/v1/users").json()[1]["admin"] is False
    assert "mallory" not in team.api.http.get("/api/v1/users").text
    assert bob.get(f"/api/v1/experiments/{team.run_b}").json()["notes"] == ""
    assert bob.get(f"/api/v1/datasets/{team.ids['dataset_b']}").status_code == 200
    assert bob.get("/api/v1/datasets").json()[0]["name"] == "b.csv", "nobody else uploaded to B"
    listed = viewer.get("/api/v1/experiments").json()["items"]
    assert {team.run_b, team.mlflow_run_b} <= {item["id"] for item in listed}
    assert {item["project_id"] for item in listed} == {team.project_b}, "vera sees B's runs only"
    assert {item["id"] for item in outsider.get("/api/v1/experiments").json()["items"]} == {team.run_a}
    run = bob.get(f"{MLFLOW}/runs/get", params={"run_id": team.mlflow_run_b}).json()["run"]
    assert (run["info"]["status"], run["info"]["lifecycle_stage"]) == ("RUNNING", "active")
    assert run["data"]["metrics"] == [{"key": "loss", "value": 0.5, "timestamp": 1, "step": 0}]
    assert (run["data"]["params"], run["inputs"]["dataset_inputs"]) == ([], [])
    assert run["data"]["tags"] == [{"key": "mlflow.runName", "value": "b-run"}]
    experiment = bob.get(f"{MLFLOW}/experiments/get", params={"experiment_id": team.tracking_b}).json()["experiment"]
    assert (experiment["name"], experiment["lifecycle_stage"]) == (TRACKING_B, "active")
    assert experiment["tags"] == [{"key": "azuraforge.project", "value": team.project_b}]
    listed = bob.get(f"{MLFLOW_ARTIFACTS}", params={"path": team.mlflow_run_b}).json()["files"]
    assert [file["path"] for file in listed] == ["notes.txt"]
    logged = bob.get(f"{MLFLOW}/logged-models/{team.ids['logged_model_b']}").json()["model"]
    assert (logged["info"]["status"], logged["info"]["tags"]) == (
        "LOGGED_MODEL_PENDING",
        [{"key": "stage", "value": "candidate"}],
    )
    assert logged["data"]["params"] == []
    found = bob.post(f"{MLFLOW}/logged-models/search", json={"experiment_ids": [team.tracking_b]}).json()["models"]
    assert [model["info"]["name"] for model in found] == ["b-model"], "no model was created by a refused call"
    assert run["outputs"]["model_outputs"] == [{"model_id": team.ids["logged_model_b"], "step": 0}]


def test_models_of_a_project_are_seen_and_served_by_its_members_only(team):
    register_model_b(team)
    alice, vera, bob = team.as_user("alice"), team.as_user("vera"), team.as_user("bob")
    model, by_alias = f"/api/v1/models/{MODEL_B}", f"/api/v1/models/{MODEL_B}@production/predict"
    resolve = {"uri": f"models:/{MODEL_B}@production"}
    assert alice.get("/api/v1/models").json() == []
    for response in (
        alice.get(model),
        alice.get(model, params={"project": team.project_b}),
        alice.get("/api/v1/models/resolve", params=resolve),
        alice.post(by_alias, json={"history": ROWS}),
        alice.put(f"{model}/aliases/production", json={"version": 2}),
    ):
        assert response.status_code == 404, "alice cannot tell B's model from a missing one"
        assert response.json()["detail"].startswith(f"no model named '{MODEL_B}'")

    assert [(m["name"], m["project_id"]) for m in vera.get("/api/v1/models").json()] == [(MODEL_B, team.project_b)]
    assert vera.get("/api/v1/models/resolve", params=resolve).json()["version"] == 1
    for refused in (
        vera.put(f"{model}/aliases/production", json={"version": 2}),
        vera.delete(f"{model}/aliases/production"),
        vera.delete(f"{model}/versions/2"),
    ):
        assert refused.status_code == 403
        assert "your role in project" in refused.json()["detail"]

    assert bob.put(f"{model}/aliases/production", json={"version": 2}).json()["updated_by"] == "bob"
    assert bob.delete(f"{model}/versions/1").status_code == 204
    entries = team.api.http.get("/api/v1/audit").json()["items"]
    seen = {(entry["actor"], entry["action"], entry["target"]): entry for entry in reversed(entries)}  # newest
    moved = seen[("bob", "model.alias.set", f"{MODEL_B}@production")]
    assert (moved["project_id"], moved["details"]) == (team.project_b, {"before": 1, "version": 2})
    assert seen[("bob", "model.version.delete", f"{MODEL_B}/1")]["project_id"] == team.project_b

    # A name lives in a project: alice's run makes a model of her own; one name in two projects the site admin
    # sees needs ?project=; a run of A cannot join B's model.
    run_in_process(team.api, team.run_a)
    created = alice.post(f"{model}/versions", json={"experiment_id": team.run_a})
    assert (created.status_code, created.json()["version"]) == (201, 1)
    admin = team.api.http
    ambiguous = admin.get(model)
    assert ambiguous.status_code == 409
    assert "name one with ?project=" in ambiguous.json()["detail"]
    assert admin.get(model, params={"project": team.project_a}).json()["version_list"][0]["experiment_id"] == (
        team.run_a
    )
    assert bob.post("/api/v1/models/only-in-b/versions", json={"experiment_id": team.run_b}).status_code == 201
    joining = admin.post("/api/v1/models/only-in-b/versions", json={"experiment_id": team.run_a})
    assert joining.status_code == 409
    assert f"experiment {team.run_a} in project {team.project_a}" in joining.json()["detail"]


def test_websockets_need_credentials_and_hide_other_projects(team):
    url = f"{team.api.ws_url}/ws/experiments/{team.run_b}"
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        connect(url).close()
    assert refused.value.response.status_code == 401
    alice = {"Authorization": f"Bearer {team.tokens['alice']}"}
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        connect(url, additional_headers=alice).close()
    assert refused.value.response.status_code == 404, "alice cannot tell B's run from a missing one"
    with connect(url, additional_headers={"Authorization": f"Bearer {team.tokens['vera']}"}) as ws:
        assert team.run_b in ws.recv(timeout=10), "vera, a viewer of B, watches its run"

    with connect(f"{team.api.ws_url}/ws/experiments", additional_headers=alice) as watching:
        bob, alice_client = team.as_user("bob"), team.as_user("alice")
        in_b = bob.post("/api/v1/experiments", json={"app": "sine_test", "project": team.project_b}).json()["id"]
        in_a = alice_client.post("/api/v1/experiments", json={"app": "sine_test", "project": team.project_a})
        first = watching.recv(timeout=10)
        assert in_a.json()["id"] in first, "B's run, announced first, never reached alice"
        assert in_b not in first


# Sessions, CSRF and tokens.


def test_a_session_needs_the_csrf_header_to_change_anything_and_ends_at_logout(team):
    bob = login(team.api, "bob")
    launch = {"app": "sine_test", "project": team.project_b}
    csrf = bob.headers.pop("X-CSRF-Token")
    assert bob.get("/api/v1/experiments").status_code == 200, "reading needs no CSRF token"
    missing = bob.post("/api/v1/experiments", json=launch)
    assert missing.status_code == 403
    assert "X-CSRF-Token" in missing.json()["detail"] or "x-csrf-token" in missing.json()["detail"]
    assert bob.post("/api/v1/experiments", json=launch, headers={"X-CSRF-Token": "forged"}).status_code == 403
    from_elsewhere = {"X-CSRF-Token": csrf, "Origin": "http://evil.example"}
    assert bob.post("/api/v1/experiments", json=launch, headers=from_elsewhere).status_code == 403
    assert bob.post("/api/v1/experiments", json=launch, headers={"X-CSRF-Token": csrf}).status_code == 202
    kept = bob.cookies["azuraforge_session"]
    assert bob.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    replayed = httpx.get(f"{team.api.url}/api/v1/auth/me", cookies={"azuraforge_session": kept})
    assert replayed.status_code == 401, "a logged-out session's cookie is refused even if kept"
    again = httpx.post(
        f"{team.api.url}/api/v1/auth/login",
        json={"username": "bob", "password": PASSWORD},
        cookies={"azuraforge_session": kept},
    )
    assert again.status_code == 200, "an ended session's cookie does not stand in the way of logging in again"


def test_revoked_expired_and_deactivated_credentials_fail_at_once(team):
    bob = login(team.api, "bob")
    revoked, expiring = new_token(bob), new_token(bob, expires_in_days=1)
    assert new_token(bob)["token"] != revoked["token"], "each token is new"
    with httpx.Client(base_url=team.api.url, headers={"Authorization": f"Bearer {revoked['token']}"}) as client:
        assert client.get("/api/v1/experiments").status_code == 200
        assert bob.delete(f"/api/v1/tokens/{revoked['id']}").status_code == 204
        assert client.get("/api/v1/experiments").status_code == 401
    with team.api.platform.sessions() as session:
        stored = session.get(ApiToken, expiring["id"])
        assert len(stored.token_hash) == 64, "only the token's SHA-256 is stored"
        stored.expires_at = utcnow() - timedelta(seconds=1)
        session.commit()
    expired = httpx.get(f"{team.api.url}/api/v1/auth/me", headers={"Authorization": f"Bearer {expiring['token']}"})
    assert expired.status_code == 401
    read_only = new_token(bob, scopes=["read"])["token"]
    as_reader = httpx.post(
        f"{team.api.url}/api/v1/experiments",
        json={"app": "sine_test", "project": team.project_b},
        headers={"Authorization": f"Bearer {read_only}"},
    )
    assert as_reader.status_code == 403
    assert "'write' scope" in as_reader.json()["detail"]
    assert bob.post("/api/v1/tokens", json={"name": "x", "scopes": ["admin"]}).status_code == 403

    response = team.api.http.patch(f"/api/v1/users/{team.ids['bob']}", json={"active": False})
    assert response.status_code == 200
    assert bob.get("/api/v1/auth/me").status_code == 401, "the session of a deactivated user ends at once"
    assert team.as_user("bob").get("/api/v1/auth/me").status_code == 401, "and so do its tokens"


def test_a_viewer_promoted_to_editor_can_launch_and_role_changes_are_audited(team):
    vera = login(team.api, "vera")
    launch = {"app": "sine_test", "project": team.project_b}
    assert vera.post("/api/v1/experiments", json=launch).status_code == 403
    bob = login(team.api, "bob")
    assert bob.put(f"/api/v1/projects/{team.project_b}/members/vera", json={"role": "editor"}).status_code == 200
    launched = vera.post("/api/v1/experiments", json=launch)
    assert launched.status_code == 202
    assert launched.json()["project_id"] == team.project_b
    assert vera.post(f"/api/v1/experiments/{launched.json()['id']}/cancel").status_code == 202
    last_owner = bob.put(f"/api/v1/projects/{team.project_b}/members/bob", json={"role": "viewer"})
    assert last_owner.status_code == 409, "a project keeps an owner"
    assert bob.post(f"/api/v1/experiments/{team.run_b}/cancel").status_code == 202
    assert bob.delete(f"/api/v1/experiments/{team.run_b}").status_code == 204

    entries = team.api.http.get("/api/v1/audit").json()["items"]
    seen = {(entry["actor"], entry["action"], entry["target"]) for entry in entries}
    assert ("bob", "member.set", "vera") in seen
    assert ("bob", "experiment.delete", team.run_b) in seen
    assert ("bob", "token.create", team.ids["bob_token"]) in seen
    assert ("vera", "login", "") in seen
    assert ("bootstrap-token", "user.create", "vera") in seen
    change = next(entry for entry in entries if entry["action"] == "member.set" and entry["target"] == "vera")
    assert change["details"] == {"before": "viewer", "role": "editor"}


def test_logins_are_rate_limited_per_account_with_a_clear_429(team):
    client = httpx.Client(base_url=team.api.url, timeout=30)
    for _ in range(5):
        assert client.post("/api/v1/auth/login", json={"username": "vera", "password": "wrong"}).status_code == 401
    throttled = client.post("/api/v1/auth/login", json={"username": "vera", "password": PASSWORD})
    assert throttled.status_code == 429, "even the right password waits"
    assert "too many failed logins for this account" in throttled.json()["detail"]
    assert 0 < int(throttled.headers["Retry-After"]) <= 900
    assert client.post("/api/v1/auth/login", json={"username": "bob", "password": PASSWORD}).status_code == 200
    failures = team.api.http.get("/api/v1/audit", params={"action": "login.failed"}).json()
    assert failures["total"] == 5


def test_the_bootstrap_token_is_a_site_admin_without_an_account(team):
    me = team.api.http.get("/api/v1/auth/me").json()
    assert (me["username"], me["admin"], me["via"]) == ("bootstrap-token", True, "bootstrap")
    assert {project["id"] for project in me["projects"]} >= {"default", team.project_a, team.project_b}
    listed = {item["id"] for item in team.api.http.get("/api/v1/experiments?limit=100").json()["items"]}
    assert {team.run_a, team.run_b, team.mlflow_run_b} <= listed, "every project's runs"
    refused = team.api.http.post("/api/v1/tokens", json={"name": "x", "scopes": ["read"]})
    assert refused.status_code == 409
    assert "azuraforge users create" in refused.json()["detail"]


# The first account: a fresh platform is open until one exists, made by the CLI.


def test_the_api_is_open_until_the_first_admin_is_created_by_the_cli(
    tmp_path, redis_server, redis_client, test_app_path
):
    settings = make_settings(tmp_path, redis_server.url)
    with RunningAPI(settings) as api:
        experiment = create(api)
        assert api.http.get("/api/v1/auth/me").json()["via"] == "open"
        env = {
            **os.environ,
            "AZURAFORGE_DATABASE_URL": settings.resolved_database_url,
            "AZURAFORGE_DATA_DIR": str(settings.data_dir),
        }
        azuraforge = str(Path(sys.executable).parent / "azuraforge")
        command = [azuraforge, "users", "create", "root", "--admin", "--password-stdin"]
        done = subprocess.run(command, input=f"{PASSWORD}\n", env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "created site admin root" in done.stdout
        assert api.http.get("/api/v1/experiments").status_code == 401, "accounts exist: sign in now"
        root = login(api, "root")
        assert root.get(f"/api/v1/experiments/{experiment['id']}").json()["project_id"] == "default"
        assert root.get("/api/v1/auth/me").json()["admin"] is True


# The MLflow tracking API: records of a project the caller cannot see are missing, too low a role is refused.


def mlflow_error(response, status, code):
    assert response.status_code == status, response.text
    assert response.json()["error_code"] == code, response.text
    return response.json()["message"]


def test_an_outsider_cannot_see_or_log_into_another_projects_mlflow_records(team):
    alice = team.as_user("alice")
    absent = "f" * 32
    for run_id in (team.mlflow_run_b, absent):  # B's run answers exactly as a run that does not exist
        message = mlflow_error(
            alice.get(f"{MLFLOW}/runs/get", params={"run_id": run_id}), 404, "RESOURCE_DOES_NOT_EXIST"
        )
        assert message == f"Run with id={run_id!r} not found"
        metric = {"run_id": run_id, "key": "loss", "value": 1.0, "timestamp": 1, "step": 1}
        mlflow_error(alice.post(f"{MLFLOW}/runs/log-metric", json=metric), 404, "RESOURCE_DOES_NOT_EXIST")
    message = mlflow_error(
        alice.get(f"{MLFLOW}/experiments/get", params={"experiment_id": team.tracking_b}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    assert message == f"No Experiment with id={team.tracking_b!r} exists"
    by_name = alice.get(f"{MLFLOW}/experiments/get-by-name", params={"experiment_name": TRACKING_B})
    mlflow_error(by_name, 404, "RESOURCE_DOES_NOT_EXIST")
    searched = alice.post(f"{MLFLOW}/experiments/search", json={}).json()["experiments"]
    assert [experiment["name"] for experiment in searched] == ["Default"]
    assert alice.post(f"{MLFLOW}/runs/search", json={"experiment_ids": [team.tracking_b]}).json() == {"runs": []}
    mlflow_error(alice.get(f"{MLFLOW_ARTIFACTS}/{team.mlflow_run_b}/notes.txt"), 404, "RESOURCE_DOES_NOT_EXIST")
    # Her own experiment of the same name, in her project, is hers alone.
    tags = [{"key": "azuraforge.project", "value": team.project_a}]
    mine = alice.post(f"{MLFLOW}/experiments/create", json={"name": TRACKING_B, "tags": tags}).json()["experiment_id"]
    found = alice.get(f"{MLFLOW}/experiments/get-by-name", params={"experiment_name": TRACKING_B}).json()
    assert found["experiment"]["experiment_id"] == mine
    bob_sees = team.as_user("bob").get(f"{MLFLOW}/experiments/get-by-name", params={"experiment_name": TRACKING_B})
    assert bob_sees.json()["experiment"]["experiment_id"] == team.tracking_b
    # The external run is a record of project B for the platform's own routes too.
    assert alice.get(f"/api/v1/experiments/{team.mlflow_run_b}").status_code == 404
    in_b = team.as_user("vera").get("/api/v1/experiments", params={"project": team.project_b}).json()["items"]
    assert team.mlflow_run_b in {item["id"] for item in in_b}


def run_mlflow_client(api, token, *args):
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": api.url,
        "MLFLOW_TRACKING_TOKEN": token,
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    }
    script = Path(__file__).parent / "mlflow_clients" / "project_flow.py"
    done = subprocess.run([sys.executable, str(script), *args], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_the_mlflow_client_logs_with_an_editors_token_and_not_with_a_viewers(team):
    bob = login(team.api, "bob")
    add_user(team.api, "ed")
    assert bob.put(f"/api/v1/projects/{team.project_b}/members/ed", json={"role": "editor"}).status_code == 200
    ed_token = new_token(login(team.api, "ed"))["token"]

    logged = run_mlflow_client(team.api, ed_token, "log", team.project_b)
    run = bob.get(f"/api/v1/experiments/{logged['run_id']}").json()
    assert (run["project_id"], run["status"], run["app"], run["source"]) == (
        team.project_b,
        "succeeded",
        "by-token",
        "external",
    )
    assert run["metrics"] == {"loss": 0.25}
    assert "notes.txt" in run["artifacts"]

    tried = run_mlflow_client(team.api, team.tokens["vera"], "try", logged["run_id"], team.project_b)
    assert tried == {
        "get": "OK",
        "log_metric": "PERMISSION_DENIED",
        "log_artifact": "PERMISSION_DENIED",
        "create": "PERMISSION_DENIED",
    }
    history = bob.get(f"{MLFLOW}/metrics/get-history", params={"run_id": logged["run_id"], "metric_key": "loss"})
    assert [metric["value"] for metric in history.json()["metrics"]] == [0.25], "nothing refused was logged"
    listed = bob.get(MLFLOW_ARTIFACTS, params={"path": logged["run_id"]}).json()["files"]
    assert "planted.txt" not in {file["path"] for file in listed}


def test_the_native_client_logs_into_the_project_it_names_as_the_mlflow_route_allows(team, tmp_path):
    buffer = tmp_path / "buffer"

    def start(user: str, project: str) -> Run:
        return start_run(
            "native",
            {"lr": 0.1},
            server=team.api.url,
            token=team.tokens[user],
            experiment="native-b",
            project=project,
            buffer_dir=buffer,
        )

    with start("bob", team.project_b) as run:
        run.log({"loss": 0.5}, step=0)
    logged = team.as_user("bob").get(f"/api/v1/experiments/{run.run_id}").json()
    assert (logged["project_id"], logged["status"], logged["app"]) == (team.project_b, "succeeded", "native-b")
    with start("bob", team.project_b) as again:  # the experiment is found again, not made twice
        pass
    assert team.as_user("bob").get(f"/api/v1/experiments/{again.run_id}").json()["project_id"] == team.project_b

    with pytest.raises(TrackingError, match=r"PERMISSION_DENIED.*viewer"):  # vera sees B's experiment, edits nothing
        start("vera", team.project_b)
    with pytest.raises(TrackingError, match="RESOURCE_DOES_NOT_EXIST"):  # alice does not see B at all
        start("alice", team.project_b)
    assert list(buffer.iterdir()) == [], "a refused run leaves nothing to resend"
    listed = team.as_user("bob").get("/api/v1/experiments", params={"app": "native-b"}).json()
    assert listed["total"] == 2


def test_an_mlflow_experiment_is_made_in_an_existing_project_and_stays_there(team):
    bob, admin = team.as_user("bob"), team.api.http
    nowhere = [{"key": "azuraforge.project", "value": "no-such-project"}]
    refused = admin.post(f"{MLFLOW}/experiments/create", json={"name": "lost", "tags": nowhere})
    assert "no-such-project" in mlflow_error(refused, 404, "RESOURCE_DOES_NOT_EXIST")
    move = {"experiment_id": team.tracking_b, "key": "azuraforge.project", "value": team.project_a}
    message = mlflow_error(
        bob.post(f"{MLFLOW}/experiments/set-experiment-tag", json=move), 400, "INVALID_PARAMETER_VALUE"
    )
    assert "fixed at its creation" in message
    assert bob.post(f"{MLFLOW}/experiments/set-experiment-tag", json={**move, "value": team.project_b}).json() == {}
    untagged = bob.post(f"{MLFLOW}/experiments/create", json={"name": "untagged"})
    mlflow_error(untagged, 403, "PERMISSION_DENIED")  # bob is a viewer of the default project, where it would go
    made = admin.post(f"{MLFLOW}/experiments/create", json={"name": "untagged"}).json()["experiment_id"]
    found = admin.get(f"{MLFLOW}/experiments/get", params={"experiment_id": made}).json()["experiment"]
    assert found["tags"] == [{"key": "azuraforge.project", "value": "default"}]
    run = admin.post(f"{MLFLOW}/runs/create", json={"experiment_id": team.tracking_b}).json()["run"]["info"]["run_id"]
    assert admin.get(f"/api/v1/experiments/{run}").json()["project_id"] == team.project_b
