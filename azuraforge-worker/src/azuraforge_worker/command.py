"""The worker's command line: `python -m azuraforge_worker` and `azuraforge worker` (the same options)."""

import argparse
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from types import FrameType
from typing import Any

from celery.__main__ import main as celery_main

from azuraforge_common import names
from azuraforge_common.processes import thread_counts
from azuraforge_common.settings import Settings, check_queue_name
from azuraforge_common.worker import worker_command
from azuraforge_worker.catalog import publish_in_background

CELERY_APP = "azuraforge_worker.celery_app"
DESCRIPTION = """One AzuraForge worker: runs experiments from the queues it serves, one at a time per process.
While it starts, it publishes the apps installed here to the app catalog the API serves.
Celery runs in this process rather than a child, so signals (SIGTERM from `azuraforge up` or Docker) reach it;
with --concurrency N, N such processes run under this one, which passes signals on."""


def celery_arguments(name: str, loglevel: str, queues: Sequence[str]) -> list[str]:
    """A Celery worker running one experiment at a time in its main process (solo pool): killing that process
    kills the experiment with it, and its heartbeat stops, which the API's reaper notices."""
    return [
        "-A", CELERY_APP, "worker",
        "--pool=solo", "--concurrency=1", f"--hostname={name}@%h", f"--loglevel={loglevel}",
        f"--queues={','.join(names.task_queue(queue) for queue in queues)}",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", default="worker", help="Celery name of this worker, before @host (default worker)")
    parser.add_argument("--loglevel", default="INFO", help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    parser.add_argument(
        "--queues",
        type=_queue_list,
        default=None,
        help="comma-separated queues (resource classes) to serve, such as cpu,long (default: all of AZURAFORGE_QUEUES)",
    )
    parser.add_argument(
        "--concurrency", type=_positive, default=1, help="experiments this worker runs at once (default 1)"
    )
    parser.add_argument(
        "--no-catalog", dest="catalog", action="store_false", help="do not publish the installed apps (`up` does)"
    )


def register_worker(subparsers: Any) -> None:
    """`azuraforge worker` (an entry point of the azuraforge.commands group)."""
    parser = subparsers.add_parser("worker", help="run an AzuraForge worker", description=DESCRIPTION)
    add_arguments(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    queues: list[str] = args.queues or Settings().queues
    if args.catalog:
        publish_in_background(f"{args.name}@{socket.gethostname()}")  # the name Celery gives it (%h)
    if args.concurrency == 1:
        sys.argv = ["celery", *celery_arguments(args.name, args.loglevel, queues)]
        celery_main()
        return 0
    return _run_several(args.name, args.loglevel, queues, args.concurrency)


def _run_several(name: str, loglevel: str, queues: list[str], count: int) -> int:
    """`count` single-run workers named name-1..name-N; SIGTERM and SIGINT reach them all; when one exits, the
    others are stopped too (and the container or `azuraforge up` restarts the whole)."""
    env = os.environ | thread_counts(count)
    children = [
        subprocess.Popen(
            worker_command(f"{name}-{n}", loglevel, queues, catalog=False), env=env, stdin=subprocess.DEVNULL
        )
        for n in range(1, count + 1)
    ]

    def pass_on(signum: int, frame: FrameType | None) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, pass_on)
    signal.signal(signal.SIGINT, pass_on)
    first = _wait_any(children)
    pass_on(signal.SIGTERM, None)
    codes = [child.wait() for child in children]
    return codes[first] or max(codes)


def _wait_any(children: list[subprocess.Popen[bytes]]) -> int:
    while True:
        for index, child in enumerate(children):
            try:
                child.wait(timeout=0.5)
                return index
            except subprocess.TimeoutExpired:
                continue


def _queue_list(value: str) -> list[str]:
    queues = [queue.strip() for queue in value.split(",") if queue.strip()]
    if not queues:
        raise argparse.ArgumentTypeError("name at least one queue, such as cpu")
    try:
        return [check_queue_name(queue) for queue in queues]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {value}")
    return number
