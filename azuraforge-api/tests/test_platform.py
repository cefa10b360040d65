"""Health, outages and recovery, auth, CORS, docs, the dashboard mount, the reaper."""

import httpx
import pytest
import websockets
from conftest import RunningAPI, create, make_settings, queued_tasks, record, stored_events, wait_for
from websockets.sync.client import connect

from azuraforge_api.reaper import reap_lost_runs
from azuraforge_common import names, store
from azuraforge_common.events import StatusEvent
from azuraforge_common.lifecycle import WORKER_LOST
from azuraforge_common.redis_server import RedisServer
from azuraforge_common.testing import PostgresServer


def test_health_reports_both_dependencies(api):
    ok = {"status": "ok", "reason": None}
    assert api.http.get("/api/v1/health").json() == {"status": "ok", "redis": ok, "database": ok}


def test_a_full_redis_is_reported_by_health_and_refusals_say_so(tmp_path, test_app_path):
    redis_server = RedisServer(tmp_path / "redis", persistent=False)
    with redis_server, RunningAPI(make_settings(tmp_path, redis_server.url)) as api:
        api.platform.redis.config_set("maxmemory", 1)
        health = api.http.get("/api/v1/health").json()
        assert (health["status"], health["redis"]["status"]) == ("degraded", "degraded")
        assert "maxmemory" in health["redis"]["reason"]
        refused = api.http.post("/api/v1/experiments", json={"app": "sine_test", "config": {}})
        assert refused.status_code == 503
        assert refused.headers["Retry-After"].isdigit()
        assert "Redis is full" in refused.json()["detail"]

        api.platform.redis.config_set("maxmemory", 0)
        assert api.http.get("/api/v1/health").json()["status"] == "ok"


def test_redis_outage_is_a_503_and_the_api_recovers_by_itself(tmp_path, test_app_path):
    redis_server = RedisServer(tmp_path / "redis", persistent=False)
    redis_server.start()
    try:
        with RunningAPI(make_settings(tmp_path, redis_server.url)) as api:
            create(api)
            redis_server.stop()

            health = api.http.get("/api/v1/health").json()
            assert (health["status"], health["redis"]["status"], health["database"]["status"]) == (
                "degraded",
                "degraded",
                "ok",
            )
            assert "Redis is unreachable" in health["redis"]["reason"]
            down = api.http.post("/api/v1/experiments", json={"app": "sine_test", "config": {}})
            assert down.status_code == 503
            assert "Redis is unreachable" in down.json()["detail"]
            assert api.http.get("/api/v1/experiments").json()["total"] == 1, "the failed POST stored nothing"
            assert api.http.get("/api/v1/experiments").status_code == 200, "what needs only the database works"

            redis_server.start()
            assert api.http.get("/api/v1/health").json()["status"] == "ok"
            experiment = create(api)
            assert stored_events(api, experiment["id"])[0].status == "queued"
            assert queued_tasks(api) == 1
            wait_for(api.platform.hub.connected.is_set, 30, "the event hub to reconnect")
            with connect(f"{api.ws_url}/ws/experiments/{experiment['id']}") as ws:
                assert '"status":"queued"' in ws.recv(timeout=10)
    finally:
        redis_server.stop()


def test_database_outage_is_a_503_and_the_api_recovers_by_itself(tmp_path, redis_server, test_app_path):
    postgres = PostgresServer()
    postgres.start()
    try:
        settings = make_settings(tmp_path, redis_server.url, database_url=postgres.create_database("outage"))
        with RunningAPI(settings) as api:
            experiment = create(api)
            postgres.stop()
            health = api.http.get("/api/v1/health").json()
            assert (health["status"], health["redis"]["status"], health["database"]["status"]) == (
                "degraded",
                "ok",
                "degraded",
            )
            assert "database is unreachable" in health["database"]["reason"]
            down = api.http.get(f"/api/v1/experiments/{experiment['id']}")
            assert down.status_code == 503
            assert "database is unreachable" in down.json()["detail"]
            assert "Traceback" not in down.text

            postgres.start()
            assert api.http.get("/api/v1/health").json()["status"] == "ok"
            assert api.http.get(f"/api/v1/experiments/{experiment['id']}").json()["id"] == experiment["id"]
    finally:
        postgres.remove()


@pytest.fixture
def guarded(tmp_path, redis_server, redis_client, test_app_path):
    settings = make_settings(tmp_path, redis_server.url, api_token="s3cret")
    with RunningAPI(settings) as api:
        yield api


