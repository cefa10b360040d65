"""`azuraforge doctor`: what `azuraforge up` needs on this machine and whether it is there, checked before
anything starts, with what to do about each missing piece."""

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azuraforge_api.dashboard import BUNDLED_DIR
from azuraforge_common.redis_server import redis_executable
from azuraforge_common.settings import Settings

MIN_PYTHON = (3, 11)
MIN_NODE = (20, 19)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    required: bool = True


def register_doctor(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="check what `azuraforge up` needs (Redis, data directory, port, dashboard) and say what is missing",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface `up` would listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port `up` would listen on (default 8000)")
    parser.set_defaults(handler=doctor)


def doctor(args: argparse.Namespace) -> int:
    settings = Settings()
    checks = run_checks(settings, args.host, args.port)
    for check in checks:
        mark = "ok  " if check.ok else ("FAIL" if check.required else "warn")
        print(f"{mark}  {check.name:<12} {check.detail}")
    failed = [check.name for check in checks if check.required and not check.ok]
    print(f"\n{'ready: azuraforge up will start' if not failed else 'not ready: fix ' + ', '.join(failed)}")
    return 1 if failed else 0


def run_checks(settings: Settings, host: str, port: int) -> list[Check]:
    checks: list[Callable[[], Check]] = [
        _python,
        lambda: _redis(settings),
        lambda: _data_dir(settings.data_dir),
        lambda: _port(host, port),
        lambda: _dashboard(settings.dashboard_dir),
    ]
    return [check() for check in checks]


def _python() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    ok = sys.version_info[:2] >= MIN_PYTHON
    return Check("python", ok, version if ok else f"{version}; AzuraForge needs Python >= 3.11")


def _redis(settings: Settings) -> Check:
    if settings.redis_url is not None:
        return Check("redis", True, "AZURAFORGE_REDIS_URL is set: `up` uses that Redis and starts none")
    try:
        return Check("redis", True, f"`up` starts {redis_executable()}")
    except RuntimeError as exc:
        return Check("redis", False, str(exc))


def _data_dir(data_dir: Path) -> Check:
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=data_dir):
            pass
    except OSError as exc:
        return Check("data dir", False, f"{data_dir} is not writable ({exc.strerror}); set AZURAFORGE_DATA_DIR")
    return Check("data dir", True, f"{data_dir} is writable")


def _port(host: str, port: int) -> Check:
    if port_free(host, port):
        return Check("port", True, f"{host}:{port} is free")
    return Check("port", False, f"{host}:{port} is in use; stop what holds it or pass --port")


def _dashboard(configured: Path | None) -> Check:
    root = configured or BUNDLED_DIR
    if (root / "index.html").is_file():
        return Check("dashboard", True, f"served from {root}")
    node = node_version()
    hint = (
        f"Node {'.'.join(map(str, node))} can build it: ./scripts/build-dashboard.sh"
        if node is not None and node >= MIN_NODE
        else "building it needs Node >= 20.19 (https://nodejs.org); the API works without it"
    )
    # The API and /docs work without the dashboard, so this is a warning, not a failure.
    return Check("dashboard", False, f"not built at {root}; {hint}", required=False)


def node_version() -> tuple[int, int] | None:
    node = shutil.which("node")
    if node is None:
        return None
    try:
        printed = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=10, env=os.environ)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.match(r"v(\d+)\.(\d+)", printed.stdout.strip())
    return (int(match[1]), int(match[2])) if match else None


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
        return True
