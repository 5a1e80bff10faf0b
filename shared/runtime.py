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
from flask import Flask, Response, g, request
from flask.json.provider import DefaultJSONProvider

from shared import logs, metrics
from shared.audit import blueprint as audit_blueprint
from shared.auth import OrgCache
from shared.celery_app import BrokerOptions, install_wakeup, make_celery, make_relay, redis_client
from shared.config import Settings
from shared.db import Database, UnitOfWork
from shared.http import IdConverter, install_health, install_problem_handlers
from shared.ids import new_id
from shared.messages import Message, MessageError
from shared.outbox import already_processed, confirm_key, consume, covered_ids
from shared.ratelimit import install_render_limit
from shared.signing import SignatureError, message_keys, verify

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
        return redis_client(self.settings, timeout=1.0, retries=0).ping()


class _Utf8JSON(DefaultJSONProvider):
    ensure_ascii = False
    sort_keys = False


def make_flask(runtime: Runtime, import_name: str) -> Flask:
    """A service's Flask app with the conventions of API.md installed."""
    # No static route of its own: the pages share shared/web/static, served at /static/ by intake.
    app = Flask(import_name, static_folder=None)
    app.url_map.converters["id"] = IdConverter
    app.json = _Utf8JSON(app)
    app.config["MAX_CONTENT_LENGTH"] = runtime.settings.max_body_bytes
    app.extensions["sovang"] = runtime
    if runtime.settings.trusted_proxies:
        # Behind the gateway: the client's address (sign-in limits, R24) and whether it came over
        # TLS (the session cookie's Secure flag) are what the trusted proxies say.
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = runtime.settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)  # type: ignore[method-assign]
    install_problem_handlers(app)
    install_health(app, runtime.db, runtime.broker_ping)
    install_render_limit(app, runtime.settings, runtime.service)
    install_wakeup(runtime.db, runtime.settings)
    install_observability(app, runtime)
    # R23: each service serves its own audit record.
    app.register_blueprint(audit_blueprint(runtime.service))
    return app


def install_observability(app: Flask, runtime: Runtime) -> None:
    """Request ids (``shared.logs``), latency by route and ``/metrics`` (``shared.metrics``)."""
    service = runtime.service
    state = metrics.StateCollector(runtime.db, lambda: redis_client(runtime.settings, timeout=1.0, retries=0))

    @app.before_request
    def _start() -> None:
        given = request.headers.get("X-Request-Id", "")
        g.sovang_request_id = given[:64] if given and given.isprintable() else new_id()
        g.sovang_request_ctx = logs.REQUEST_ID.set(g.sovang_request_id)
        g.sovang_started = metrics.timer()

    @app.after_request
    def _finish(response: Response) -> Response:
        started = g.pop("sovang_started", None)
        if started is not None:
            rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
            metrics.observe_request(service, request.method, rule, response.status_code, metrics.timer() - started)
        if "sovang_request_id" in g:
            response.headers.setdefault("X-Request-Id", g.sovang_request_id)
        return response

    @app.teardown_request
    def _forget(exc: BaseException | None = None) -> None:
        token = g.pop("sovang_request_ctx", None)
        if token is not None:
            logs.REQUEST_ID.reset(token)

    @app.get("/metrics")
    def _metrics() -> Response:
        return Response(metrics.render(state), mimetype=None, content_type=metrics.CONTENT_TYPE)


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

    deliveries = DeliveryCounter(runtime)
    keys = message_keys(runtime.settings)

    def deco(handle: Callable[[UnitOfWork, Any], None]) -> Callable:
        @app.task(name=message_type.TYPE, bind=True, acks_late=True, max_retries=None, shared=False)
        def task(self: Any, env: dict[str, Any]) -> None:
            try:
                # Before anything else: a forged message (anyone who can push onto the broker)
                # takes no effect, is never confirmed (its id may be a real message's) and is
                # parked for an operator to see (shared.signing).
                verify(env, keys)
                if env.get("type") != message_type.TYPE:
                    raise SignatureError(f"thư loại {env.get('type')!r} gửi tới {message_type.TYPE}")
            except SignatureError as exc:
                park(runtime, env, str(exc), 1, forged=True)
                metrics.count_message(runtime.service, message_type.TYPE, "rejected")
                return
            with logs.context(env.get("request_id"), env.get("id")):
                handle_verified(self, env)

        def handle_verified(self: Any, env: dict[str, Any]) -> None:
            outcome = "applied"
            count = deliveries.count(env)
            if count > runtime.settings.max_deliveries:
                if not already_processed(runtime.db, env):
                    # Delivered too often (failing, or crashing its worker): park it, stop the loop.
                    park(runtime, env, f"delivered {count} times", count)
                    metrics.count_message(runtime.service, message_type.TYPE, "parked")
                # else one more copy of a message that took effect (redeliveries, replays)
                deliveries.confirm(env)
                return
            try:
                if not consume(runtime.db, env, handle):
                    outcome = "duplicate"  # absorbed by the inbox
            except MessageError as exc:
                # A message that can never be valid is parked at once, not retried forever.
                park(runtime, env, str(exc), count)
                outcome = "parked"
            except Exception as exc:
                if count < runtime.settings.max_deliveries:
                    log.warning("%s failed (%s); retrying", message_type.TYPE, exc)
                    metrics.count_message(runtime.service, message_type.TYPE, "retried")
                    raise self.retry(exc=exc, countdown=min(2 ** self.request.retries, 30)) from exc
                park(runtime, env, repr(exc), count)
                outcome = "parked"
            metrics.count_message(runtime.service, message_type.TYPE, outcome)
            log.info("%s %s: %s (delivery %d)", message_type.TYPE, env.get("id"), outcome, count)
            # Handled (or parked): the relay that sent it need not send it again (shared.outbox).
            deliveries.confirm(env)

        return handle

    return deco


