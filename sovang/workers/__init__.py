"""``celery -A sovang.workers.<service>``: each service's Celery app built from the environment, so
that Celery's own tools attach to a running deployment (``celery -A sovang.workers.book inspect
active``, ``… inspect stats``, Flower). ``sovang worker SERVICE`` runs the same app."""
