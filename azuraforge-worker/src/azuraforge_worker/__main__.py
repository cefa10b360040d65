"""`python -m azuraforge_worker [--name=NAME] [--loglevel=LEVEL]`: one AzuraForge worker (see command.py).

Celery runs in this process rather than a child, so signals (SIGTERM from `azuraforge up` or Docker) reach it."""

import argparse
import sys

from celery.__main__ import main as celery_main

from azuraforge_worker.command import celery_arguments


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m azuraforge_worker", description=__doc__)
    parser.add_argument("--name", default="worker", help="Celery name of this worker, before @host (default worker)")
    parser.add_argument("--loglevel", default="INFO", help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    args = parser.parse_args()
    sys.argv = ["celery", *celery_arguments(args.name, args.loglevel)]
    celery_main()


if __name__ == "__main__":
    main()
