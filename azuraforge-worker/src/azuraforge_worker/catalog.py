"""`python -m azuraforge_worker.catalog [--publisher=NAME]`: publishes the apps installed here into the database's
app catalog (see azuraforge_common.catalog), which the API serves and checks configs against. Workers and the model
server publish when they start; `azuraforge up` runs this command before it starts the API."""

import argparse
import logging
import socket
import sys
import threading

from sqlalchemy.exc import SQLAlchemyError

from azuraforge_common.catalog import Publication, publish
from azuraforge_common.database import create_db_engine, session_factory
from azuraforge_common.settings import Settings
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


def publish_in_background(settings: Settings, publisher: str) -> threading.Thread:
    """What a starting worker or model server does: publish alongside its own start (describing the apps imports
    them all, which takes seconds), or log why not; its apps then reach the catalog through the next process that
    publishes (or `python -m azuraforge_worker.catalog`)."""

    def run() -> None:
        try:
            publication = publish_installed_apps(settings, publisher)
        except SQLAlchemyError as exc:
            log.warning("could not publish the installed apps to the app catalog (%s); the API serves the apps an "
                        "earlier publication stored", exc)  # fmt: skip
            return
        log.info("published %d apps to the app catalog as %s", len(publication.apps), publisher)

    # A daemon: a shutdown mid-publication leaves the catalog as it was (one transaction).
    thread = threading.Thread(target=run, name="catalog", daemon=True)
    thread.start()
    return thread


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m azuraforge_worker.catalog", description=__doc__)
    parser.add_argument("--publisher", default=f"catalog@{socket.gethostname()}", help="who publishes, for the record")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        publication = publish_installed_apps(Settings(), args.publisher)
    except SQLAlchemyError as exc:
        print(f"error: could not publish the app catalog: {exc}", file=sys.stderr)
        sys.exit(1)
    broken = f", {len(publication.errors)} that fail to load" if publication.errors else ""
    print(f"published {len(publication.apps)} apps to the app catalog{broken}", flush=True)


if __name__ == "__main__":
    main()
