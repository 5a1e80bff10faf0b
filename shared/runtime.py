"""What one service process holds: its settings, its database, its organisation copy, and the
Flask and Celery apps built over them."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from celery import Celery
from celery.signals import worker_ready, worker_shutting_down
from flask import Flask
from flask.json.provider import DefaultJSONProvider

from shared.auth import OrgCache
from shared.celery_app import install_wakeup, make_celery, make_relay, redis_client
from shared.config import Settings
from shared.db import Database, UnitOfWork
from shared.http import install_health, install_problem_handlers
from shared.messages import Message, MessageError
from shared.outbox import consume

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    service: str
    settings: Settings
    db: Database
    orgs: OrgCache
    migrations: Path
    _celery: Celery | None = field(default=None, repr=False)

    @classmethod
    def build(cls, service: str, migrations: Path, settings: Settings | None = None) -> Runtime:
        settings = settings or Settings.from_env()
        db = Database(settings, service)
        return cls(service, settings, db, OrgCache(db), migrations)

    def migrate(self) -> None:
        self.db.migrate(self.migrations)

    @property
    def celery(self) -> Celery:
        if self._celery is None:
            self._celery = make_celery(self.service, self.settings)
        return self._celery

    def broker_ping(self) -> Any:
        return redis_client(self.settings, timeout=1.0).ping()


class _Utf8JSON(DefaultJSONProvider):
    ensure_ascii = False
    sort_keys = False


def make_flask(runtime: Runtime, import_name: str) -> Flask:
    """A service's Flask app with the conventions of API.md installed."""
    app = Flask(import_name)
    app.json = _Utf8JSON(app)
    app.config["MAX_CONTENT_LENGTH"] = runtime.settings.max_body_bytes
    app.extensions["sovang"] = runtime
    install_problem_handlers(app)
    install_health(app, runtime.db, runtime.broker_ping)
    install_wakeup(runtime.db, runtime.settings)
    return app


def make_worker(runtime: Runtime) -> Celery:
    """A service's Celery app; its worker also runs the relay of the service's outbox."""
    app = runtime.celery
    relay = make_relay(app, runtime.db, runtime.settings)
    install_wakeup(runtime.db, runtime.settings)

    @worker_ready.connect(weak=False)
    def _start_relay(sender: Any = None, **_: Any) -> None:
        if sender is not None and getattr(sender, "app", app) is not app:
            return
        relay.start_thread(runtime.settings.relay_poll_seconds)

    @worker_shutting_down.connect(weak=False)
    def _stop_relay(**_: Any) -> None:
        relay.stop()

    app.conf.sovang_relay = relay
    return app


def consumer(
    app: Celery, runtime: Runtime, message_type: type[Message]
) -> Callable[[Callable[[UnitOfWork, Any], None]], Callable]:
    """Register ``handle(uow, message)`` as the task named after the message type.

    The task is thin: it validates the envelope, applies the handler once (inbox) and lets
    errors propagate so that Celery retries; late acks make a crash redeliver.
    """

    def deco(handle: Callable[[UnitOfWork, Any], None]) -> Callable:
        @app.task(name=message_type.TYPE, bind=True, acks_late=True, max_retries=None)
        def task(self: Any, env: dict[str, Any]) -> None:
            try:
                consume(runtime.db, env, handle)
            except MessageError:
                # A message that can never be valid is dropped loudly, not retried forever.
                log.error("%s: invalid message dropped: %r", message_type.TYPE, env)
            except Exception as exc:
                log.warning("%s failed (%s); retrying", message_type.TYPE, exc)
                raise self.retry(exc=exc, countdown=min(2 ** self.request.retries, 30)) from exc

        return handle

    return deco


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)
