"""`azuraforge run APP`: run an app in this process, without any server, and print where its report is.

The config is built from the app's defaults, then --config FILE (YAML or JSON), then each --set FIELD=VALUE
(VALUE is read as YAML, so 3, 0.5, true, null and [1, 2] have their types), then --seed.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from azuraforge_learner.callbacks import Callback, ProgressBar
from azuraforge_learner.config import ConfigError
from azuraforge_learner.pipeline import REPORT_FILE, default_output_dir
from azuraforge_learner.plugins import AppLoadError, UnknownAppError, load_pipeline
from azuraforge_learner.record import Plan, RunResult
from azuraforge_learner.tracking import MLFLOW_STATUS, TrackingCallback, TrackingError, send_folder, start_run


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("run", help="run an app here and now, and print where its report is")
    parser.add_argument("app", help="the app's name (see `azuraforge apps`)")
    parser.add_argument("--config", type=Path, metavar="FILE", help="a YAML or JSON file of config fields")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        dest="overrides",
        help="set one config field (repeatable); dotted fields set nested values",
    )
    parser.add_argument("--out", type=Path, metavar="DIR", help="run directory (default: runs/<app>-<timestamp>)")
    parser.add_argument("--seed", type=int, help="seed for a repeatable run (same as --set seed=N)")
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress bar (default: only when stderr is a terminal)",
    )
    parser.add_argument(
        "--server",
        metavar="URL",
        help="also send the run, live, to this AzuraForge server (its token from $AZURAFORGE_API_TOKEN)",
    )
    parser.add_argument(
        "--project",
        metavar="ID",
        help="with --server: the project the run goes to (you need the editor role there; default: the default one)",
    )
    parser.set_defaults(handler=handle)


class UsageError(ValueError):
    """A command-line argument that cannot be used; the message says which and why."""


def handle(args: argparse.Namespace) -> int:
    try:
        pipeline_class = load_pipeline(args.app)
        config = build_config(args.config, args.overrides, args.seed)
        validated = pipeline_class.validate(config)
        if args.project and not args.server:
            raise UsageError("--project chooses where --server sends the run: give --server URL too")
    except (UnknownAppError, AppLoadError, ConfigError, UsageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # Apps say which data source they used at INFO level; show that, without logger names.
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    out: Path = args.out if args.out is not None else default_output_dir(args.app)
    progress = ProgressBar(enabled=args.progress)
    reporter = PrintingReporter(out, epoch_lines=not progress.enabled)
    print(f"running {args.app} into {out}", file=sys.stderr)
    callbacks: list[Callback] = [progress] if progress.enabled else []
    remote = None
    if args.server:
        try:
            remote = start_run(
                out.name,
                validated.model_dump(mode="json"),
                server=args.server,
                experiment=args.app,
                project=args.project,
            )
        except TrackingError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        callbacks.append(TrackingCallback(remote))
    try:
        result = pipeline_class().run(validated, callbacks=callbacks, output_dir=out, reporters=[reporter])
    except Exception as exc:
        traceback.print_exc()
        print(f"error: the run failed ({type(exc).__name__}: {exc}); see {out / 'report.md'}", file=sys.stderr)
        if remote is not None:
            send_folder(remote, out)
            remote.finish("FAILED")
        return 1
    if remote is not None:
        send_folder(remote, out)
        remote.finish(MLFLOW_STATUS[result.status])
        print(f"sent to {args.server} as run {remote.run_id}")
    return 0


def build_config(path: Path | None, overrides: list[str], seed: int | None) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise UsageError(f"cannot read --config {path}: {exc}") from exc
        if not isinstance(loaded, dict):
            raise UsageError(f"--config {path} must hold a mapping of field: value, got {type(loaded).__name__}")
        config.update(loaded)
    for item in overrides:
        field, separator, raw = item.partition("=")
        if not separator or not field:
            raise UsageError(f"--set expects FIELD=VALUE, got {item!r}")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise UsageError(f"--set {item!r}: the value is not valid YAML ({exc})") from exc
        *parents, leaf = field.split(".")
        target = config
        for parent in parents:
            target = target.setdefault(parent, {})
            if not isinstance(target, dict):
                raise UsageError(f"--set {item!r}: {parent!r} is not a mapping")
        target[leaf] = value
    if seed is not None:
        config["seed"] = seed
    return config


class PrintingReporter:
    """A Reporter (see azuraforge_learner.reporter) for the console: one line per epoch on stderr when there is
    no progress bar (logs and pipes, where a bar would be noise), and the result on stdout at the end."""

    def __init__(self, out: Path, epoch_lines: bool) -> None:
        self.out = out
        self.epoch_lines = epoch_lines

    def train_begin(self, plan: Plan) -> None:
        """Nothing to print: the run's directory is already announced."""

    def epoch(self, epoch: int, total_epochs: int, metrics: Mapping[str, float]) -> None:
        if self.epoch_lines:
            values = "  ".join(f"{key} {value:.4g}" for key, value in metrics.items())
            print(f"epoch {epoch}/{total_epochs}  {values}", file=sys.stderr, flush=True)

    def predictions(self, epoch: int, actual: Sequence[float], predicted: Sequence[float]) -> None:
        """Nothing to print: live predictions are for charts."""

    def finished(self, result: RunResult) -> None:
        if result.status == "failed":
            return  # handle() prints the error and where the report is
        verdicts = {entry.metric: entry for entry in result.verdict}
        for name, value in result.metrics.items():
            entry = verdicts.get(name)
            shown = f"  {name}: {value:.4g}"
            if entry is not None:
                outcome = "beats every baseline" if entry.beaten else "not beaten"
                shown += f"  (strongest baseline {entry.strongest_baseline}: {entry.baseline:.4g}; {outcome})"
            print(shown)
        data = result.provenance.data
        if data is not None and data.source.fallback:
            print(f"data: {data.source.fallback_reason}")
        print(f"status: {result.status} ({result.stop_reason.kind})")
        print(f"report: {self.out / REPORT_FILE}")
