"""`azuraforge import DIR`: send a finished `azuraforge run` folder to an AzuraForge server, as one run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from azuraforge_learner.client import URL_ENV
from azuraforge_learner.tracking import TrackingError, import_folder


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("import", help="send a finished run folder to an AzuraForge server")
    parser.add_argument("folder", type=Path, help="a folder `azuraforge run` wrote (it holds metrics.json)")
    parser.add_argument(
        "--server", metavar="URL", help=f"the server (default ${URL_ENV}, else a local `azuraforge up`)"
    )
    parser.add_argument("--project", metavar="ID", help="the project it goes to (default: the default one)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    try:
        run = import_folder(args.folder, args.server, project=args.project)
    except (ValueError, TrackingError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if run.pending:
        return 1  # finish() said where the unsent entries wait
    print(f"imported {args.folder} as run {run.run_id}")
    return 0
