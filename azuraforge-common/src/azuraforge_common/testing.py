"""Pytest fixtures shared by the platform's packages: a real Redis, a real PostgreSQL and a real S3-protocol
server (moto's standalone server), each started once per test session on a free port and stopped at its end.
Use with `pytest_plugins = ["azuraforge_common.testing"]`.

PostgreSQL refuses to run as root, so when the tests run as root the server runs as the `postgres` user that
Debian's package creates.
"""

import glob
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import boto3
import psycopg
import pytest
import redis

from azuraforge_common.processes import die_with_parent, free_port, stop_process, wait_until
from azuraforge_common.redis_server import RedisServer


def _postgres_bin_dir() -> Path:
    """Where initdb and postgres are: on PATH, or Debian's versioned folder (newest first)."""
    for initdb in [shutil.which("initdb"), *sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)]:
        if initdb:
            return Path(initdb).parent
    raise RuntimeError("PostgreSQL is not installed: apt-get install postgresql (the tests start their own).")


class PostgresServer:
    """A throwaway PostgreSQL cluster in a temporary directory, listening on 127.0.0.1 and a free port."""

    USER = "azuraforge"

    def __init__(self) -> None:
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="azuraforge-pg-"))
        self.process: subprocess.Popen[bytes] | None = None
        self._run_as = "postgres" if os.geteuid() == 0 else None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.USER}@127.0.0.1:{self.port}/{database}"

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
        self.process = subprocess.Popen(
            [bin_dir / "postgres", "-D", data, "-p", str(self.port), "-h", "127.0.0.1", "-k", self.directory,
             "-c", "fsync=off", "-c", "full_page_writes=off"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            user=self._run_as,
            group=self._run_as,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )  # fmt: skip
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

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = free_port()
        self.url = f"http://{host}:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def environment(self) -> dict[str, str]:
        """The variables boto3 reads to reach this server."""
        return {**self.ENVIRONMENT, "AWS_ENDPOINT_URL": self.url}

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)],
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
