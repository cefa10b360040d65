"""`./scripts/run.sh` says what is missing before doing any work."""

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from deploycheck import repo

RUN = repo.ROOT / "scripts" / "run.sh"


def tools(folder: Path, *names: str) -> str:
    """A PATH holding only these commands (python3 is this venv's, which has venv and ensurepip)."""
    folder.mkdir()
    found = {"python3": sys.executable} | {name: shutil.which(name) for name in names if name != "python3"}
    for name, path in found.items():
        assert path, name
        (folder / name).symlink_to(path)
    return str(folder)


def run(tmp_path: Path, path: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": path, "HOME": str(tmp_path), "AZURAFORGE_VENV": str(tmp_path / "venv")}
    return subprocess.run(["/bin/bash", str(RUN), *args], capture_output=True, text=True, env=env, timeout=60)


def test_missing_node_is_named_before_anything_is_installed(tmp_path):
    done = run(tmp_path, tools(tmp_path / "bin", "python3", "dirname"), "--port", "1")
    assert done.returncode == 1
    assert "Node.js >= 20.19" in done.stderr
    assert not (tmp_path / "venv").exists()


def test_a_busy_port_is_named_with_what_to_do(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = run(tmp_path, tools(tmp_path / "bin", "python3", "dirname", "node"), f"--port={port}")
    assert done.returncode == 1
    assert f"127.0.0.1:{port} is in use" in done.stderr
    assert "--port N" in done.stderr
    assert "Node.js" not in done.stderr  # the node found here is new enough
    assert not (tmp_path / "venv").exists()


def test_an_old_python_is_named(tmp_path):
    bin_dir = tmp_path / "bin"
    tools(bin_dir, "dirname", "node")
    (bin_dir / "python3").unlink()
    (bin_dir / "python3").write_text("#!/bin/sh\nexec " + sys.executable + ' -c "import sys; sys.exit(1)"\n')
    (bin_dir / "python3").chmod(0o755)
    done = run(tmp_path, os.fspath(bin_dir), "--port", "1")
    assert done.returncode == 1
    assert "Python >= 3.11 with venv" in done.stderr
