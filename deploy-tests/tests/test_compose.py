"""docker-compose.yml (and the GPU override) as `docker compose` would read them with an operator's .env."""

import re
from urllib.parse import urlsplit

import pytest
from deploycheck import compose, dockerfile, repo

from azuraforge_common.settings import Settings

SERVICES = {"postgres", "redis", "minio", "api", "worker", "worker-long", "worker-gpu", "model-server", "dashboard"}
JOBS = {"minio-bucket"}
"""Services that do one thing at start and exit."""
WORKERS = {"worker": "cpu", "worker-long": "long", "worker-gpu": "gpu"}
SECRETS = ("POSTGRES_PASSWORD", "REDIS_PASSWORD", "MINIO_ROOT_PASSWORD", "AZURAFORGE_API_TOKEN")
BUILT = ("api", "worker", "dashboard")


def test_the_services(raw_compose):
    assert set(raw_compose["services"]) == SERVICES | JOBS


def test_the_model_server_runs_the_worker_image_on_the_workers_redis_and_artifact_store(resolved_compose):
    services = resolved_compose["services"]
    server, worker = services["model-server"], services["worker"]
    assert server["image"] == worker["image"]
    assert server["command"][:3] == ["python", "-m", "azuraforge_worker.serve"]
    shared = {key: value for key, value in compose.environment(worker).items() if key != "AZURAFORGE_WORKER_MEMORY_MB"}
    assert compose.environment(server) == shared
    assert compose.environment(server)["AZURAFORGE_ARTIFACT_STORE"].startswith("s3://")
    assert "artifacts" not in volume_targets(server), "models are read from the bucket, not a shared volume"


@pytest.mark.parametrize("service", BUILT)
def test_build_context_and_dockerfile_exist(raw_compose, service):
    build = raw_compose["services"][service]["build"]
    context = repo.ROOT / build["context"]
    assert context.is_dir()
    assert (context / build["dockerfile"]).is_file()
    assert dockerfile.stages(context / build["dockerfile"]), f"{build['dockerfile']} has no FROM"


@pytest.mark.parametrize("service", ["postgres", "redis"])
def test_server_images_are_pinned_releases(raw_compose, service):
    image = raw_compose["services"][service]["image"]
    assert re.fullmatch(r"[a-z0-9/._-]+:\d+\.\d+(\.\d+)?-alpine", image), f"{service} image {image} is not pinned"


def test_every_variable_compose_reads_is_set_in_env_example(env_example):
    for path in (repo.COMPOSE_FILE, repo.GPU_COMPOSE_FILE):
        missing = compose.referenced_variables(path) - set(env_example)
        assert not missing, f"{path.name} reads {sorted(missing)}: add them to .env.example"


@pytest.mark.parametrize("secret", SECRETS)
def test_compose_refuses_to_start_without_each_secret(raw_compose, filled_env, secret):
    with pytest.raises(compose.MissingVariableError, match=rf"^{secret}: set {secret} in \.env"):
        compose.interpolate(raw_compose, {**filled_env, secret: ""})


def test_no_default_or_literal_secrets(env_example):
    text = repo.COMPOSE_FILE.read_text()
    for secret in SECRETS:
        references = re.findall(rf"\$\{{{secret}([^}}]*)\}}", text)
        assert references, f"{secret} is never used"
        assert all(operator.startswith(":?") for operator in references), f"{secret} must be written ${{{secret}:?...}}"
        assert env_example[secret] == "", f".env.example must leave {secret} empty"
    assert not re.search(r"(?i)(password|token|secret)\w*\s*[:=]\s*[\"']?(?!\$\{)\w", text), "a literal secret"


def documented_variables() -> set[str]:
    """Keys of .env.example, including the commented-out `# KEY=value` lines."""
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", repo.ENV_EXAMPLE.read_text(), re.MULTILINE))


def variables_the_services_read() -> set[str]:
    """Every AZURAFORGE_* variable in the Settings of azuraforge-common and in the packages' sources."""
    from_settings = {f"AZURAFORGE_{name.upper()}" for name in Settings.model_fields}
    from_sources = {
        name
        for package in repo.python_packages()
        for source in (package / "src").rglob("*.py")
        for name in re.findall(r"[\"'](AZURAFORGE_[A-Z0-9_]+)[\"']", source.read_text())
    }
    return from_settings | from_sources


def test_env_example_documents_every_variable_the_services_read():
    read = variables_the_services_read()
    assert {"AZURAFORGE_REDIS_URL", "AZURAFORGE_CACHE_DIR"} <= read  # the search itself works
    missing = read - documented_variables()
    assert not missing, f"the services read {sorted(missing)}: document them in .env.example"


