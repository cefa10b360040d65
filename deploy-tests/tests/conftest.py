"""Fixtures: the compose files as an operator's .env resolves them, and the deployment itself run on this
machine (deploycheck.local): a real PostgreSQL, Redis run with its compose command, the api and worker images' own
commands with compose's environment, and nginx with the dashboard image's configuration in front. Started
once per test session, stopped at its end."""

import os
import secrets
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from deploycheck import compose, local, repo

from azuraforge_common.processes import free_port, stop_process, wait_until
from azuraforge_common.testing import PostgresServer, S3Server
from azuraforge_worker.testing import TEST_APP, register_test_app

SECRETS = ("POSTGRES_PASSWORD", "REDIS_PASSWORD", "MINIO_ROOT_PASSWORD", "AZURAFORGE_API_TOKEN")
INDEX_HTML = '<!doctype html><html><body><div id="root"></div><script src="/assets/app.js"></script></body></html>'


@pytest.fixture(scope="session")
def env_example() -> dict[str, str]:
    return compose.read_env_file(repo.ENV_EXAMPLE)


@pytest.fixture(scope="session")
def filled_env(env_example: dict[str, str]) -> dict[str, str]:
    """.env.example with its secrets filled in, as an operator's .env."""
    return {**env_example, **{name: secrets.token_hex(16) for name in SECRETS}}


@pytest.fixture(scope="session")
def raw_compose() -> dict:
    return compose.load(repo.COMPOSE_FILE)


@pytest.fixture(scope="session")
def resolved_compose(raw_compose: dict, filled_env: dict[str, str]) -> dict:
    resolved: dict = compose.interpolate(raw_compose, filled_env)
    return resolved


@dataclass
class Deployment:
    url: str  # nginx, the dashboard's front door
    token: str
    env: dict[str, dict[str, str]]  # service -> the environment its process runs with
    compose: dict
    database_url: str


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _published(api_url: str, token: str, app: str) -> bool:
    """Whether a worker has published `app` to the catalog the API serves (workers do as they start)."""
    try:
        apps = httpx.get(f"{api_url}/api/v1/apps", headers={"Authorization": f"Bearer {token}"}, timeout=2)
    except httpx.TransportError:
        return False
    return apps.status_code == 200 and app in [entry["name"] for entry in apps.json()]


def _healthy(command: list[str], env: dict[str, str]) -> bool:
    return subprocess.run(command, env=env, capture_output=True).returncode == 0


@pytest.fixture(scope="session")
def deployment(
    tmp_path_factory: pytest.TempPathFactory, resolved_compose: dict, filled_env: dict[str, str]
) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("deployment")
    logs = root / "logs"
    logs.mkdir()
    # Each process with the signal that stops it gracefully: nginx quits on SIGQUIT, uvicorn and the worker
    # (a warm shutdown) on SIGTERM.
    processes: list[tuple[subprocess.Popen[bytes], signal.Signals]] = []
    postgres = PostgresServer()
    s3 = S3Server()  # stands in for MinIO: the same protocol, and the bucket minio-bucket creates
    compose_redis: local.ComposeRedis | None = None
    try:
        postgres.start()
        s3.start()
        s3.create_bucket(resolved_compose["services"]["minio-bucket"]["environment"]["MINIO_BUCKET"])
        postgres.create_database(filled_env["POSTGRES_DB"])
        compose_redis = local.ComposeRedis(resolved_compose["services"]["redis"], root)
        api_port, nginx_port = free_port(), free_port()
        rewrites = {
            "@redis:6379/": f"@127.0.0.1:{compose_redis.port}/",
            "@postgres:5432/": f"@127.0.0.1:{postgres.port}/",
            "http://minio:9000": s3.url,
            "/var/cache/azuraforge": str(root / "cache"),
            "/tmp/matplotlib": str(root / "matplotlib"),
        }
        test_apps = register_test_app(root / "test-apps")  # stands in for the apps installed in both images
        services = resolved_compose["services"]
        env = {
            name: {
                **local.container_env(name, compose.environment(services[name]), rewrites),
                "UVICORN_HOST": "127.0.0.1",
                "UVICORN_PORT": str(api_port),
                "PYTHONPATH": str(test_apps),
                # No folder shared between them: the runs' files go through the bucket.
                "AZURAFORGE_DATA_DIR": str(root / f"data-{name}"),
            }
            for name in ("api", "worker")
        }
        api = local.spawn(local.final_stage("api").command(), env["api"], root / "home-api", logs / "api.log")
        processes.append((api, signal.SIGTERM))
        api_health = local.healthcheck_command(services["api"])
        wait_until(lambda: _healthy(api_health, env["api"]), 90, f"the api ({logs / 'api.log'})", api)
        worker_command = local.final_stage("worker").command()
        worker = local.spawn(worker_command, env["worker"], root / "home-worker", logs / "worker.log")
        processes.append((worker, signal.SIGTERM))
        api_url, token = f"http://127.0.0.1:{api_port}", filled_env["AZURAFORGE_API_TOKEN"]
        wait_until(
            lambda: _published(api_url, token, TEST_APP), 120, f"the worker's apps ({logs / 'worker.log'})", worker
        )
        html = root / "nginx" / "html"
        (html / "assets").mkdir(parents=True)
        (html / "index.html").write_text(INDEX_HTML)
        (html / "assets" / "app.js").write_text("console.log('dashboard');\n")
        config = local.nginx_config(root / "nginx", api_port, nginx_port)
        nginx_command = [local.nginx_executable(), "-c", str(config), "-e", str(root / "nginx" / "error.log")]
        nginx = local.spawn([*nginx_command, "-g", "daemon off;"], dict(os.environ), root / "nginx", logs / "nginx.log")
        processes.append((nginx, signal.SIGQUIT))
        url = f"http://127.0.0.1:{nginx_port}"
        wait_until(lambda: _answers(f"{url}/healthz"), 20, "nginx", nginx)
        yield Deployment(
            url=url,
            token=filled_env["AZURAFORGE_API_TOKEN"],
            env=env,
            compose=resolved_compose,
            database_url=env["api"]["AZURAFORGE_DATABASE_URL"],
        )
    finally:
        for process, stop_signal in reversed(processes):
            stop_process(process, 30, sig=stop_signal)
        if compose_redis is not None:
            compose_redis.stop()
        postgres.remove()
        s3.stop()
