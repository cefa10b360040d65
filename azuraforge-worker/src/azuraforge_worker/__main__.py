"""`python -m azuraforge_worker [--name=NAME] [--queues=cpu,long] [--concurrency=N] [--loglevel=LEVEL]
[--no-catalog]`: one AzuraForge worker (see command.py)."""

import argparse
import sys

from azuraforge_worker.command import DESCRIPTION, add_arguments, run


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m azuraforge_worker", description=DESCRIPTION)
    add_arguments(parser)
    sys.exit(run(parser.parse_args()))


if __name__ == "__main__":
    main()
