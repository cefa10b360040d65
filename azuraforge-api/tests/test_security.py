"""Issue 12's attacks, each against a real uvicorn, Redis and SQLite (PostgreSQL where it behaves differently):
tokens in logs, cross-site requests without a token, bodies before auth and over their limit, echoed inputs,
symlinked reports, and inputs that used to be 500s."""

import base64
import http.client
import json
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import websockets
from conftest import RunningAPI, create, make_settings, record, run_dir, run_in_process
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from azuraforge_common import store

TOKEN = "s3cret-token-value"


@pytest.fixture
def guarded(tmp_path, redis_server, redis_client, test_app_path):
    settings = make_settings(tmp_path, redis_server.url, api_token=TOKEN)
    with RunningAPI(settings, log_config=None, log_level="info") as api:
        yield api


@pytest.fixture(params=["sqlite", "postgresql"])
def any_database_api(request, tmp_path, redis_server, redis_client, test_app_path):
    overrides = {}
    if request.param == "postgresql":
        overrides["database_url"] = request.getfixturevalue("postgres_server").create_database(tmp_path.name[:40])
    with RunningAPI(make_settings(tmp_path, redis_server.url, **overrides)) as api:
        yield api


def protocols(token):
    """What a browser offers: the API's subprotocol, and the token as one."""
    encoded = base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")
    return [Subprotocol("azuraforge"), Subprotocol(f"bearer.{encoded}")]


# Item 2: tokens never in a log line; WebSockets take them from a header or a subprotocol.


def test_the_token_is_never_logged_and_websockets_take_it_from_a_header_or_a_subprotocol(guarded, caplog):
    experiment = create(guarded)
    url = f"{guarded.ws_url}/ws/experiments/{experiment['id']}"
    with caplog.at_level(logging.DEBUG):
        with connect(url, additional_headers={"Authorization": f"Bearer {TOKEN}"}) as ws:
            assert '"status":"queued"' in ws.recv(timeout=10)
        with connect(url, subprotocols=protocols(TOKEN)) as ws:
            assert ws.subprotocol == "azuraforge", "the API answers with its own protocol, never the token's"
            assert '"status":"queued"' in ws.recv(timeout=10)
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            connect(url, subprotocols=protocols("wrong")).close()
        assert refused.value.response.status_code == 401
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            connect(f"{url}?after=0&token={TOKEN}").close()  # an old client's URL form: refused, and not logged
        assert refused.value.response.status_code == 401
        guarded.http.get("/api/v1/health")
    client_side = ("websockets.client", "httpx", "httpcore")  # this test's own clients log what they send
    server = [record for record in caplog.records if not record.name.startswith(client_side)]
    assert any("WebSocket" in record.getMessage() for record in server), "the server logged the sockets"
    assert not [record.getMessage() for record in server if TOKEN in record.getMessage()]
    assert any("token=<redacted>" in record.getMessage() for record in server), "the old URL form was logged, blanked"


# Item 3: without a token, nothing a foreign page can send gets through.


def test_without_a_token_foreign_origins_hosts_and_form_posts_are_refused(api):
    experiment = create(api)
    cancel = f"/api/v1/experiments/{experiment['id']}/cancel"
    from_evil = api.http.post(cancel, headers={"Origin": "http://evil.example"})
    assert from_evil.status_code == 403
    assert "AZURAFORGE_CORS_ORIGINS" in from_evil.json()["detail"]
    form = api.http.post(cancel, content=b"a=1", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 415
    # A route that takes files (guard.FILE_BODIES) accepts a form, but not from another site's page.
    upload = {"file": ("a.csv", b"a,b\n1,2\n3,4\n")}
    foreign_form = api.http.post(
        "/api/v1/datasets", params={"kind": "csv"}, files=upload, headers={"Origin": "http://evil.example"}
    )
    assert foreign_form.status_code == 403
    assert api.http.get("/api/v1/datasets").json() == []
    rebound = api.http.get("/api/v1/experiments", headers={"Host": "evil.example"})
    assert rebound.status_code == 400
    assert "AZURAFORGE_ALLOWED_HOSTS" in rebound.json()["detail"]
    assert record(api, experiment["id"]).status == "queued", "no refused request changed anything"

    for url in (f"/ws/experiments/{experiment['id']}", "/ws/experiments"):
        for headers in ({"Origin": "http://evil.example"}, {"Host": "evil.example"}):
            with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
                connect(f"{api.ws_url}{url}", additional_headers=headers).close()
            assert refused.value.response.status_code in (400, 403)

    own_origin = api.http.post(cancel, headers={"Origin": api.url})
    assert own_origin.status_code == 202
    with connect(f"{api.ws_url}/ws/experiments/{experiment['id']}", origin=api.url) as ws:
        assert '"status":"queued"' in ws.recv(timeout=10)


def test_allowed_hosts_and_cors_origins_are_configurable(tmp_path, redis_server, redis_client, test_app_path):
    settings = make_settings(tmp_path, redis_server.url, allowed_hosts="forge.lan", cors_origins="http://ui.lan:5173")
    with RunningAPI(settings) as api:
        assert api.http.get("/api/v1/health", headers={"Host": "forge.lan:8000"}).status_code == 200
        assert api.http.get("/api/v1/health").status_code == 400, "127.0.0.1 is no longer listed"
        experiment = create_on(api, "forge.lan")
        cancel = f"/api/v1/experiments/{experiment['id']}/cancel"
        allowed = api.http.post(cancel, headers={"Host": "forge.lan", "Origin": "http://ui.lan:5173"})
        assert allowed.status_code == 202


def create_on(api, host):
    response = api.http.post("/api/v1/experiments", json={"app": "sine_test"}, headers={"Host": host})
    assert response.status_code == 202, response.text
    return response.json()


def test_up_warns_loudly_without_a_token_on_a_public_interface(tmp_path):
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "AZURAFORGE_DATA_DIR": str(tmp_path / "data")}
        env.pop("AZURAFORGE_API_TOKEN", None)
        azuraforge = str(Path(sys.executable).parent / "azuraforge")
        command = [azuraforge, "up", "--host", "0.0.0.0", "--port", str(port)]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        on_loopback = subprocess.run(
            [azuraforge, "up", "--port", str(port)], env=env, capture_output=True, text=True, timeout=120
        )
        admin = [azuraforge, "users", "create", "ada", "--admin", "--password-stdin"]
        created = subprocess.run(admin, env=env, input="long enough pass\n", capture_output=True, text=True, timeout=60)
        assert created.returncode == 0, created.stderr
        with_accounts = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert "WARNING: AzuraForge listens on 0.0.0.0 WITHOUT an API token or accounts" in done.stderr
    assert "azuraforge users create NAME --admin" in done.stderr
    assert "WITHOUT an API token" not in on_loopback.stderr
    assert "WITHOUT an API token" not in with_accounts.stderr, "accounts already make the API ask for a login"
    assert f"port {port} on 0.0.0.0 is in use" in with_accounts.stderr


