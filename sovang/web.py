"""Web processes: one service under gunicorn (distributed), or all of them behind the
dispatcher under waitress (``sovang up``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared import heap
from shared.config import Settings


def _settle(worker: Any) -> None:
    """gunicorn's ``post_worker_init``: the worker has loaded its app (``shared.heap``)."""
    heap.settle()


def gunicorn_settings(bind: str, workers: int, threads: int, access_log: bool = True) -> dict[str, Any]:
    """What every web process runs with (the benchmark's baselines use the same).

    A request spends most of its time waiting on PostgreSQL and Redis, so each worker serves
    several at once on threads (gthread), which also keeps client connections alive.

    Each worker listens on a socket of its own (``SO_REUSEPORT``), and the kernel spreads new
    connections across them. On one shared socket the worker that woke first took the kept-alive
    connections a client opened at once, often all of them: half the workers served everything,
    at half the rate (a benchmark's runs fell into two groups, 2 900 and 7 000 requests/s).

    Once a worker has loaded its app, what it holds is set apart from the garbage collector
    (``shared.heap``)."""
    return {
        "bind": bind,
        "workers": workers,
        "worker_class": "gthread" if threads > 1 else "sync",
        "threads": threads,
        "reuse_port": True,
        "accesslog": "-" if access_log else None,
        "post_worker_init": _settle,
    }


def serve_app(load: Callable[[], Any], bind: str, workers: int, threads: int, access_log: bool = True) -> None:
    """Serve the WSGI app ``load()`` makes under gunicorn with the settings above."""
    from gunicorn.app.base import BaseApplication

    class _App(BaseApplication):
        def load_config(self) -> None:
            for key, value in gunicorn_settings(bind, workers, threads, access_log).items():
                self.cfg.set(key, value)
            # gunicorn's control socket has one path per user: several masters would take it
            # from each other.
            if "control_socket_disable" in self.cfg.settings:
                self.cfg.set("control_socket_disable", True)

        def load(self) -> Any:
            return load()

    _App().run()


def serve_gunicorn(service: str, settings: Settings, bind: str, workers: int, threads: int = 4) -> None:
    """One service's app; it also serves the merged OpenAPI document and the docs page, so that
    the edge (deploy/nginx.conf) may send them to any service."""
    from services import REGISTRY
    from sovang.edge import with_docs

    serve_app(lambda: with_docs(REGISTRY[service].create_app(settings)),
              bind, workers, threads, settings.web_access_log)
