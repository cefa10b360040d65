"""The worker's Celery app, which `python -m azuraforge_worker` runs (see command.py)."""

from azuraforge_common.settings import Settings
from azuraforge_worker.config import create_celery

app = create_celery(Settings(), include=("azuraforge_worker.tasks",))
