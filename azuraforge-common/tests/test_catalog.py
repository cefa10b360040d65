"""The app catalog on a fresh database of each kind: one row per app, the newest publication wins."""

from datetime import timedelta

import pytest

from azuraforge_common import catalog
from azuraforge_common.database import create_db_engine, session_factory
from azuraforge_common.migrate import upgrade
from azuraforge_common.models import utcnow


@pytest.fixture
def session(empty_database_url):
    upgrade(empty_database_url)
    engine = create_db_engine(empty_database_url)
    with session_factory(engine)() as session:
        yield session
    engine.dispose()


def description(name, **extra):
    return {"name": name, "config_schema": {"type": "object"}, "defaults": {}, **extra}


def test_the_newest_publication_of_each_app_wins_and_a_broken_app_keeps_its_error(session):
    now = utcnow()
    catalog.publish(
        session,
        catalog.Publication("w1@a", {"alpha": description("alpha"), "beta": description("beta")}, {}, {"x": "1"}, now),
    )
    # An older publication (a worker that started earlier but wrote later) changes nothing it describes.
    catalog.publish(
        session,
        catalog.Publication("w0@b", {"alpha": description("alpha", old=True)}, {}, {}, now - timedelta(minutes=1)),
    )
    catalog.publish(
        session,
        catalog.Publication(
            "w2@c", {"gamma": description("gamma", dataset_kinds=["images"])}, {"beta": "ImportError: torch"}, {},
            now + timedelta(minutes=1),
        ),
    )  # fmt: skip
    session.expire_all()
    rows = {row.name: row for row in catalog.published_apps(session)}
    assert list(rows) == ["alpha", "beta", "gamma"]
    assert (rows["alpha"].published_by, rows["alpha"].payload, rows["alpha"].packages) == (
        "w1@a", description("alpha"), {"x": "1"},
    )  # fmt: skip
    assert (rows["beta"].published_by, rows["beta"].payload, rows["beta"].error) == ("w2@c", None, "ImportError: torch")
    assert rows["gamma"].payload == description("gamma", dataset_kinds=["images"]), "kept whole"
    assert rows["gamma"].published_at == now + timedelta(minutes=1)
    assert catalog.find_app(session, "delta") is None
