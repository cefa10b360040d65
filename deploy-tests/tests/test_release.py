"""What a release is made of: one version, the LICENSE in every package, a CHANGELOG section, a release
workflow that builds and publishes every package and image, and wheels that install into an empty venv and
run the platform (the API wheel carrying the dashboard)."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest
from deploycheck import repo, smoke, workflows
from packaging.requirements import Requirement

from azuraforge_common.processes import die_with_parent, free_port, stop_process, wait_until

VERSION = (repo.ROOT / "VERSION").read_text().strip()
RELEASE = repo.WORKFLOWS_DIR / "release.yml"


def changelog_section(version: str) -> str:
    done = subprocess.run(
        [sys.executable, str(repo.ROOT / "scripts" / "changelog_section.py"), version], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("folder", repo.python_packages(), ids=lambda folder: folder.name)
def test_every_package_reads_the_one_version_and_pins_its_siblings_to_it(folder):
    project = repo.pyproject(folder)["project"]
    assert "version" not in project
    assert project["dynamic"] == ["version"]
    assert repo.pyproject(folder)["tool"]["setuptools"]["dynamic"]["version"] == {"file": "VERSION"}
    assert (folder / "VERSION").resolve() == repo.ROOT / "VERSION"
    for text in project["dependencies"]:
        requirement = Requirement(text)
        if requirement.name.startswith("azuraforge-"):
            assert str(requirement.specifier) == f"=={VERSION}", f"{folder.name}: {text}"


def test_the_installed_packages_and_the_dashboard_carry_the_version():
    from importlib.metadata import version

    for folder in repo.python_packages():
        assert version(repo.project_name(folder)) == VERSION, folder.name
    assert json.loads((repo.DASHBOARD_DIR / "package.json").read_text())["version"] == VERSION


@pytest.mark.parametrize("folder", repo.python_packages(), ids=lambda folder: folder.name)
def test_every_package_ships_the_license_and_says_what_it_is(folder):
    data = repo.pyproject(folder)
    project = data["project"]
    assert (folder / "LICENSE").resolve() == repo.ROOT / "LICENSE"
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    assert data["build-system"]["requires"] == ["setuptools>=77"]  # the first to read the `license` string
    assert project["authors"]
    assert project["keywords"]
    assert project["classifiers"]
    assert {"Homepage", "Source", "Changelog", "Issues"} <= set(project["urls"])
    assert (repo.ROOT / "LICENSE").read_text().startswith("MIT License")


def test_the_changelog_has_a_section_for_this_version():
    text = (repo.ROOT / "CHANGELOG.md").read_text()
    assert text.startswith("# Changelog")
    assert "## [Unreleased]" in text
    assert "azuraforge-core" in changelog_section(VERSION)
    missing = subprocess.run(
        [sys.executable, str(repo.ROOT / "scripts" / "changelog_section.py"), "99.0.0"], capture_output=True, text=True
    )
    assert missing.returncode != 0
    assert "## [99.0.0]" in missing.stderr


def test_set_version_changes_every_place_at_once(tmp_path):
    copy = tmp_path / "repo"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(repo.ROOT), str(copy)], check=True)
    # The working tree's versions (which may not be committed yet) are what the script starts from.
    for path in ["VERSION", "scripts/set-version.sh", *[f"{p.name}/pyproject.toml" for p in repo.python_packages()]]:
        (copy / path).write_text((repo.ROOT / path).read_text())
    (copy / "scripts/set-version.sh").chmod(0o755)
    done = subprocess.run([str(copy / "scripts/set-version.sh"), "7.8.9"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (copy / "VERSION").read_text() == "7.8.9\n"
    assert json.loads((copy / "azuraforge-dashboard/package.json").read_text())["version"] == "7.8.9"
    api = tomllib.loads((copy / "azuraforge-api/pyproject.toml").read_text())["project"]["dependencies"]
    assert "azuraforge-common==7.8.9" in api
    assert "azuraforge-worker==7.8.9" in api
    refused = subprocess.run([str(copy / "scripts/set-version.sh"), "latest"], capture_output=True, text=True)
    assert refused.returncode == 2
    assert (copy / "VERSION").read_text() == "7.8.9\n"


def test_the_release_workflow_builds_checks_and_publishes_everything_under_the_version():
    data = workflows.load(RELEASE)
    assert data["on"] == {"push": {"tags": ["v*"]}}
    jobs = data["jobs"]
    scripts = "\n".join(step.script for step in workflows.run_steps(RELEASE))
    assert 'test "$GITHUB_REF_NAME" = "v$version"' in scripts
    assert "$(cat VERSION)" in scripts
    assert "scripts/build-wheels.sh dist" in scripts  # every package, dashboard inside the API wheel, twine check
    assert "twine check --strict" in (repo.ROOT / "scripts" / "build-wheels.sh").read_text()
    assert 'notes=$(python3 scripts/changelog_section.py "$VERSION")' in scripts
    assert '--notes "$notes"' in scripts
    assert jobs["pypi"]["permissions"] == {"id-token": "write"}  # trusted publishing: no token stored
    assert any(step.get("uses", "").startswith("pypa/gh-action-pypi-publish@") for step in jobs["pypi"]["steps"])
    images = jobs["images"]
    services = [combination["service"] for combination in workflows.matrix_combinations(images)]
    assert sorted(services) == sorted(
        path.name.removesuffix(".Dockerfile") for path in repo.DOCKER_DIR.glob("*.Dockerfile")
    )
    (push,) = [step for step in images["steps"] if step.get("uses", "").startswith("docker/build-push-action@")]
    assert push["with"]["push"] is True
    assert push["with"]["tags"].startswith("ghcr.io/")
    assert push["with"]["tags"].endswith(":${{ needs.dists.outputs.version }}")
    assert jobs["dists"]["outputs"]["version"] == "${{ steps.version.outputs.version }}"


def checkout_copy(target: Path) -> Path:
    """The files a checkout holds (tracked and new ones, none that git ignores), copied to `target`, plus the
    dashboard built into the API package when AZURAFORGE_DASHBOARD_BUILT says it is current. Building there leaves
    this tree's egg-info alone while other suites run from it."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=repo.ROOT, capture_output=True, check=True,
    ).stdout  # fmt: skip
    for name in filter(None, listed.decode().split("\0")):
        source = repo.ROOT / name
        if source.is_file() or source.is_symlink():  # a tracked file deleted in the working tree is listed too
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name, follow_symlinks=False)
    if os.environ.get("AZURAFORGE_DASHBOARD_BUILT") == "1":
        bundled = Path("azuraforge-api/src/azuraforge_api/dashboard")
        shutil.copytree(repo.ROOT / bundled, target / bundled)
    return target


