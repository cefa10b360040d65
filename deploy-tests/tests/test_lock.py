"""requirements.lock decides every third-party version, on any day: the lock matches the pyprojects, this
venv is exactly the lock, and every install path (scripts, images, workflows) goes through it."""

import re

import pytest
from deploycheck import lock, repo, workflows
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def lock_input_requirements() -> list[Requirement]:
    """Every requirement requirements.in names, with the files it includes by `-r` read too."""
    found: list[Requirement] = []
    pending = [lock.LOCK_INPUTS]
    while pending:
        path = pending.pop()
        for raw in path.read_text().splitlines():
            line = raw.split("#", 1)[0].strip()
            if line.startswith("-r "):
                pending.append(path.parent / line.removeprefix("-r ").strip())
            elif line:
                found.append(Requirement(line))
    return found


def test_requirements_in_is_generated_from_the_pyprojects():
    assert lock.LOCK_INPUTS.read_text() == lock.expected_lock_inputs(), (
        f"a pyproject's dependencies changed since the last lock; {lock.UPDATE_HINT}"
    )


def test_every_requirement_of_every_package_is_locked_at_a_version_it_accepts():
    pinned = lock.read_lock()
    for requirement in lock_input_requirements():
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement} is not in requirements.lock; {lock.UPDATE_HINT}"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"requirements.lock pins {name}=={pinned[name]}, outside {requirement}; {lock.UPDATE_HINT}"
        )


def test_the_lock_pins_the_cpu_build_of_torch_for_the_core_tests():
    assert lock.read_lock()["torch"] == "2.13.0+cpu"


def test_this_venv_is_exactly_the_lock():
    # The test command installs the whole lock with --require-hashes --no-deps: what ran here is what ships.
    pinned, installed = lock.read_lock(), lock.installed_third_party()
    assert sorted(set(installed) - set(pinned)) == [], "installed but not locked"
    assert sorted(set(pinned) - set(installed)) == [], "locked but not installed"
    assert {name: version for name, version in installed.items() if not lock.same_version(version, pinned[name])} == {}


def test_the_lock_reader_refuses_an_entry_without_hashes(tmp_path):
    path = tmp_path / "requirements.lock"
    path.write_text("six==1.17.0 \\\n    --hash=sha256:abc\n    # via x\nnumpy==2.4.6\n")
    with pytest.raises(ValueError, match=r"numpy==2\.4\.6"):
        lock.read_lock(path)
    path.write_text("six==1.17.0 \\\n    --hash=sha256:abc \\\n    --hash=sha256:def\n    # via x\n")
    assert lock.read_lock(path) == {"six": "1.17.0"}


@pytest.mark.parametrize("script", ["test.sh", "run.sh"])
def test_the_readme_commands_install_through_the_lock(script):
    text = (repo.ROOT / "scripts" / script).read_text()
    assert "scripts/install-locked.sh" in text
    assert not re.search(r"pip\S* install", text), f"{script} installs around the lock"
    installer = (repo.ROOT / "scripts" / "install-locked.sh").read_text()
    assert '--require-hashes --no-deps -r "$LOCK"' in installer


def test_every_python_install_in_the_workflows_goes_through_the_lock():
    steps = [step for path in sorted(repo.WORKFLOWS_DIR.glob("*.yml")) for step in workflows.run_steps(path)]
    for step in steps:
        for command in re.findall(r"pip install[^\n]*", step.script):
            assert "requirements.lock" in command, f"{step.where}: {command} installs around the lock"
    assert any("scripts/install-locked.sh" in step.script for step in steps)


def installs_the_whole_lock(script: str) -> bool:
    return "scripts/test.sh" in script or re.search(r"install-locked\.sh \S+ --all", script) is not None


def test_the_workflows_take_torch_from_the_cpu_index():
    checked = 0
    for path in sorted(repo.WORKFLOWS_DIR.glob("*.yml")):
        if any(installs_the_whole_lock(step.script) for step in workflows.run_steps(path)):
            assert workflows.load(path)["env"]["PIP_EXTRA_INDEX_URL"] == "https://download.pytorch.org/whl/cpu"
            checked += 1
    assert checked >= 2


def test_a_scheduled_workflow_proposes_the_lock_refresh_as_a_pull_request():
    path = repo.WORKFLOWS_DIR / "lock.yml"
    data = workflows.load(path)
    assert data["on"]["schedule"][0]["cron"]
    scripts = " ".join(step.script for step in workflows.run_steps(path))
    assert "./scripts/lock.sh --upgrade" in scripts
    (propose,) = [
        step for step in workflows.action_steps(path) if step["uses"].startswith("peter-evans/create-pull-request@")
    ]
    assert "requirements.lock" in propose["with"]["add-paths"]
    # A pull request opened with GITHUB_TOKEN would start no CI, so the suite would never run on it.
    assert propose["with"]["token"] == "${{ secrets.LOCK_REFRESH_TOKEN }}"
    dependabot = workflows.load(repo.ROOT / ".github" / "dependabot.yml")
    assert {update["package-ecosystem"] for update in dependabot["updates"]} == {"github-actions", "npm", "docker"}
