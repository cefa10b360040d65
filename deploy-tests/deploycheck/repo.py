"""The repository's layout: where its files are and what its Python packages declare."""

import tomllib
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
GPU_COMPOSE_FILE = ROOT / "docker-compose.gpu.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKER_DIR = ROOT / "docker"
WORKFLOWS_DIR = ROOT / ".github" / "workflows"
DASHBOARD_DIR = ROOT / "azuraforge-dashboard"


def python_packages() -> list[Path]:
    """Every azuraforge-* folder that is a pip package."""
    return sorted(path.parent for path in ROOT.glob("azuraforge-*/pyproject.toml"))


def app_packages() -> list[Path]:
    return [path for path in python_packages() if path.name.startswith("azuraforge-app-")]


@cache
def pyproject(folder: Path) -> dict[str, Any]:
    with (folder / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)


def project_name(folder: Path) -> str:
    name: str = pyproject(folder)["project"]["name"]
    return name


def console_scripts() -> dict[str, str]:
    """Console script name -> "module:function", from every package's [project.scripts]."""
    scripts: dict[str, str] = {}
    for folder in python_packages():
        scripts.update(pyproject(folder)["project"].get("scripts", {}))
    return scripts


def entry_points(group: str) -> dict[str, str]:
    """Entry-point name -> "module:attr" in `group`, from every package's pyproject."""
    found: dict[str, str] = {}
    for folder in python_packages():
        found.update(pyproject(folder)["project"].get("entry-points", {}).get(group, {}))
    return found
