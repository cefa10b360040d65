"""Apps are plug-ins: installed packages that register a BasePipeline subclass under the entry-point group
`azuraforge.pipelines` (entry-point name = app name). A plug-in that fails to load is reported and skipped; it
never hides the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from azuraforge_learner.pipeline import BasePipeline

PIPELINES_GROUP = "azuraforge.pipelines"

PipelineClass = type[BasePipeline[Any, Any]]


@dataclass(frozen=True)
class PluginError:
    """An installed app that could not be loaded: its entry-point name and what went wrong."""

    name: str
    error: str


class UnknownAppError(LookupError):
    """No installed app has this name; the message lists the installed ones."""

    def __init__(self, name: str, installed: list[str]) -> None:
        self.name = name
        self.installed = installed
        available = ", ".join(installed) if installed else "none (install an app package, e.g. azuraforge-app-*)"
        super().__init__(f"no app named {name!r} is installed; installed apps: {available}")


class AppLoadError(RuntimeError):
    """An app is installed but its plug-in fails to load; the message carries the import error."""


def _entry_points() -> list[EntryPoint]:
    return sorted(entry_points(group=PIPELINES_GROUP), key=lambda point: point.name)


def _load(point: EntryPoint) -> PipelineClass:
    try:
        loaded = point.load()
    except Exception as exc:
        raise AppLoadError(f"{type(exc).__name__}: {exc} (while importing {point.value})") from exc
    if not (isinstance(loaded, type) and issubclass(loaded, BasePipeline)):
        raise AppLoadError(f"entry point {point.value} is {loaded!r}, not a BasePipeline subclass")
    return loaded


def discover_pipelines() -> tuple[dict[str, PipelineClass], list[PluginError]]:
    """Every loadable app by name, and one PluginError per app that failed to load (or whose name is taken)."""
    pipelines: dict[str, PipelineClass] = {}
    errors: list[PluginError] = []
    for point in _entry_points():
        if point.name in pipelines:
            errors.append(PluginError(point.name, f"another installed package already provides {point.name!r}"))
            continue
        try:
            pipelines[point.name] = _load(point)
        except AppLoadError as exc:
            errors.append(PluginError(point.name, str(exc)))
    return pipelines, errors


def load_pipeline(name: str) -> PipelineClass:
    """The app called `name`, importing only that plug-in. UnknownAppError if none is installed under that name,
    AppLoadError if it is installed but broken."""
    points = _entry_points()
    for point in points:
        if point.name == name:
            return _load(point)
    raise UnknownAppError(name, sorted({point.name for point in points}))


def describe_installed() -> tuple[dict[str, dict[str, Any]], list[PluginError]]:
    """What every loadable app says of itself (BasePipeline.describe) by name, and one PluginError per app that
    failed to load or to describe itself."""
    pipelines, errors = discover_pipelines()
    described = {}
    for name, pipeline in pipelines.items():
        try:
            described[name] = pipeline.describe()
        except Exception as exc:  # an app's own code: one broken app must not hide the others
            errors.append(PluginError(name, f"describing it failed: {type(exc).__name__}: {exc}"))
    return described, errors
