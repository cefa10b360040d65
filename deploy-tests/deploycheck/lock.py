"""requirements.lock, the one set of third-party versions every install uses (the test venv, `run.sh`, both
Python images, the workflows), read for checking against what the images need and what this venv has.
Update it with `scripts/lock.sh` (compiles requirements.in, itself generated from the pyprojects)."""

import runpy
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from deploycheck import dockerfile, repo

PYTHON_IMAGES = ("api", "worker")
LOCK_FILE = repo.ROOT / "requirements.lock"
LOCK_INPUTS = repo.ROOT / "requirements.in"
UPDATE_HINT = "update the lock with ./scripts/lock.sh (it recompiles requirements.in from the pyprojects)"


def read_lock(path: Path = LOCK_FILE) -> dict[str, str]:
    """Canonical name -> pinned version; every entry must be `name==version` with at least one hash."""
    pins: dict[str, str] = {}
    entry = ""
    for raw in [*path.read_text().splitlines(), ""]:
        line = raw.split("#", 1)[0].strip()
        if entry and (not line or not line.startswith("--hash")):
            requirement, _, hashes = entry.partition(" ")
            name, separator, version = requirement.partition("==")
            if not separator or "--hash=sha256:" not in hashes:
                raise ValueError(f"{path.name}: {requirement!r} is not pinned as name==version with hashes")
            pins[canonicalize_name(name)] = version
            entry = ""
        if line:
            entry = f"{entry} {line.removesuffix(chr(92)).strip()}".strip()
    return pins


def expected_lock_inputs() -> str:
    """requirements.in as scripts/lock_inputs.py renders it from the pyprojects today."""
    render = runpy.run_path(str(repo.ROOT / "scripts" / "lock_inputs.py"))["render"]
    text: str = render()
    return text


def image_requirements(service: str) -> list[str]:
    """What the image's build stage pip-installs, as requirement strings: "./azuraforge-common[postgres]"
    becomes "azuraforge-common[postgres]"."""
    requirements = []
    for argument in dockerfile.pip_install_arguments(dockerfile.stages(dockerfile_path(service))[0]):
        folder, bracket, extras = argument.removeprefix("./").partition("[")
        requirements.append(repo.project_name(repo.ROOT / folder) + bracket + extras)
    return requirements


def dockerfile_path(service: str) -> Path:
    return repo.DOCKER_DIR / f"{service}.Dockerfile"


def requirement_closure(roots: Iterable[str]) -> dict[str, str]:
    """Canonical name -> installed version of every distribution that `roots` need, roots included, following
    requirements (with their extras and environment markers) through the installed metadata."""
    pending = [Requirement(root) for root in roots]
    extras_done: dict[str, set[str]] = {}
    versions: dict[str, str] = {}
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        extras = set(requirement.extras)
        if name in extras_done and extras <= extras_done[name]:
            continue
        extras_done[name] = extras_done.get(name, set()) | extras
        try:
            distribution = metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            raise LookupError(f"{requirement.name} is needed by the images but not installed here") from None
        versions[name] = distribution.version
        for text in distribution.requires or []:
            child = Requirement(text)
            if child.marker is None or any(child.marker.evaluate({"extra": extra}) for extra in {"", *extras}):
                pending.append(child)
    return versions


def image_third_party_needs() -> dict[str, str]:
    """Every non-AzuraForge distribution either Python image installs, at the version installed here."""
    needs: dict[str, str] = {}
    for service in PYTHON_IMAGES:
        needs.update(requirement_closure(image_requirements(service)))
    return {name: version for name, version in sorted(needs.items()) if not name.startswith("azuraforge-")}


def installed_third_party() -> dict[str, str]:
    """Canonical name -> version of every non-AzuraForge distribution in the running interpreter's venv."""
    installed = {canonicalize_name(dist.metadata["Name"]): dist.version for dist in metadata.distributions()}
    return {name: version for name, version in installed.items() if not name.startswith("azuraforge-")}


def same_version(left: str, right: str) -> bool:
    return Version(left) == Version(right)


if __name__ == "__main__":
    for name, version in read_lock().items():
        print(f"{name}=={version}")
