"""`python -m azuraforge_worker.serve [--threads=N] [--loglevel=LEVEL] [--no-catalog]`: the model server (see
serving.py), on AZURAFORGE_REDIS_URL and AZURAFORGE_DATA_DIR; it publishes its apps to the app catalog as it starts.
SIGTERM or Ctrl-C stops it after the predictions under way."""

import argparse
import logging
import signal
import socket
import threading
from types import FrameType

from azuraforge_common.settings import Settings
from azuraforge_worker.catalog import publish_in_background
from azuraforge_worker.serving import serve_forever


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m azuraforge_worker.serve", description=__doc__)
    parser.add_argument("--threads", type=int, default=4, help="predictions answered at once (default 4)")
    parser.add_argument("--loglevel", default="INFO", help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    parser.add_argument(
        "--no-catalog", dest="catalog", action="store_false", help="do not publish the installed apps (`up` does)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=args.loglevel.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    settings = Settings()
    if args.catalog:
        publish_in_background(f"model-server@{socket.gethostname()}")
    logging.getLogger(__name__).info("model server started with %d threads", args.threads)
    serve_forever(settings, stop, max(1, args.threads))


if __name__ == "__main__":
    main()
