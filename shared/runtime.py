"""What one service process holds: its settings, its database, its organisation copy, and the
Flask and Celery apps built over them."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from celery import Celery
from celery.signals import worker_ready, worker_shutting_down
from flask import Flask, Response, g, request
from flask.json.provider import DefaultJSONProvider

from shared import clock, ids, logs, metrics
from shared.audit_api import blueprint as audit_blueprint
from shared.bodies import install_request_checks
from shared.celery_app import install_wakeup, make_celery, make_relay, redis_client
from shared.config import Settings
from shared.context import Context
from shared.db import Database, UnitOfWork, utcnow
from shared.health import install_health
from shared.ids import new_id
from shared.orgcopy import OrgCache
from shared.paths import IdConverter
from shared.problems import install_problem_handlers
from shared.ratelimit import install_render_limit

T = TypeVar("T")


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
        # A client of its own, closed at once: /readyz is asked seldom, and a client kept by
        # the runtime would outlive it, its socket closed by no one.
        with redis_client(self.settings, timeout=1.0, retries=0) as client:
            return client.ping()

    def context(self, work: UnitOfWork | None = None) -> Context:
        """What a use case run now by this process is given (``shared.context``); the organisation
        is looked for on ``work``'s connection when given, so that a request holds one."""
        organisations = self.orgs.require if work is None else lambda: self.orgs.require(work.reader)
        return Context(settings=self.settings, now=utcnow(), today=clock.today(), organisations=organisations)

    def run(self, use_case: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``use_case(uow, ctx, *args, **kwargs)`` in a unit of work of its own and commit it:
        the entrypoint of a command, a scheduled job or a test; a refusal rolls it back."""
        with self.db.unit_of_work() as uow:
            result = use_case(uow, self.context(uow), *args, **kwargs)
            uow.commit()
        return result


@contextlib.contextmanager
def sources(settings: Settings) -> Iterator[None]:
    """Within the block, every instant and record id comes from the settings' clock and id
    source (``Settings.clock``, ``Settings.ids``), the machine's where they name none."""
    with clock.using(settings.clock), ids.using(settings.ids):
        yield


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
    install_request_checks(app)
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