def test_a_token_guards_every_rest_call(guarded):
    experiment = create(guarded)
    anonymous = httpx.Client(base_url=guarded.url)
    wrong = httpx.Client(base_url=guarded.url, headers={"Authorization": "Bearer nope"})
    for client in (anonymous, wrong):
        for method, path in [
            ("GET", "/api/v1/health"),
            ("GET", "/api/v1/apps"),
            ("GET", "/api/v1/experiments"),
            ("POST", "/api/v1/experiments"),
            ("GET", f"/api/v1/experiments/{experiment['id']}"),
            ("POST", f"/api/v1/experiments/{experiment['id']}/cancel"),
            ("DELETE", f"/api/v1/experiments/{experiment['id']}"),
            ("GET", f"/api/v1/experiments/{experiment['id']}/report"),
            ("GET", f"/api/v1/experiments/{experiment['id']}/artifacts/report.md"),
        ]:
            response = client.request(method, path)
            assert response.status_code == 401, (method, path)
            assert "Authorization: Bearer" in response.json()["detail"]
            assert response.headers["www-authenticate"] == "Bearer"
        client.close()
    assert record(guarded, experiment["id"]).status == "queued", "the refused cancel did nothing"


def test_a_token_guards_the_websockets(guarded):
    experiment = create(guarded)
    for url in (f"/ws/experiments/{experiment['id']}", "/ws/experiments"):
        for query, headers in [("", {}), ("", {"Authorization": "Bearer nope"}), ("?token=s3cret", {})]:
            with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
                connect(f"{guarded.ws_url}{url}{query}", additional_headers=headers).close()
            assert refused.value.response.status_code == 401, "the token is no URL parameter (URLs are logged)"
    with connect(
        f"{guarded.ws_url}/ws/experiments/{experiment['id']}", additional_headers={"Authorization": "Bearer s3cret"}
    ) as ws:
        assert '"status":"queued"' in ws.recv(timeout=10)


def test_cors_allows_only_the_configured_origins(tmp_path, redis_server, redis_client, test_app_path):
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
    settings = make_settings(tmp_path, redis_server.url, cors_origins=["http://localhost:5173"])
    with RunningAPI(settings) as api:
        allowed = api.http.options("/api/v1/experiments", headers={"Origin": "http://localhost:5173", **preflight})
        assert allowed.headers["access-control-allow-origin"] == "http://localhost:5173"
        other = api.http.get("/api/v1/health", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_no_cors_by_default(api):
    response = api.http.get("/api/v1/health", headers={"Origin": "http://localhost:5173"})
    assert "access-control-allow-origin" not in response.headers


def test_openapi_docs_are_served(api):
    assert "swagger" in api.http.get("/docs").text.lower()
    paths = api.http.get("/openapi.json").json()["paths"]
    assert {"/api/v1/experiments", "/api/v1/experiments/{experiment_id}/cancel", "/api/v1/apps"} <= set(paths)


def test_errors_are_json(api):
    missing = api.http.get("/api/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Not Found"}


def test_without_a_built_dashboard_the_root_says_how_to_build_it(tmp_path, redis_server, redis_client, test_app_path):
    # A folder without index.html, as the bundled one is in a checkout before ./scripts/build-dashboard.sh.
    with RunningAPI(make_settings(tmp_path, redis_server.url, dashboard_dir=tmp_path / "unbuilt")) as api:
        page = api.http.get("/")
    assert page.status_code == 200
    assert "dashboard is not built" in page.text
    assert "./scripts/build-dashboard.sh" in page.text


def test_a_built_dashboard_is_served_with_client_side_routes(tmp_path, redis_server, redis_client, test_app_path):
    built = tmp_path / "dist"
    (built / "assets").mkdir(parents=True)
    (built / "index.html").write_text("<!doctype html><title>dashboard</title>")
    (built / "assets" / "app.js").write_text("console.log('hi')")
    with RunningAPI(make_settings(tmp_path, redis_server.url, dashboard_dir=built)) as api:
        assert "dashboard" in api.http.get("/").text
        assert api.http.get("/assets/app.js").text == "console.log('hi')"
        assert "dashboard" in api.http.get("/experiments/abc").text, "client-side routes get index.html"
        assert api.http.get("/api/v1/nothing-here").status_code == 404
        assert api.http.get("/api/v1/health").json()["status"] == "ok"


def test_reaper_fails_running_experiments_without_a_heartbeat(reaping_api):
    api = reaping_api
    alive, lost = create(api), create(api)
    with api.platform.sessions() as session:
        for experiment in (alive, lost):
            store.transition(session, experiment["id"], ["queued"], "running")
    api.platform.redis.set(names.heartbeat_key(alive["id"]), "host:1", px=60_000)

    assert reap_lost_runs(api.platform) == [lost["id"]]
    assert record(api, alive["id"]).status == "running"
    reaped = record(api, lost["id"])
    assert (reaped.status, reaped.error) == ("failed", WORKER_LOST)
    final = stored_events(api, lost["id"])[-1]
    assert isinstance(final, StatusEvent)
    assert (final.status, final.final, final.error) == ("failed", True, WORKER_LOST)
    assert reap_lost_runs(api.platform) == [], "once"
