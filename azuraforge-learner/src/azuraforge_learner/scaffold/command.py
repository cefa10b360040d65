"""The `azuraforge new-app NAME` subcommand."""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import entry_points
from pathlib import Path

from azuraforge_learner.scaffold.generate import ScaffoldError, app_names, generate_app

PIPELINES_GROUP = "azuraforge.pipelines"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "new-app",
        help="generate a package for a new app, ready to install and fill in",
        description="Generate azuraforge-app-NAME/: a plug-in package with a pipeline, its config model, a small "
        "data loader, a test that runs it and a README. It installs and passes its own test as generated.",
    )
    parser.add_argument("name", help="the app's name: lowercase words joined by hyphens, e.g. sales-forecaster")
    parser.add_argument(
        "--dir", type=Path, default=Path("."), help="folder to create the package in (default: the current one)"
    )
    parser.add_argument("--description", help="one line saying what the app does (shown by `azuraforge apps`)")
    parser.set_defaults(handler=new_app)


def new_app(args: argparse.Namespace) -> int:
    try:
        names = app_names(args.name, args.description)
        if names.app in {point.name for point in entry_points(group=PIPELINES_GROUP)}:
            raise ScaffoldError(f"an app named {names.app!r} is already installed; choose another name")
        root = generate_app(names, args.dir)
    except ScaffoldError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # pip reads a bare relative name as a project on PyPI, so relative paths get a ./ prefix.
    shown = str(root) if root.is_absolute() else f"./{root}"
    print(f"Created {shown}/ with app {names.app!r} ({names.class_name} in {names.package}/pipeline.py).")
    print("Next:")
    print(f"  pip install -e '{shown}[test]'  # registers the app")
    print(f"  cd {shown} && pytest  # runs its test")
    print(f"  azuraforge run {names.app}  # trains it and writes a report")
    return 0
