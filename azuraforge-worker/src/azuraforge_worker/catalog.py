"""`python -m azuraforge_worker.catalog [--publisher=NAME]`: publishes the apps installed here into the database's
app catalog (see azuraforge_common.catalog), which the API serves and checks configs against. Workers and the model
server publish when they start; `azuraforge up` runs this command before it starts the API."""

import argparse
import logging
import socket
import subprocess
import sys
import threading

from sqlalchemy.exc import SQLAlchemyError

from azuraforge_common.catalog import Publication, publish
from azuraforge_common.database import create_db_engine, session_factory
from azuraforge_common.settings import Settings
from azuraforge_common.worker import catalog_command
from azuraforge_learner.plugins import describe_installed
from azuraforge_learner.record import environment

log = logging.getLogger(__name__)


def installed_apps(publisher: str) -> Publication:
    """Every app installed here, described (which imports each of them)."""
    apps, errors = describe_installed()
    for error in errors:
        log.warning("app %s is installed but cannot be loaded: %s", error.name, error.error)
    _, _, packages, _, _ = environment(__name__)
    return Publication(publisher, apps, {error.name: error.error for error in errors}, packages)


def store(settings: Settings, publication: Publication) -> None:
    """Writes the publication to the catalog; database errors propagate."""
    engine = create_db_engine(settings.resolved_database_url, settings.database_timeout_s)
    try:
        with session_factory(engine)() as session:
            publish(session, publication)
    finally:
        engine.dispose()


def publish_installed_apps(settings: Settings, publisher: str) -> Publication:
    publication = installed_apps(publisher)
    store(settings, publication)
    return publication


def publish_in_background(publisher: str) -> subprocess.Popen[bytes]:
    """What a starting worker or model server does: publish from a child process (this command) while it starts.
    Describing the apps imports them all, seconds of CPU that a thread would take from training through the GIL;
    a child's failure is printed to the same log, and the catalog keeps the earlier publication."""
    process = subprocess.Popen(catalog_command(publisher), stdin=subprocess.DEVNULL)
    threading.Thread(target=process.wait, name="catalog", daemon=True).start()  # reaps it
    return process


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m azuraforge_worker.catalog", description=__doc__)
    parser.add_argument("--publisher", default=f"catalog@{socket.gethostname()}", help="who publishes, for the record")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        publication = publish_installed_apps(Settings(), args.publisher)
    except SQLAlchemyError as exc:
        print(f"error: could not publish the app catalog ({exc}); the API serves what was published earlier",
              file=sys.stderr)  # fmt: skip
        sys.exit(1)
    broken = f", {len(publication.errors)} that fail to load" if publication.errors else ""
    print(f"published {len(publication.apps)} apps to the app catalog{broken}", flush=True)


if __name__ == "__main__":
    main()
