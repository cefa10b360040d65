"""Pytest fixtures shared by the platform's packages: a real Redis, a real PostgreSQL and a real S3-protocol
server (moto's standalone server), each started once per test session on a free port and stopped at its end.
Use with `pytest_plugins = ["azuraforge_common.testing"]`.

PostgreSQL refuses to run as root, so when the tests run as root the server runs as the `postgres` user that
Debian's package creates.
"""

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import boto3
import psycopg
import pytest
import redis

from azuraforge_common.migrate import upgrade
from azuraforge_common.processes import die_with_parent, free_port, stop_process, wait_until
from azuraforge_common.redis_server import RedisServer
from azuraforge_common.worker import worker_command


def _postgres_bin_dir() -> Path:
    """Where initdb and postgres are: on PATH, or Debian's versioned folder (newest first)."""
    for initdb in [shutil.which("initdb"), *sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)]:
        if initdb:
            return Path(initdb).parent
    raise RuntimeError("PostgreSQL is not installed: apt-get install postgresql (the tests start their own).")


class PostgresServer:
    """A throwaway PostgreSQL cluster in a temporary directory, listening on 127.0.0.1 and a free port."""

    USER = "azuraforge"

    def __init__(self, host: str = "127.0.0.1", namespace: str | None = None) -> None:
        """Listening on `host`, in the network namespace `namespace` (`ip netns`) when one is given."""
        self.host = host
        self.namespace = namespace
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="azuraforge-pg-"))
        self.process: subprocess.Popen[bytes] | None = None
        self._run_as = "postgres" if os.geteuid() == 0 else None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.USER}@{self.host}:{self.port}/{database}"

    def start(self) -> None:
        """Creates the cluster on first start; a later start (after stop) serves the same data again."""
        bin_dir = _postgres_bin_dir()
        data = self.directory / "data"
        if not data.exists():
            if self._run_as is not None:
                account = pwd.getpwnam(self._run_as)
                os.chown(self.directory, account.pw_uid, account.pw_gid)
            subprocess.run(
                [bin_dir / "initdb", "-D", data, "-U", self.USER, "--auth=trust", "-E", "UTF8", "--no-sync"],
                check=True,
                capture_output=True,
                user=self._run_as,
                group=self._run_as,
            )
            with (data / "pg_hba.conf").open("a") as rules:
                rules.write("host all all 0.0.0.0/0 trust\n")  # clients on other hosts (test networks)
        command: list[str | Path] = [
            bin_dir / "postgres", "-D", data, "-p", str(self.port), "-h", self.host, "-k", self.directory,
            "-c", "fsync=off", "-c", "full_page_writes=off",
        ]  # fmt: skip
        user = self._run_as
        if self.namespace is not None:
            # Entering a namespace needs root, so the switch to the postgres user comes after it; setpriv execs
            # (runuser would stay as a parent that does not pass a stop signal on).
            switch = ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--"] if user else []
            command, user = ["ip", "netns", "exec", self.namespace, *switch, *command], None
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            user=user,
            group=user,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        wait_until(self._answers, 30, f"PostgreSQL on port {self.port}", self.process)

    def _answers(self) -> bool:
        try:
            with psycopg.connect(self.url().replace("+psycopg", ""), connect_timeout=1):
                return True
        except psycopg.OperationalError:
            return False

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.url().replace("+psycopg", ""), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """Fast shutdown (SIGINT): rolls back open transactions and exits."""
        if self.process is not None:
            stop_process(self.process, sig=signal.SIGINT)
            self.process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"), persistent=False)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A client of the session's Redis, emptied before each test."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    yield client
    client.close()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.start()
    yield server
    server.remove()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a new, empty database: a SQLite file, or a fresh database in the session's PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'azuraforge.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database(f"test_{os.urandom(6).hex()}")


