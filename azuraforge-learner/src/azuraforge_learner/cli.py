"""The `azuraforge` command. Its subcommands are plug-ins: every entry point of the group `azuraforge.commands`
is a function `register(subparsers)` that adds one argparse subparser and sets `handler=fn` on it, where
`fn(args) -> int` returns the exit code. The learner registers `apps` and `run`; other packages add theirs
(the platform adds `up`). A subcommand that fails to load is reported and the others still work.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, entry_points, version

COMMANDS_GROUP = "azuraforge.commands"


def build_parser() -> tuple[argparse.ArgumentParser, list[str]]:
    """The parser with every loadable subcommand, and a message for each one that failed to load."""
    parser = argparse.ArgumentParser(prog="azuraforge", description="AzuraForge: deep-learning experiments.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
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


def _version() -> str:
    try:
        return version("azuraforge-learner")
    except PackageNotFoundError:
        return "unknown"
