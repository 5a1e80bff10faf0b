"""Web processes: one service under gunicorn (distributed), or all of them behind the
dispatcher under waitress (``sovang up``)."""

from __future__ import annotations

import importlib
from typing import Any

from shared.config import Settings


def serve_gunicorn(service: str, settings: Settings, bind: str, workers: int) -> None:
    from gunicorn.app.base import BaseApplication

    class _App(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", bind)
            self.cfg.set("workers", workers)
            self.cfg.set("accesslog", "-")
            # gunicorn's control socket has one path per user: several masters would take it
            # from each other.
            if "control_socket_disable" in self.cfg.settings:
                self.cfg.set("control_socket_disable", True)

        def load(self) -> Any:
            return importlib.import_module(f"services.{service}.app").create_app(settings)

    _App().run()