def test_the_minio_image_is_a_pinned_release_with_a_healthcheck_and_the_bucket_made_at_start(resolved_compose):
    services = resolved_compose["services"]
    assert re.fullmatch(r"minio/minio:RELEASE\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ", services["minio"]["image"])
    assert services["minio-bucket"]["image"] == services["minio"]["image"]
    assert services["minio"]["healthcheck"]["test"] == ["CMD", "mc", "ready", "local"]
    assert services["minio-bucket"]["depends_on"] == {"minio": {"condition": "service_healthy"}}
    script = services["minio-bucket"]["entrypoint"][-1]
    assert "mc mb --ignore-existing" in script
    assert services["minio-bucket"]["environment"]["MINIO_BUCKET"] == "azuraforge"
    assert services["api"]["depends_on"]["minio-bucket"] == {"condition": "service_completed_successfully"}


def test_the_api_and_every_worker_use_the_minio_bucket_as_their_artifact_store(resolved_compose):
    services = resolved_compose["services"]
    bucket = services["minio-bucket"]["environment"]["MINIO_BUCKET"]
    for name in ("api", *WORKERS):
        env = compose.environment(services[name])
        assert env["AZURAFORGE_ARTIFACT_STORE"] == f"s3://{bucket}/artifacts", name
        assert Settings.model_validate({"artifact_store": env["AZURAFORGE_ARTIFACT_STORE"]}).artifact_store
        assert urlsplit(env["AWS_ENDPOINT_URL"]).hostname == "minio", name
        assert env["AWS_ACCESS_KEY_ID"] == services["minio"]["environment"]["MINIO_ROOT_USER"]
        assert env["AWS_SECRET_ACCESS_KEY"] == services["minio"]["environment"]["MINIO_ROOT_PASSWORD"]


def test_a_worker_service_per_queue(resolved_compose):
    services = resolved_compose["services"]
    queues = Settings.model_validate({"queues": compose.environment(services["api"])["AZURAFORGE_QUEUES"]}).queues
    assert set(WORKERS.values()) == set(queues)
    for name, queue in WORKERS.items():
        command = services[name]["command"]
        assert command[:3] == ["python", "-m", "azuraforge_worker"]
        assert f"--queues={queue}" in command, name
        assert f"--name={name}" in command, "Celery names its workers after the service"
        assert compose.environment(services[name]) == compose.environment(services["worker"])
    assert services["worker-gpu"]["profiles"] == ["gpu"], "no GPU worker unless asked for"


def test_every_setting_in_env_example_reaches_a_service(raw_compose, env_example):
    passed = set(compose.environment(raw_compose["services"]["api"]))
    passed |= set(compose.environment(raw_compose["services"]["worker"]))
    ignored = {name for name in env_example if name.startswith("AZURAFORGE_")} - passed
    assert not ignored, f".env.example sets {sorted(ignored)} but compose passes them to no service"


def test_compose_defaults_are_the_settings_defaults(raw_compose, env_example):
    """A variable left out of .env behaves as it does outside compose, and .env.example changes nothing."""
    fields = {f"AZURAFORGE_{name.upper()}": name for name in Settings.model_fields}
    checked = 0
    for service in ("api", "worker"):
        for key, value in compose.environment(raw_compose["services"][service]).items():
            match = re.fullmatch(r"\$\{(AZURAFORGE_\w+):-([^}]*)\}", value)
            if match is None or match[1] not in fields:
                continue
            field = fields[match[1]]
            default = Settings.model_fields[field].get_default(call_default_factory=True)
            assert key == match[1]
            assert Settings.model_validate({field: match[2]}).model_dump()[field] == default, key
            assert Settings.model_validate({field: env_example[key]}).model_dump()[field] == default, key
            checked += 1
    assert checked >= 4


def test_api_and_worker_share_redis_database_and_artifacts(resolved_compose):
    api = compose.environment(resolved_compose["services"]["api"])
    worker = compose.environment(resolved_compose["services"]["worker"])
    shared = ("AZURAFORGE_REDIS_URL", "AZURAFORGE_DATABASE_URL", "AZURAFORGE_DATA_DIR", "AZURAFORGE_HEARTBEAT_TTL_S")
    assert {key: worker[key] for key in shared} == {key: api[key] for key in shared}
    assert urlsplit(api["AZURAFORGE_REDIS_URL"]).hostname == "redis"
    assert urlsplit(api["AZURAFORGE_DATABASE_URL"]).hostname == "postgres"
    assert urlsplit(api["AZURAFORGE_DATABASE_URL"]).scheme == "postgresql+psycopg"