COUNT_SECONDS = 24 * 3600


class DeliveryCounter:
    """How many times each message reached this service, kept in Redis for a day (a failing
    message is redelivered within minutes: retries wait at most 30 s, a dead worker's messages
    come back after the visibility timeout; a day keeps the keys to one day's messages, see
    docs/capacity.md); a crash that kills the worker still counts, since the count is taken
    before the work."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._client: Any = None
        # A confirmation is kept as long as its message may be replayed, and an hour more.
        self._confirm_ttl = int(BrokerOptions.of(runtime.settings).replay_hours * 3600) + 3600

    def _redis(self) -> Any:
        if self._client is None:
            self._client = redis_client(self.runtime.settings, timeout=2.0, retries=0)
        return self._client

    def confirm(self, env: Any) -> None:
        """Tell the sender's relay this message was handled here (kept as long as it may replay)."""
        ids = covered_ids(env)
        if not ids:
            return
        try:
            pipe = self._redis().pipeline(transaction=False)
            for message_id in ids:
                pipe.set(confirm_key(message_id), 1, ex=self._confirm_ttl)
            pipe.execute()
        except Exception:  # unconfirmed only means sent once more, and absorbed by the inbox
            log.debug("confirming %s failed", message_id, exc_info=True)

    def count(self, env: Any) -> int:
        message_id = env.get("id") if isinstance(env, dict) else None
        if not isinstance(message_id, str):
            return 1
        try:
            key = f"sovang:deliveries:{self.runtime.service}:{message_id}"
            pipe = self._redis().pipeline()
            pipe.incr(key)
            pipe.expire(key, COUNT_SECONDS)
            return int(pipe.execute()[0])
        except Exception:  # counting is a safeguard; the broker being away must not stop work
            return 1


def park(runtime: Runtime, env: Any, error: str, deliveries: int, forged: bool = False) -> None:
    """Keep a message that will not succeed for an operator to look at. A forged one is kept
    under an id of its own: the id it claims may be a real message's, which must stay free."""
    import sqlalchemy as sa

    from shared.db import utcnow
    from shared.ids import new_id
    from shared.tables import parked_messages

    message_id = str(env.get("id")) if isinstance(env, dict) and env.get("id") else f"invalid-{id(env)}"
    if forged:
        message_id = new_id()
    log.error("%s: message %s parked after %d deliveries: %s", runtime.service, message_id, deliveries, error)
    with runtime.db.unit_of_work() as uow:
        exists = uow.session.execute(
            sa.select(parked_messages.c.message_id).where(parked_messages.c.message_id == message_id)
        ).first()
        if not exists:
            uow.session.execute(parked_messages.insert().values(
                message_id=message_id[:36], type=str(env.get("type", "?"))[:80] if isinstance(env, dict) else "?",
                envelope=env if isinstance(env, dict) else {"raw": repr(env)}, error=error[:4000],
                deliveries=deliveries, parked_at=utcnow(),
            ))
            uow.commit()


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)