class S3Server:
    """moto's S3 server (`python -m moto.server`) on 127.0.0.1 and a free port: real HTTP, real S3 protocol."""

    ENVIRONMENT: ClassVar[dict[str, str]] = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }

    def __init__(self, host: str = "127.0.0.1", namespace: str | None = None) -> None:
        self.host = host
        self.namespace = namespace
        self.port = free_port()
        self.url = f"http://{host}:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def environment(self) -> dict[str, str]:
        """The variables boto3 reads to reach this server."""
        return {**self.ENVIRONMENT, "AWS_ENDPOINT_URL": self.url}

    def start(self) -> None:
        command = [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)]
        if self.namespace is not None:
            command = ["ip", "netns", "exec", self.namespace, *command]
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        wait_until(self._answers, 30, f"the S3 server on port {self.port}", self.process)

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.url, timeout=1):
                return True
        except urllib.error.HTTPError:
            return True
        except OSError:
            return False

    def create_bucket(self, name: str) -> None:
        client = boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id=self.ENVIRONMENT["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.ENVIRONMENT["AWS_SECRET_ACCESS_KEY"],
            region_name=self.ENVIRONMENT["AWS_DEFAULT_REGION"],
        )
        client.create_bucket(Bucket=name)
        client.close()

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """The S3 server, with this process's AWS_* variables (which child processes inherit) pointing at it."""
    server = S3Server()
    server.start()
    saved = {name: os.environ.get(name) for name in server.environment}
    os.environ.update(server.environment)
    yield server
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    server.stop()


@pytest.fixture
def s3_store_url(s3_server: S3Server) -> str:
    """AZURAFORGE_ARTIFACT_STORE for a new, empty bucket (under a prefix, as deployments often have)."""
    bucket = f"test-{os.urandom(6).hex()}"
    s3_server.create_bucket(bucket)
    return f"s3://{bucket}/azuraforge"


def ip(*arguments: str) -> None:
    subprocess.run(["ip", *arguments], check=True, capture_output=True)


