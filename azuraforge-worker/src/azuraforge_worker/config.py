"""The worker's Celery app factory, on the settings azuraforge_common.worker shares with the API."""

from celery import Celery

from azuraforge_common.settings import Settings
from azuraforge_common.worker import celery_settings


def create_celery(settings: Settings, include: tuple[str, ...] = ()) -> Celery:
    app = Celery("azuraforge", include=list(include))
    app.conf.update(celery_settings(settings))
    return app
