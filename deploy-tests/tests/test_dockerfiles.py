"""The Dockerfiles: linted by hadolint, multi-stage on pinned slim bases, non-root, copying only what the
build context keeps, installing the packages from their folders with pinned third-party versions."""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from deploycheck import dockerfile, dockerignore, lock, repo

DOCKERFILES = sorted(repo.DOCKER_DIR.glob("*.Dockerfile"))
PINNED_SLIM = re.compile(r"[a-z0-9/._-]+:\d+\.\d+\.\d+-(slim-bookworm|bookworm-slim|alpine)")


def tracked_files() -> list[str]:
    """The repository's files, as a clone has them (not yet committed ones included, ignored ones not)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=repo.ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return listed.stdout.splitlines()


def hadolint() -> str:
    found = shutil.which("hadolint", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    if found is None:
        raise RuntimeError("hadolint is not installed: pip install -r deploy-tests/requirements.txt")
    return found


def test_one_dockerfile_per_built_service():
    assert [path.name for path in DOCKERFILES] == ["api.Dockerfile", "dashboard.Dockerfile", "worker.Dockerfile"]


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda path: path.name)
def test_hadolint_finds_nothing(path):
    result = subprocess.run([hadolint(), "--no-color", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_does_report_problems(tmp_path):
    """The lint above can fail: a root, unpinned Dockerfile is reported."""
    bad = tmp_path / "bad.Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install fastapi\nUSER root\n")
    result = subprocess.run([hadolint(), "--no-color", str(bad)], capture_output=True, text=True)
    assert result.returncode != 0
    assert {"DL3007", "DL3013", "DL3002"} <= set(re.findall(r"DL\d{4}", result.stdout))


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda path: path.name)
def test_multi_stage_on_pinned_slim_bases(path):
    stages = dockerfile.stages(path)
    assert len(stages) >= 2
    for stage in stages:
        assert PINNED_SLIM.fullmatch(stage.base), f"{path.name}: base {stage.base} is not a pinned slim image"
    build_stages = {stage.name for stage in stages[:-1]}
    copied_from = {dockerfile.copy_sources(copy)[0] for copy in stages[-1].all("COPY")}
    assert build_stages & copied_from, f"{path.name}: the final stage copies nothing from a build stage"


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda path: path.name)
def test_runs_as_a_non_root_user(path):
    user = dockerfile.stages(path)[-1].user()
    assert user is not None, f"{path.name}: the final stage sets no USER"
    assert user.split(":")[0] not in ("root", "0")


def test_api_and_worker_run_as_the_same_uid():
    """Both write an artifacts volume when the store is a shared directory (the NFS route of docs/deployment.md)."""
    users = {dockerfile.stages(repo.DOCKER_DIR / f"{name}.Dockerfile")[-1].user() for name in ("api", "worker")}
    assert len(users) == 1


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda path: path.name)
def test_copied_files_exist_and_are_in_the_build_context(path):
    patterns = dockerignore.read(repo.ROOT / ".dockerignore")
    files = tracked_files()
    for stage in dockerfile.stages(path):
        for copy in stage.all("COPY"):
            source_stage, sources = dockerfile.copy_sources(copy)
            if source_stage is not None:
                continue
            for source in sources:
                prefix = source.rstrip("/")
                inside = [name for name in files if name == prefix or name.startswith(prefix + "/")]
                assert inside, f"{path.name}:{copy.line}: {source} is not in the repository"
                kept = [name for name in inside if not dockerignore.excluded(patterns, name)]
                assert kept, f"{path.name}:{copy.line}: .dockerignore leaves out all of {source}"


def test_dockerignore_keeps_package_sources_and_drops_the_rest():
    patterns = dockerignore.read(repo.ROOT / ".dockerignore")
    files = tracked_files()
    needed = [
        name
        for name in files
        if re.match(r"azuraforge-[\w-]+/(src/|pyproject\.toml$|README\.md$|package(-lock)?\.json$)", name)
    ]
    assert any("scaffold/template/tests" in name for name in needed)  # package data named like tests
    assert [name for name in needed if dockerignore.excluded(patterns, name)] == []
    for left_out in ("README.md", "scripts/test.sh", "azuraforge-core/tests", "azuraforge-dashboard/e2e"):
        assert any(name.startswith(left_out) for name in files)
        assert all(dockerignore.excluded(patterns, name) for name in files if name.startswith(left_out)), left_out
    for generated in (".venv/bin/python", "azuraforge-dashboard/node_modules/x/index.js", "azuraforge-core/build/a"):
        assert dockerignore.excluded(patterns, generated)


@pytest.mark.parametrize("service", lock.PYTHON_IMAGES)
def test_python_images_install_copied_folders_not_editable(service):
    build = dockerfile.stages(lock.dockerfile_path(service))[0]
    runs = " ".join(run.arguments for run in build.all("RUN"))
    assert not re.search(r"pip install[^&]*\s(-e|--editable)\s", runs)
    assert "requirements.lock >constraints.txt" in runs
    assert "--constraint constraints.txt" in runs
    copied = {source.rstrip("/") for copy in build.all("COPY") for source in dockerfile.copy_sources(copy)[1]}
    assert "requirements.lock" in copied
    for argument in dockerfile.pip_install_arguments(build):
        folder = argument.removeprefix("./").partition("[")[0]
        assert argument.startswith("./"), f"{argument} is not installed by path"
        assert folder in copied, f"{argument} is not installed from a copied folder"
        assert (repo.ROOT / folder / "pyproject.toml").is_file()


@pytest.mark.parametrize("service", lock.PYTHON_IMAGES)
def test_python_images_install_every_azuraforge_package_they_need(service):
    requirements = lock.image_requirements(service)
    needed = {name for name in lock.requirement_closure(requirements) if name.startswith("azuraforge-")}
    installed = {requirement.partition("[")[0] for requirement in requirements}
    assert needed == installed, f"{service} image: pip would look for {sorted(needed - installed)} on PyPI"
    assert "azuraforge-common[postgres]" in requirements  # psycopg for compose's PostgreSQL


def test_the_lock_pins_everything_the_images_install_at_the_version_tested_here():
    # The images install with `--constraint requirements.lock`; pip checks the lock's hashes, and every
    # third-party package they need must be pinned there, at the version this test venv ran against.
    pinned, needed = lock.read_lock(), lock.image_third_party_needs()
    missing = sorted(set(needed) - set(pinned))
    assert not missing, f"the images would install {missing} unpinned; {lock.UPDATE_HINT}"
    differing = {
        name: (version, pinned[name])
        for name, version in needed.items()
        if not lock.same_version(version, pinned[name])
    }
    assert not differing, f"installed here vs locked: {differing}; reinstall with ./scripts/test.sh"
    assert {"fastapi", "celery", "psycopg-binary", "numpy"} <= set(needed)


def test_dashboard_image_builds_the_spa_and_serves_it_with_nginx():
    build, serve = dockerfile.stages(repo.DOCKER_DIR / "dashboard.Dockerfile")
    runs = [run.arguments for run in build.all("RUN")]
    assert runs[0].startswith("npm ci")
    assert runs[-1] == "npm run build"
    package = json.loads((repo.DASHBOARD_DIR / "package.json").read_text())
    assert "build" in package["scripts"]
    assert re.search(r'outDir:\s*"dist"', (repo.DASHBOARD_DIR / "vite.config.ts").read_text())
    copies = {shlex.split(copy.arguments)[-1]: dockerfile.copy_sources(copy) for copy in serve.all("COPY")}
    html_root = re.search(r"^\s*root (\S+);", (repo.DOCKER_DIR / "nginx.conf").read_text(), re.MULTILINE)
    assert html_root is not None
    assert copies[html_root[1]] == (build.name, [f"{build.all('WORKDIR')[-1].arguments}/dist"])
    assert copies["/etc/nginx/conf.d/default.conf"] == (None, ["docker/nginx.conf"])
    assert serve.all("EXPOSE")[-1].arguments == "8080"
