"""The compose deployment reproduced on this machine without Docker, for the tests: the images' commands run
with the environment compose gives their containers, nginx with the dashboard image's configuration, and a
Redis run with its compose command. Only what cannot exist outside Docker is rewritten: service host
names and ports become 127.0.0.1 and free ports, container paths become local folders."""

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import redis

from azuraforge_common.processes import free_port, stop_process, wait_until
from deploycheck import dockerfile, repo

HTML_ROOT = "/usr/share/nginx/html"


def final_stage(service: str) -> dockerfile.Stage:
    return dockerfile.stages(repo.DOCKER_DIR / f"{service}.Dockerfile")[-1]


def healthcheck_command(service: dict[str, Any]) -> list[str]:
    """A compose healthcheck's test as a command line (CMD form, or CMD-SHELL through sh -c)."""
    test: list[str] = service["healthcheck"]["test"]
    if test[0] == "CMD":
        return test[1:]
    if test[0] == "CMD-SHELL":
        return ["sh", "-c", test[1]]
    raise ValueError(f"healthcheck test must start with CMD or CMD-SHELL, not {test[0]}")


def replace_once(text: str, old: str, new: str) -> str:
    """`text` with its one occurrence of `old` replaced: a rewrite that matched nothing would test nothing."""
    if text.count(old) != 1:
        raise ValueError(f"expected exactly one {old!r}, found {text.count(old)}")
    return text.replace(old, new)


def container_env(service: str, compose_env: dict[str, str], rewrites: dict[str, str]) -> dict[str, str]:
    """What a container of `service` sees: its image's ENV, then compose's environment over it, with `rewrites`
    applied to the values. PATH finds this environment's Python first, as /opt/venv/bin does in the image."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AZURAFORGE_")}
    image_env = final_stage(service).env()
    image_env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    for key, value in {**image_env, **compose_env}.items():
        for old, new in rewrites.items():
            value = value.replace(old, new)
        env[key] = value
    return env


class ComposeRedis:
    """The redis service's own command and environment (password, append-only file, memory cap), on a free
    loopback port with its files in `directory`."""

    def __init__(self, service: dict[str, Any], directory: Path) -> None:
        self.port = free_port()
        env = {**os.environ, **service["environment"]}
        self.url = f"redis://:{env['REDIS_PASSWORD']}@127.0.0.1:{self.port}/0"
        shell, flag, script = service["command"]
        script = replace_once(
            script, "exec redis-server", f"exec redis-server --port {self.port} --bind 127.0.0.1 --dir {directory}"
        )
        self.process = subprocess.Popen(
            [shell, flag, script], env=env, stdout=subprocess.DEVNULL, start_new_session=True
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        try:
            wait_until(lambda: _pings(client), 20, "redis-server with the compose command", self.process)
        finally:
            client.close()

    def stop(self) -> None:
        stop_process(self.process)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def nginx_executable() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if found is None:
        raise RuntimeError("nginx is not installed: apt-get install nginx (the tests start their own)")
    return found


def nginx_config(directory: Path, api_port: int, port: int) -> Path:
    """docker/nginx.conf inside a minimal main configuration (as the image's own nginx.conf includes it),
    listening on 127.0.0.1:`port`, serving `directory`/html and proxying to the API on `api_port`."""
    server = (repo.DOCKER_DIR / "nginx.conf").read_text()
    server = replace_once(server, "listen 8080;", f"listen 127.0.0.1:{port};")
    server = replace_once(server, f"root {HTML_ROOT};", f"root {directory / 'html'};")
    server = replace_once(server, "http://api:8000", f"http://127.0.0.1:{api_port}")
    (directory / "default.conf").write_text(server)
    temp_paths = "".join(
        f"    {kind}_temp_path {directory / kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main = directory / "nginx.conf"
    main.write_text(
        # As root, nginx's workers would run as nobody, who cannot read the test's private folders.
        ("user root;\n" if os.geteuid() == 0 else "")
        + f"worker_processes 1;\npid {directory / 'nginx.pid'};\nerror_log {directory / 'error.log'};\n"
        + "events { worker_connections 256; }\n"
        + "http {\n    include /etc/nginx/mime.types;\n    access_log off;\n"
        + temp_paths
        + f"    include {directory / 'default.conf'};\n}}\n"
    )
    return main


def spawn(command: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    cwd.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as output:
        return subprocess.Popen(
            command, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
