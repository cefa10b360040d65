"""The deployment running (conftest.deployment): the images' commands with compose's environment behind
nginx, checked from outside as an operator would, with the same smoke check the images workflow runs against
the real compose stack."""

import json
import subprocess

import httpx
import psycopg
import pytest
from deploycheck import local, smoke
from websockets.sync.client import connect

SINE = {"app": "sine_test"}


def test_the_api_command_migrated_the_compose_database(deployment):
    with psycopg.connect(deployment.database_url.replace("+psycopg", "")) as connection:
        tables = {row[0] for row in connection.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"alembic_version", "experiments"} <= tables


def test_smoke_check_passes_through_nginx(deployment, capsys):
    arguments = ["--url", deployment.url, "--token", deployment.token, "--app", "sine_test"]
    assert smoke.main([*arguments, "--config", '{"epochs": 2}', "--timeout", "120"]) == 0
    printed = capsys.readouterr().out
    assert "ok: a worker ran it to the end\n" in printed
    assert "ok: the run and its artifacts are deleted" in printed


def test_smoke_check_fails_with_a_wrong_token(deployment, capsys):
    arguments = ["--url", deployment.url, "--token", "wrong", "--app", "sine_test"]
    assert smoke.main(arguments) == 1
    assert "FAILED: the API reaches Redis and the database (HTTP 401" in capsys.readouterr().err


def start(deployment, config: dict) -> str:
    response = httpx.post(
        f"{deployment.url}/api/v1/experiments",
        json={**SINE, "config": config},
        headers={"Authorization": f"Bearer {deployment.token}"},
    )
    assert response.status_code == 202, response.text
    experiment_id: str = response.json()["id"]
    return experiment_id


def watch(deployment, experiment_id: str, after: int = 0) -> list[dict]:
    """Every event the WebSocket sends, through nginx, until the API closes it after the final one."""
    ws_url = deployment.url.replace("http://", "ws://")
    events = []
    url = f"{ws_url}/ws/experiments/{experiment_id}?after={after}"
    with connect(url, additional_headers={"Authorization": f"Bearer {deployment.token}"}) as socket:
        for message in socket:
            events.append(json.loads(message))
    return events


def test_live_events_through_the_nginx_websocket_proxy(deployment):
    experiment_id = start(deployment, {"epochs": 4, "epoch_sleep_s": 0.1})
    events = watch(deployment, experiment_id)
    assert [event["seq"] for event in events] == list(range(1, len(events) + 1))
    assert [event["epoch"] for event in events if event["type"] == "epoch_end"] == [1, 2, 3, 4]
    assert events[-1]["type"] == "status"
    assert events[-1]["final"] is True
    assert events[-1]["status"] == "succeeded"
    replay = watch(deployment, experiment_id, after=3)  # ?after= reaches the API through nginx
    assert replay == events[3:]


def test_spa_routes_assets_and_api_docs(deployment):
    index = httpx.get(f"{deployment.url}/compare?ids=a,b")
    assert index.status_code == 200
    assert '<div id="root">' in index.text
    asset = httpx.get(f"{deployment.url}/assets/app.js")
    assert asset.status_code == 200
    assert "immutable" in asset.headers["cache-control"]
    assert httpx.get(f"{deployment.url}/assets/missing.js").status_code == 404
    schema = httpx.get(f"{deployment.url}/openapi.json")
    assert schema.json()["info"]["title"] == "AzuraForge"
    missing = httpx.get(f"{deployment.url}/api/v1/nowhere", headers={"Authorization": f"Bearer {deployment.token}"})
    assert missing.status_code == 404
    assert "detail" in missing.json()  # the API's JSON error, not an nginx page


@pytest.mark.parametrize("service", ["api", "worker"])
def test_healthchecks_pass_and_can_fail(deployment, service):
    command = local.healthcheck_command(deployment.compose["services"][service])
    env = deployment.env[service]
    assert subprocess.run(command, env=env, capture_output=True).returncode == 0
    broken = dict(env)
    if service == "api":
        broken["AZURAFORGE_API_TOKEN"] = "wrong"
    else:
        broken["AZURAFORGE_REDIS_URL"] = broken["AZURAFORGE_REDIS_URL"].replace("redis://:", "redis://:wrong")
    assert subprocess.run(command, env=broken, capture_output=True).returncode != 0


def test_smoke_check_fails_when_the_run_fails(deployment, capsys):
    arguments = ["--url", deployment.url, "--token", deployment.token, "--app", "sine_test"]
    assert smoke.main([*arguments, "--config", '{"epochs": 2, "fail_at_epoch": 1}', "--timeout", "120"]) == 1
    error = capsys.readouterr().err
    assert "FAILED: a worker ran it to the end (it ended failed: RuntimeError: sine_test was told to fail" in error