# Item 4: authentication before the body; bodies capped per route; errors quote only an excerpt.


def test_the_token_is_checked_before_the_body_is_read(guarded):
    with socket.create_connection(("127.0.0.1", guarded.port), timeout=30) as connection:
        connection.sendall(
            b"POST /api/v1/experiments HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 104857600\r\n\r\n"
        )
        answer = connection.recv(4096)  # the 100 MB body is never sent: the answer must not wait for it
    assert answer.startswith(b"HTTP/1.1 401")


def test_bodies_over_the_route_limit_are_413_naming_it(api):
    experiment = create(api)
    big_config = {"app": "sine_test", "name": "x" * (300 * 1024)}
    response = api.http.post("/api/v1/experiments", json=big_config)
    assert response.status_code == 413
    assert "256 KiB" in response.json()["detail"]

    def chunks():  # no Content-Length: the limit must hold for a streamed body too
        yield b'{"app": "sine_test", "name": "'
        for _ in range(40):
            yield b"x" * 8192
        yield b'"}'

    streamed = api.http.post("/api/v1/experiments", content=chunks(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413
    predict = f"/api/v1/experiments/{experiment['id']}/predict"
    rows = api.http.post(predict, content=b"[" + b" " * (9 * 1024 * 1024) + b"]", headers=JSON)
    assert rows.status_code == 413
    assert "8192 KiB" in rows.json()["detail"]
    assert api.http.get("/api/v1/experiments").json()["total"] == 1


JSON = {"Content-Type": "application/json"}


def test_a_422_quotes_only_an_excerpt_of_the_input(api):
    response = api.http.post("/api/v1/experiments", json={"app": "sine_test", "name": "y" * 100_000})
    assert response.status_code == 422
    assert len(response.content) < 1_000
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "name"]
    assert "(100000 characters)" in error["input"]


# Item 5: free-text config fields are bounded (through the learner's base config).


def test_config_strings_are_bounded(api):
    response = api.http.post("/api/v1/experiments", json={"app": "sine_test", "config": {"features": ["v" * 5000]}})
    assert response.status_code == 422
    assert "at most 1000 characters" in response.text
    assert len(response.content) < 1_000


# Item 1: configs cannot point a worker at a URL; the API fetches nothing.


def test_a_config_cannot_name_a_url_to_fetch_and_predict_never_fetches(api):
    ssrf = {"app": "weather-forecaster", "config": {"epochs": 1, "api_url": "http://127.0.0.1:9/admin"}}
    response = api.http.post("/api/v1/experiments", json=ssrf)
    assert response.status_code == 422
    assert any(error["loc"] == ["body", "config", "api_url"] for error in response.json()["detail"])
    experiment = create(api, {"epochs": 1, "window": 4, "horizon": 2})
    run_in_process(api, experiment["id"])
    without_rows = api.http.post(f"/api/v1/experiments/{experiment['id']}/predict", json={})
    assert without_rows.status_code == 422, "the API never loads data itself"
    assert without_rows.json()["detail"][0]["loc"] == ["body", "data"]


# Item 6: one safe-path function for every served file.


def test_a_report_symlinked_out_of_the_store_is_not_served(api):
    experiment = create(api, {"epochs": 1})
    run_in_process(api, experiment["id"])
    secret = api.settings.data_dir / "secret.txt"
    secret.write_text("do not serve")
    report = run_dir(api, experiment["id"]) / "report.md"
    report.unlink()
    os.symlink(secret, report)
    response = api.http.get(f"/api/v1/experiments/{experiment['id']}/report")
    assert response.status_code == 404
    assert "do not serve" not in response.text


# Correctness of error answers: each of these was a 500.


def test_bad_inputs_are_4xx_naming_the_problem_on_sqlite_and_postgresql(any_database_api):
    api = any_database_api
    experiment = create(api)
    experiments = "/api/v1/experiments"
    cases = [
        ("GET", f"{experiments}?offset={2**63}", None, 422, "less than or equal to"),
        ("POST", experiments, {"app": "sine_test", "tags": ["x", "x"]}, 422, "given more than once: x"),
        ("POST", experiments, {"app": "sine_test", "tags": ["x", " x "]}, 422, "given more than once: x"),
        ("POST", experiments, {"app": "sine_test", "name": "a\x00b"}, 422, "NUL"),
        ("POST", experiments, {"app": "sine_test", "tags": ["a\x00"]}, 422, "NUL"),
        ("POST", experiments, {"app": "sine_test", "config": {"features": ["a\x00"]}}, 422, "NUL"),
        ("GET", f"{experiments}?tag=a%00", None, 400, "NUL"),
        ("GET", f"{experiments}?app=a%00", None, 400, "NUL"),
        ("GET", f"{experiments}/abc%00", None, 400, "NUL"),
        ("POST", f"{experiments}/abc%00/cancel", None, 400, "NUL"),
        ("GET", f"{experiments}/{experiment['id']}/artifacts/report.md%00.png", None, 400, "NUL"),
    ]
    for method, url, body, expected, message in cases:
        response = api.http.request(method, url, json=body)
        assert response.status_code == expected, (url, body, response.text)
        assert message in response.text, (url, body)
    lone_surrogate = b'{"app": "sine_test", "name": "\\ud800"}'
    response = api.http.post(experiments, content=lone_surrogate, headers=JSON)
    assert response.status_code == 422
    assert "lone surrogate" in response.text
    for depth in (33, 300, 900):
        nested = b'{"app": "sine_test", "config": {"x": ' + b"[" * depth + b"]" * depth + b"}}"
        response = api.http.post(experiments, content=nested, headers=JSON)
        assert response.status_code == 422, depth
        assert "nested deeper than 32 levels" in response.text
    too_deep_to_parse = b"[" * 5000 + b"]" * 5000
    assert api.http.post(experiments, content=too_deep_to_parse, headers=JSON).status_code == 400
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        connect(f"{api.ws_url}/ws/experiments/abc%00").close()
    assert refused.value.response.status_code == 400
    assert api.http.get(experiments).json()["total"] == 1, "nothing bad was stored"


def test_predict_rows_without_the_models_columns_are_a_422(api, model_server):
    experiment = create(api, {"epochs": 1, "window": 4, "horizon": 2})
    run_in_process(api, experiment["id"])
    predict = f"/api/v1/experiments/{experiment['id']}/predict"
    without_value: list[list[dict[str, int]]] = [[{"Close": 1}] * 5, [{}] * 5]
    for rows in without_value:
        response = api.http.post(predict, json={"data": rows})
        assert response.status_code == 422, rows
        assert "lacks column(s) value" in response.json()["detail"]
    empty = api.http.post(predict, json={"data": []})
    assert empty.status_code == 422
    assert empty.json()["detail"][0]["loc"] == ["body", "data"]


def test_a_500_leaves_the_keep_alive_connection_usable(api, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(store, "list_experiments", broken)
    connection = http.client.HTTPConnection("127.0.0.1", api.port, timeout=30)
    connection.request("GET", "/api/v1/experiments")
    failed = connection.getresponse()
    assert failed.status == 500
    assert json.loads(failed.read()) == {"detail": "internal error; the API log has the details"}
    connection.request("GET", "/api/v1/health")
    assert connection.getresponse().status == 200, "the same connection still works"
    connection.close()


def test_openapi_documents_each_routes_statuses_and_media_types(api):
    paths = api.http.get("/openapi.json").json()["paths"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            statuses = set(operation["responses"])
            assert {"400", "401", "413", "503"} <= statuses, (method, path)
    experiment = "/api/v1/experiments/{experiment_id}"
    assert {"404", "409", "422"} <= set(paths[f"{experiment}/predict"]["post"]["responses"])
    assert {"404", "409"} <= set(paths[f"{experiment}/cancel"]["post"]["responses"])
    assert list(paths[f"{experiment}/report"]["get"]["responses"]["200"]["content"]) == ["text/markdown"]
    artifact = paths[f"{experiment}/artifacts/{{path}}"]["get"]["responses"]["200"]["content"]
    assert "application/json" not in artifact
