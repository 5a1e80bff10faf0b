"""``celery -A sovang.workers.book``: the book service's Celery app (settings from the environment)."""

from services.book.worker import create_worker
from shared.config import Settings

app = create_worker(Settings.from_env())
