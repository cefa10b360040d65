"""GitHub Actions workflows read for checking: their jobs, their steps, and the shell scripts they run with
the matrix values filled in."""

import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from deploycheck import repo

_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path.name} is not a YAML mapping")
    if True in data:  # YAML 1.1 reads the bare key `on` as a boolean
        data["on"] = data.pop(True)
    return data


def matrix_combinations(job: dict[str, Any]) -> list[dict[str, str]]:
    matrix = job.get("strategy", {}).get("matrix", {})
    keys = [key for key in matrix if key not in ("include", "exclude")]
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*(matrix[key] for key in keys))]


def expand(text: str, matrix: dict[str, str]) -> str:
    """`text` with ${{ matrix.KEY }} replaced by its value and any other expression by a placeholder word."""

    def value(match: re.Match[str]) -> str:
        expression = match[1]
        if expression.startswith("matrix."):
            return matrix[expression.removeprefix("matrix.")]
        return "EXPRESSION"

    return _EXPRESSION.sub(value, text)


@dataclass(frozen=True)
class RunStep:
    where: str  # "workflow.yml: job (matrix values)"
    script: str
    working_directory: Path


def run_steps(path: Path) -> list[RunStep]:
    steps = []
    for job_name, job in load(path)["jobs"].items():
        default_directory = job.get("defaults", {}).get("run", {}).get("working-directory", ".")
        for matrix in matrix_combinations(job):
            where = f"{path.name}: {job_name} {matrix or ''}".strip()
            for step in job["steps"]:
                if "run" in step:
                    directory = expand(step.get("working-directory", default_directory), matrix)
                    steps.append(RunStep(where, expand(step["run"], matrix), repo.ROOT / directory))
    return steps


def action_steps(path: Path) -> list[dict[str, Any]]:
    """Every `uses:` step of every job."""
    return [step for job in load(path)["jobs"].values() for step in job["steps"] if "uses" in step]


_PATH_WORD = re.compile(r"[\w.-]+(/[\w.-]+)*/?")
_FILE_SUFFIXES = (".sh", ".py", ".txt", ".ini", ".toml", ".yml", ".yaml", ".json", ".example", ".md")


def file_references(script: str) -> set[str]:
    """Words of a script that name files or folders of the repository: relative paths starting with ./ or
    with a slash or a known suffix, without shell variables; those under folders the script creates itself
    are left out. Extras such as [test] are dropped."""
    created = set(re.findall(r"(?:venv|mkdir(?: -p)?)\s+([\w.-]+)", script))
    references = set()
    for word in re.split(r"[\s\"'();|&<>=]+", script):
        explicit = word.startswith("./")
        word = word.removeprefix("./").split("[", 1)[0]
        if not word or word.startswith("-") or not _PATH_WORD.fullmatch(word):
            continue
        if (explicit or "/" in word or word.endswith(_FILE_SUFFIXES)) and word.split("/", 1)[0] not in created:
            references.add(word)
    return references


def npm_scripts(script: str) -> set[str]:
    """The package.json scripts a shell script runs: `npm run NAME` and `npm test`."""
    return set(re.findall(r"\bnpm run ([\w:-]+)", script)) | ({"test"} if re.search(r"\bnpm test\b", script) else set())