class Network:
    """Hosts on this machine joined by a real network: one network namespace per host (`ip netns`), each with a
    veth pair to a bridge in the caller's namespace (which reaches every host at <subnet>.254). Needs root and
    iproute2; `remove` deletes everything `create` made."""

    def __init__(self, hosts: Sequence[str]) -> None:
        self.hosts = list(hosts)
        self.tag = secrets.token_hex(2)
        self.subnet = f"10.{secrets.randbelow(200) + 50}.{secrets.randbelow(250)}"

    @property
    def bridge(self) -> str:
        return f"afbr{self.tag}"

    def namespace(self, host: str) -> str:
        return f"af{self.tag}-{host}"

    def link(self, host: str) -> str:
        """The host's end of its cable, on the bridge's side: `ip link set LINK down` unplugs the host."""
        return f"af{self.tag}h{self.hosts.index(host)}"

    def address(self, host: str) -> str:
        return f"{self.subnet}.{self.hosts.index(host) + 1}"

    def create(self) -> None:
        ip("link", "add", self.bridge, "type", "bridge")
        ip("addr", "add", f"{self.subnet}.254/24", "dev", self.bridge)
        ip("link", "set", self.bridge, "up")
        for index, host in enumerate(self.hosts):
            namespace, inside = self.namespace(host), f"af{self.tag}n{index}"
            ip("netns", "add", namespace)
            ip("link", "add", self.link(host), "type", "veth", "peer", "name", inside)
            ip("link", "set", inside, "netns", namespace)
            ip("link", "set", self.link(host), "master", self.bridge)
            ip("link", "set", self.link(host), "up")
            ip("-n", namespace, "addr", "add", f"{self.address(host)}/24", "dev", inside)
            ip("-n", namespace, "link", "set", inside, "up")
            ip("-n", namespace, "link", "set", "lo", "up")

    def remove(self) -> None:
        for host in self.hosts:
            subprocess.run(["ip", "netns", "delete", self.namespace(host)], capture_output=True)  # and its veth
        subprocess.run(["ip", "link", "delete", self.bridge], capture_output=True)

    def run(self, host: str, command: Sequence[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        """`command` on `host`; `ip netns exec` execs it, so the process's pid is the Popen's."""
        return subprocess.Popen(
            ["ip", "netns", "exec", self.namespace(host), *command],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )


@dataclass
class Cluster:
    """The platform across hosts of a Network: Redis, PostgreSQL and the S3 server on "db", the API on "api",
    and a worker per entry of `workers` (host name -> its command's options: --queues, --concurrency). Nothing but
    the network joins them: each host has its own data directory under `directory`, and the runs' files go
    through the bucket."""

    network: Network
    api_url: str
    token: str
    redis: redis.Redis
    workers: dict[str, subprocess.Popen[bytes]]
    environment: dict[str, str]
    """What every host's processes get (Redis, database, store, credentials)."""


def can_make_namespaces() -> bool:
    return os.geteuid() == 0 and shutil.which("ip") is not None


@contextlib.contextmanager
def cluster(
    directory: Path, workers: dict[str, Sequence[str]], python_path: str = "", heartbeat_ttl_s: float = 3
) -> Iterator[Cluster]:
    if not can_make_namespaces():
        raise RuntimeError("building hosts needs root and iproute2 (apt-get install iproute2)")
    network = Network(["db", "api", *workers])
    processes: list[subprocess.Popen[bytes]] = []
    postgres: PostgresServer | None = None
    s3: S3Server | None = None
    client: redis.Redis | None = None
    network.create()
    try:
        db = network.address("db")
        redis_command = ["redis-server", "--port", "6379", "--bind", db, "--save", "", "--appendonly", "no",
                         "--protected-mode", "no"]  # fmt: skip
        processes.append(network.run("db", redis_command, dict(os.environ), directory / "redis.log"))
        postgres = PostgresServer(host=db, namespace=network.namespace("db"))
        s3 = S3Server(host=db, namespace=network.namespace("db"))
        postgres.start()
        s3.start()
        bucket = f"cluster-{network.tag}"
        s3.create_bucket(bucket)
        redis_url = f"redis://{db}:6379/0"
        client = redis.Redis.from_url(redis_url, socket_timeout=5)
        wait_until(lambda: _pings(client), 30, "Redis on the db host", processes[0])
        database_url = postgres.create_database("azuraforge")
        upgrade(database_url)
        token = secrets.token_hex(16)
        environment = {
            **{key: value for key, value in os.environ.items() if not key.startswith(("AZURAFORGE_", "AWS_"))},
            **s3.environment,
            "AZURAFORGE_REDIS_URL": redis_url,
            "AZURAFORGE_DATABASE_URL": database_url,
            "AZURAFORGE_ARTIFACT_STORE": f"s3://{bucket}/runs",
            "AZURAFORGE_HEARTBEAT_TTL_S": str(heartbeat_ttl_s),
            "PYTHONPATH": os.pathsep.join([python_path, os.environ.get("PYTHONPATH", "")]),
        }
        api_host = network.address("api")
        api_command = [sys.executable, "-m", "uvicorn", "azuraforge_api.app:create_app", "--factory",
                       "--host", api_host, "--port", "8000", "--log-level", "warning"]  # fmt: skip
        api_env = {
            **environment,
            "AZURAFORGE_DATA_DIR": str(directory / "api"),
            "AZURAFORGE_API_TOKEN": token,
            "AZURAFORGE_REAPER_INTERVAL_S": "1",
        }
        api = network.run("api", api_command, api_env, directory / "api.log")
        processes.append(api)
        started = {}
        for host, options in workers.items():  # started alongside the API: the database is migrated already
            env = {**environment, "AZURAFORGE_DATA_DIR": str(directory / host)}
            started[host] = network.run(host, [*worker_command(host), *options], env, directory / f"{host}.log")
            processes.append(started[host])
        api_url = f"http://{api_host}:8000"
        wait_until(lambda: _answers(f"{api_url}/api/v1/health", token), 60, "the API on its host", api)
        yield Cluster(network, api_url, token, client, started, environment)
    finally:
        if client is not None:
            client.close()
        for process in processes:  # all at once: each may take its time to stop
            if process.poll() is None:
                process.terminate()
        for process in reversed(processes):
            stop_process(process, 10)
        if s3 is not None:
            s3.stop()
        if postgres is not None:
            postgres.remove()
        network.remove()


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


def _answers(url: str, token: str) -> bool:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False
