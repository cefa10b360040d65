"""Generates a new app package from the template files shipped in `template/`.

Every template file ends in `.tmpl` (so no tool mistakes it for code of this package) and uses
`string.Template` placeholders (`$package`, `${class_name}`); a folder named `__package__` becomes the import
package's folder.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import asdict, dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from string import Template

TEMPLATE_SUFFIX = ".tmpl"
PACKAGE_FOLDER = "__package__"
NAME_PATTERN = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")


class ScaffoldError(ValueError):
    """The app can't be generated (bad name, folder exists); the message says what to change."""


@dataclass(frozen=True)
class AppNames:
    """Every name a new app goes by, derived from its app name."""

    app: str  # entry-point name, as in `azuraforge run sales-forecaster`
    distribution: str  # pip name and folder: azuraforge-app-sales-forecaster
    package: str  # import name: azuraforge_app_sales_forecaster
    class_name: str  # the pipeline class: SalesForecasterPipeline
    config_name: str  # its config model: SalesForecasterConfig
    title: str  # for people: Sales forecaster
    description: str  # one line for `azuraforge apps` and the dashboard


def app_names(name: str, description: str | None = None) -> AppNames:
    if not NAME_PATTERN.fullmatch(name):
        raise ScaffoldError(
            f"app name {name!r} is not allowed: use lowercase letters and digits in words joined by single "
            "hyphens, starting with a letter (e.g. sales-forecaster)"
        )
    if description is not None and (not description.strip() or any(char in description for char in '"\\\n')):
        raise ScaffoldError(
            "the description must be one non-empty line without double quotes or backslashes "
            "(it is written into Python and TOML strings)"
        )
    words = name.split("-")
    title = " ".join(words).capitalize()
    camel = "".join(word.capitalize() for word in words)
    return AppNames(
        app=name,
        distribution=f"azuraforge-app-{name}",
        package="azuraforge_app_" + "_".join(words),
        class_name=f"{camel}Pipeline",
        config_name=f"{camel}Config",
        title=title,
        description=description.strip() if description is not None else f"{title}: a new AzuraForge app.",
    )


def generate_app(names: AppNames, parent: Path) -> Path:
    """Writes the package folder `parent`/<distribution> and returns it; the folder appears whole or not at all."""
    target = parent / names.distribution
    if target.exists():
        raise ScaffoldError(f"{target} already exists; choose another app name or another --dir")
    parent.mkdir(parents=True, exist_ok=True)
    values = asdict(names)
    with tempfile.TemporaryDirectory(dir=parent, prefix=f".{names.distribution}-") as staging:
        staged = Path(staging) / names.distribution
        for relative, template in _template_files(resources.files(__package__) / "template", ()):
            destination = staged.joinpath(*(names.package if part == PACKAGE_FOLDER else part for part in relative))
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_text(Template(template.read_text(encoding="utf-8")).substitute(values), encoding="utf-8")
        shutil.move(staged, target)
    return target


def _template_files(folder: Traversable, relative: tuple[str, ...]) -> list[tuple[tuple[str, ...], Traversable]]:
    """(path parts without the suffix, file) for every template under `folder`, sorted."""
    found: list[tuple[tuple[str, ...], Traversable]] = []
    for entry in sorted(folder.iterdir(), key=lambda entry: entry.name):
        if entry.is_dir():
            found.extend(_template_files(entry, (*relative, entry.name)))
        elif entry.name.endswith(TEMPLATE_SUFFIX):
            found.append(((*relative, entry.name.removesuffix(TEMPLATE_SUFFIX)), entry))
    return found
