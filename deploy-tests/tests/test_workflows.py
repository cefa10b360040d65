"""The GitHub Actions workflows parse, use pinned actions, and run commands that exist."""

import glob
import json
import re
import subprocess

import pytest
from deploycheck import repo, workflows

WORKFLOWS = sorted(repo.WORKFLOWS_DIR.glob("*.yml"))
RUN_STEPS = [step for path in WORKFLOWS for step in workflows.run_steps(path)]


def test_the_workflows():
    assert {path.name for path in WORKFLOWS} >= {"ci.yml", "packages.yml", "images.yml", "release.yml", "lock.yml"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_workflow_structure(path):
    data = workflows.load(path)
    assert data["name"]
    assert data["on"]
    assert data["jobs"]
    for name, job in data["jobs"].items():
        assert job["runs-on"], name
        assert job["steps"], name
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), f"{path.name}: {name}: a step needs either uses or run"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_actions_are_pinned_to_a_major_version(path):
    for step in workflows.action_steps(path):
        # release/vN is the PyPI publishing action's documented major-version branch.
        assert re.fullmatch(r"[\w-]+/[\w-]+@((release/)?v\d+|[0-9a-f]{40})", step["uses"]), step["uses"]


@pytest.mark.parametrize("step", RUN_STEPS, ids=lambda step: step.where)
def test_run_scripts_are_valid_bash(step):
    result = subprocess.run(["bash", "-n", "-c", step.script], capture_output=True, text=True)
    assert result.returncode == 0, f"{step.where}: {result.stderr}"


@pytest.mark.parametrize("step", RUN_STEPS, ids=lambda step: step.where)
def test_files_and_folders_named_by_commands_exist(step):
    assert step.working_directory.is_dir(), f"{step.where}: no folder {step.working_directory}"
    for reference in workflows.file_references(step.script):
        assert (step.working_directory / reference).exists(), f"{step.where}: {reference} does not exist"


def test_file_references_are_found():
    """The existence check above sees paths: it would fail on a misspelt one."""
    script = 'python -m venv .venv\n.venv/bin/pip install -r deploy-tests/requirement.txt "./azuraforge-api[test]"'
    assert workflows.file_references(script) == {"deploy-tests/requirement.txt", "azuraforge-api"}
    assert not (repo.ROOT / "deploy-tests/requirement.txt").exists()


@pytest.mark.parametrize("step", RUN_STEPS, ids=lambda step: step.where)
def test_npm_scripts_exist(step):
    wanted = workflows.npm_scripts(step.script)
    if "npm ci" in step.script:
        assert (step.working_directory / "package-lock.json").is_file(), step.where
    if wanted:
        scripts = json.loads((step.working_directory / "package.json").read_text())["scripts"]
        assert wanted <= set(scripts), f"{step.where}: no npm script {sorted(wanted - set(scripts))}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_pip_and_npm_caches(path):
    for step in workflows.action_steps(path):
        action = step["uses"].split("@")[0]
        if action in ("actions/setup-python", "actions/setup-node"):
            settings = step["with"]
            assert settings["cache"] == ("pip" if action == "actions/setup-python" else "npm")
            for pattern in settings["cache-dependency-path"].split():
                assert glob.glob(str(repo.ROOT / pattern), recursive=True), f"{path.name}: {pattern} matches nothing"


def test_every_python_package_has_its_own_job():
    matrix = workflows.load(repo.WORKFLOWS_DIR / "packages.yml")["jobs"]["python"]["strategy"]["matrix"]
    assert sorted(matrix["package"]) == sorted(path.name for path in repo.python_packages())


def test_the_dashboard_checks_the_browser_test_and_these_checks_run():
    scripts = {(step.working_directory.name, line.strip()) for step in RUN_STEPS for line in step.script.splitlines()}
    for expected in ("npm run lint", "npm test", "npm run build", "npm run e2e"):
        assert ("azuraforge-dashboard", expected) in scripts
    assert ("deploy-tests", "python -m pytest -q -p no:cacheprovider") in scripts


def test_every_dockerfile_is_built():
    build = workflows.load(repo.WORKFLOWS_DIR / "images.yml")["jobs"]["build"]
    services = [combination["service"] for combination in workflows.matrix_combinations(build)]
    assert sorted(services) == sorted(
        path.name.removesuffix(".Dockerfile") for path in repo.DOCKER_DIR.glob("*.Dockerfile")
    )
    (action,) = [step for step in build["steps"] if step["uses"].startswith("docker/build-push-action@")]
    for combination in workflows.matrix_combinations(build):
        assert (repo.ROOT / action["with"]["context"] / workflows.expand(action["with"]["file"], combination)).is_file()
    assert action["with"]["cache-from"].startswith("type=gha")
