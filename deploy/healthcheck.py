"""Container health checks of the distributed deployment (docker-compose.yml).

- ``python deploy/healthcheck.py web URL``: the process answers ``GET URL`` with 200 (``/readyz``:
  its database and the broker are reachable).
- ``python deploy/healthcheck.py worker SERVICE``: the Celery worker of this container (named
  ``SERVICE-<pid>@<hostname>`` by ``sovang worker``) answers a ping through the broker.
"""

from __future__ import annotations

import socket
import sys
import urllib.request


def web(url: str) -> int:
    with urllib.request.urlopen(url, timeout=5) as f:  # noqa: S310 - a local URL of our own
        return 0 if f.status == 200 else 1


def worker(service: str) -> int:
    from shared.celery_app import make_celery
    from shared.config import Settings

    app = make_celery(service, Settings.from_env())
    try:
        replies = app.control.ping(timeout=3.0) or []
    finally:
        app.close()
    host = socket.gethostname()
    mine = [node for reply in replies for node in reply
            if node.startswith(f"{service}-") and node.endswith(f"@{host}")]
    return 0 if mine else 1


if __name__ == "__main__":
    what, arg = sys.argv[1], sys.argv[2]
    sys.exit(web(arg) if what == "web" else worker(arg))