def test_only_the_api_gets_the_api_token(resolved_compose):
    assert compose.environment(resolved_compose["services"]["api"])["AZURAFORGE_API_TOKEN"]
    assert "AZURAFORGE_API_TOKEN" not in compose.environment(resolved_compose["services"]["worker"])


def volume_targets(service: dict) -> dict[str, str]:
    """Named volume -> where it is mounted, from `volume:/path` entries."""
    return dict(entry.split(":")[:2] for entry in service.get("volumes", []))


@pytest.mark.parametrize("service", ["api", "worker"])
def test_the_image_creates_the_data_dir_for_its_user(resolved_compose, service):
    """A worker's scratch folders live there (the runs' files themselves are in the bucket)."""
    definition = resolved_compose["services"][service]
    data_dir = compose.environment(definition)["AZURAFORGE_DATA_DIR"]
    image = dockerfile.stages(repo.DOCKER_DIR / f"{service}.Dockerfile")[-1]
    assert image.env()["AZURAFORGE_DATA_DIR"] == data_dir
    assert re.search(rf"install -d -o \S+ -g \S+ {re.escape(data_dir)}\b", image.all("RUN")[0].arguments), (
        f"the {service} image must create {data_dir} for its user"
    )


def test_named_volumes_are_declared(resolved_compose):
    services = resolved_compose["services"]
    assert volume_targets(services["postgres"]) == {"postgres-data": "/var/lib/postgresql/data"}
    assert volume_targets(services["redis"]) == {"redis-data": "/data"}
    assert volume_targets(services["minio"]) == {"minio-data": "/data"}
    used = {name for service in services.values() for name in volume_targets(service)}
    assert used == set(resolved_compose["volumes"])


def test_ports(resolved_compose):
    services = resolved_compose["services"]
    assert services["dashboard"]["ports"] == ["8080:8080"]
    assert services["redis"]["ports"] == ["127.0.0.1:6379:6379"]  # loopback unless REDIS_BIND says otherwise
    assert services["postgres"]["ports"] == ["127.0.0.1:5432:5432"]
    assert services["minio"]["ports"] == ["127.0.0.1:9000:9000"]
    api_port = dockerfile.stages(repo.DOCKER_DIR / "api.Dockerfile")[-1].env()["UVICORN_PORT"]
    assert services["api"]["expose"] == [api_port]


def test_workers_scale(raw_compose):
    """`--scale worker=N` needs a worker without a fixed name or a host port."""
    worker = raw_compose["services"]["worker"]
    assert "ports" not in worker
    assert not any("container_name" in service for service in raw_compose["services"].values())


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_healthcheck_and_restart(raw_compose, service):
    definition = raw_compose["services"][service]
    assert definition["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL")
    assert definition["restart"] == "unless-stopped"


@pytest.mark.parametrize("job", sorted(JOBS))
def test_jobs_run_once(raw_compose, job):
    assert raw_compose["services"][job]["restart"] == "no"


def test_dashboard_healthcheck_hits_the_nginx_health_location(raw_compose):
    test = raw_compose["services"]["dashboard"]["healthcheck"]["test"]
    assert test[-1] == "http://127.0.0.1:8080/healthz"
    assert "location = /healthz" in (repo.DOCKER_DIR / "nginx.conf").read_text()


@pytest.mark.parametrize(
    ("service", "needs"),
    [
        ("api", {"postgres", "redis", "minio-bucket"}),
        ("worker", {"postgres", "redis", "api"}),
        ("worker-long", {"postgres", "redis", "api"}),
        ("minio-bucket", {"minio"}),
        ("dashboard", {"api"}),
    ],
)
def test_services_wait_for_healthy_dependencies(raw_compose, service, needs):
    depends_on = raw_compose["services"][service]["depends_on"]
    assert set(depends_on) == needs
    for dependency, condition in depends_on.items():
        if dependency in JOBS:
            assert condition == {"condition": "service_completed_successfully"}
            continue
        assert condition == {"condition": "service_healthy"}
        assert "healthcheck" in raw_compose["services"][dependency]


def test_workers_are_cpu_only_unless_the_gpu_override_is_added(raw_compose):
    for name in WORKERS:
        assert "deploy" not in raw_compose["services"][name]
        assert "gpus" not in raw_compose["services"][name]
    override = compose.load(repo.GPU_COMPOSE_FILE)
    assert set(override) == {"services"}
    assert set(override["services"]) == {"worker-gpu"}
    devices = override["services"]["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]
