"""The worker's Celery app: `celery -A azuraforge_worker.celery_app worker --pool=solo`."""

from azuraforge_common.settings import Settings
from azuraforge_worker.config import create_celery

app = create_celery(Settings(), include=("azuraforge_worker.tasks",))
