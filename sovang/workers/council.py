"""``celery -A sovang.workers.council``: the council service's Celery app (settings from the environment)."""

from services.council.worker import create_worker
from shared.config import Settings

app = create_worker(Settings.from_env())
