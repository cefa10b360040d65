"""`azuraforge apps [APP]`: the installed apps and what they do, or one app's config fields."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from azuraforge_learner.plugins import AppLoadError, UnknownAppError, discover_pipelines, load_pipeline


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("apps", help="list the installed apps, or show one app's config fields")
    parser.add_argument("app", nargs="?", help="show the config fields of this app")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    return show_app(args.app) if args.app else list_apps()


def list_apps() -> int:
    pipelines, errors = discover_pipelines()
    if not pipelines and not errors:
        print("no apps installed; install an app package (e.g. pip install -e ./azuraforge-app-...)")
    width = max((len(name) for name in [*pipelines, *(error.name for error in errors)]), default=0)
    for name, pipeline in pipelines.items():
        print(f"{name:<{width}}  {pipeline.description}")
    for error in errors:
        print(f"{error.name:<{width}}  (broken: {error.error})")
    return 0


def show_app(name: str) -> int:
    try:
        pipeline = load_pipeline(name)
    except (UnknownAppError, AppLoadError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{name}: {pipeline.description}\n\nconfig fields (set with --set FIELD=VALUE):")
    defaults = pipeline.default_config()
    for field, info in pipeline.Config.model_fields.items():
        print(f"  {field} = {json.dumps(defaults.get(field))}  {info.description or ''}".rstrip())
    return 0
