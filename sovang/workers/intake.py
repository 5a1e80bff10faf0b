"""``celery -A sovang.workers.intake``: the intake service's Celery app (settings from the environment)."""

from services.intake.worker import create_worker
from shared.config import Settings

app = create_worker(Settings.from_env())
