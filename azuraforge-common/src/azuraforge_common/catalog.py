"""The app catalog: the processes that have the apps installed (workers at start, the model server, `azuraforge up`
before it starts the API) publish what each app says of itself; the API reads it, so it imports no app.

One row per app (table app_catalog); a publication replaces the row of every app it describes unless the row holds
a newer publication. An app that failed to load in the publishing process is stored with its error and no payload.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from azuraforge_common.models import PublishedApp, utcnow


@dataclass(frozen=True)
class Publication:
    """What one process has installed: each loadable app's description (a JSON object, kept as it is), the
    error of each app that failed to load, and the publisher's azuraforge package versions."""

    publisher: str
    apps: Mapping[str, dict[str, Any]]
    errors: Mapping[str, str]
    packages: Mapping[str, str]
    at: datetime = field(default_factory=utcnow)


def publish(session: Session, publication: Publication) -> None:
    """Stores the publication in one transaction. Two publishers inserting the same new app at once: the one that
    loses the race tries again and then finds the row."""
    try:
        _store(session, publication)
    except IntegrityError:
        session.rollback()
        _store(session, publication)


def _store(session: Session, publication: Publication) -> None:
    described: dict[str, tuple[dict[str, Any] | None, str | None]] = {
        **{name: (payload, None) for name, payload in publication.apps.items()},
        **{name: (None, error) for name, error in publication.errors.items()},
    }
    existing = {
        row.name: row
        for row in session.scalars(select(PublishedApp).where(PublishedApp.name.in_(described)).with_for_update())
    }
    for name, (payload, error) in described.items():
        row = existing.get(name)
        if row is None:
            row = PublishedApp(name=name)
            session.add(row)
        elif row.published_at > publication.at:
            continue  # a newer publication already wrote this app
        row.payload, row.error = payload, error
        row.packages = dict(publication.packages)
        row.published_by, row.published_at = publication.publisher, publication.at
    session.commit()


def published_apps(session: Session) -> list[PublishedApp]:
    """Every published app, by name (those that failed to load included, with their error)."""
    return list(session.scalars(select(PublishedApp).order_by(PublishedApp.name)))


def find_app(session: Session, name: str) -> PublishedApp | None:
    return session.get(PublishedApp, name)