@pytest.mark.timeout(900)
def test_wheels_install_into_an_empty_venv_and_up_serves_the_dashboard_and_runs_an_experiment(tmp_path):
    dist = tmp_path / "dist"
    env = {**os.environ, "AZURAFORGE_VENV": sys.prefix}
    source = checkout_copy(tmp_path / "source")
    built = subprocess.run(
        ["bash", str(source / "scripts" / "build-wheels.sh"), str(dist)], capture_output=True, text=True, env=env
    )
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-4000:]
    wheels = sorted(dist.glob("*.whl"))
    assert len(wheels) == len(repo.python_packages()) == len(list(dist.glob("*.tar.gz")))
    with zipfile.ZipFile(next(wheel for wheel in wheels if wheel.name.startswith("azuraforge_api-"))) as api_wheel:
        names = api_wheel.namelist()
    assert "azuraforge_api/dashboard/index.html" in names
    assert any(re.fullmatch(r"azuraforge_api-[^/]+\.dist-info/licenses/LICENSE", name) for name in names)

    # An empty venv outside the repository: the wheels (no editable link back here), the rest from the lock.
    fresh = tmp_path / "venv"
    venv.create(fresh, with_pip=True)
    python = fresh / "bin" / "python"
    constraints = tmp_path / "constraints.txt"
    lock_text = (repo.ROOT / "requirements.lock").read_text()
    constraints.write_text(re.sub(r" *\\\n\s*--hash=\S+", "", lock_text).replace(" \\\n", "\n"))
    clean_env = {key: value for key, value in os.environ.items() if not key.startswith(("AZURAFORGE_", "PYTHON"))}
    # No byte-compiling of every installed module: what runs below compiles what it imports.
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-compile"]
    subprocess.run([*pip, "--no-deps", *map(str, wheels)], check=True, env=clean_env, cwd=tmp_path)
    subprocess.run([*pip, "--constraint", str(constraints), *map(str, wheels)], check=True, env=clean_env, cwd=tmp_path)
    assert subprocess.run([str(python), "-m", "pip", "check"], env=clean_env, cwd=tmp_path).returncode == 0

    port = free_port()
    data = tmp_path / "data"
    up_env = {**clean_env, "AZURAFORGE_DATA_DIR": str(data), "MPLCONFIGDIR": str(tmp_path / "mpl")}
    log = (tmp_path / "up.log").open("wb")
    up = subprocess.Popen(
        [str(fresh / "bin" / "azuraforge"), "up", "--port", str(port)],
        env=up_env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        preexec_fn=die_with_parent,  # a killed test run leaves no platform behind
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: b"is running at" in (tmp_path / "up.log").read_bytes(), 120, "azuraforge up", up)
        # The dashboard came from the wheel: index.html bundled in site-packages, no Node, no variable.
        assert (
            smoke.main(["--url", url, "--app", "image-classifier", "--config", '{"epochs": 1}', "--timeout", "300"])
            == 0
        )
        dom = subprocess.run(
            [
                "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--no-first-run", f"--user-data-dir={tmp_path / 'chromium'}", "--virtual-time-budget=15000",
                "--dump-dom", f"{url}/new",
            ],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        # Rendered by the bundled JavaScript from the API's answers, not present in index.html itself.
        shown = dom.stdout[-2000:] + dom.stderr[-2000:]
        assert "New experiment" in dom.stdout, shown
        assert "image-classifier" in dom.stdout, shown
    finally:
        up.send_signal(signal.SIGTERM)
        stop_process(up, 60)
        log.close()
    assert up.returncode == 0, (tmp_path / "up.log").read_text()[-3000:]
