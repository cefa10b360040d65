"""The `azuraforge` command. Its subcommands are plug-ins: every entry point of the group `azuraforge.commands`
is a function `register(subparsers)` that adds one argparse subparser and sets `handler=fn` on it, where
`fn(args) -> int` returns the exit code. The learner registers `apps` and `run`; other packages add theirs
(the platform adds `up`). A subcommand that fails to load is reported and the others still work.
"""

from __future__ import annotations

import argparse
import platform
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, distributions, entry_points, version

COMMANDS_GROUP = "azuraforge.commands"


def build_parser() -> tuple[argparse.ArgumentParser, list[str]]:
    """The parser with every loadable subcommand, and a message for each one that failed to load."""
    parser = argparse.ArgumentParser(prog="azuraforge", description="AzuraForge: deep-learning experiments.")
    parser.add_argument(
        "--version", action=VersionsAction, help="print the version of every AzuraForge package and runtime, then exit"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    problems: list[str] = []
    for point in sorted(entry_points(group=COMMANDS_GROUP), key=lambda point: point.name):
        try:
            point.load()(subparsers)
        except Exception as exc:
            problems.append(f"subcommand {point.name!r} is unavailable ({type(exc).__name__}: {exc})")
    return parser, problems


def main(argv: Sequence[str] | None = None) -> int:
    parser, problems = build_parser()
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    args = parser.parse_args(argv)
    exit_code: int = args.handler(args)
    return exit_code


RUNTIME_DISTRIBUTIONS = ("numpy", "celery", "fastapi")


def versions_report() -> str:
    """One line per installed azuraforge-* distribution, then Python and the libraries the platform runs on.
    Read from package metadata, so nothing is imported (Celery and FastAPI may not be installed)."""
    ours = sorted(
        {
            dist.metadata["Name"]: dist.version
            for dist in distributions()
            if dist.metadata["Name"].startswith("azuraforge-")
        }.items()
    )
    lines = [f"{name:<34} {found}" for name, found in ours]
    lines.append(f"{'python':<34} {platform.python_version()} ({sys.executable})")
    for name in RUNTIME_DISTRIBUTIONS:
        try:
            found = version(name)
        except PackageNotFoundError:
            found = "not installed"
        lines.append(f"{name:<34} {found}")
    return "\n".join(lines)


class VersionsAction(argparse.Action):
    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        print(versions_report())
        parser.exit()
