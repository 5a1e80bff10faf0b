"""intake's Flask app (API.md, intake)."""

from __future__ import annotations

import threading
import time

from flask import Flask

from services.intake import MIGRATIONS, SERVICE, people, services
from services.intake.api.deeds import bp
from services.intake.api.session import bp as session_bp
from services.intake.oidc import bp as oidc_bp
from services.intake.organisation_pages import bp as organisation_pages_bp
from services.intake.pages import bp as pages_bp
from services.intake.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from services.intake.repository import Work
from shared.celery_app import redis_client
from shared.config import Settings
from shared.endpoint import install_request_work
from shared.runtime import Runtime, make_flask
from shared.web.wiring import install_pages

# Forgotten Idempotency-Keys are swept at most this often by each web process (seconds).
PURGE_EVERY = 600.0

def build_runtime(settings: Settings | None = None) -> Runtime:
    runtime = Runtime.build(SERVICE, MIGRATIONS, settings)
    runtime.db.work_type = Work  # every unit of work of intake's carries its deeds
    return runtime


def make_rate_limiter(runtime: Runtime) -> RateLimiter:
    limit = runtime.settings.rate_limit_per_minute
    if runtime.settings.embedded:
        return MemoryRateLimiter(limit)
    return RedisRateLimiter(redis_client(runtime.settings, timeout=1.0), limit)


def _install_purge(app: Flask, runtime: Runtime) -> None:
    """Sweep expired Idempotency-Keys now and then, after a response, never in its way."""
    state = {"last": time.monotonic()}
    lock = threading.Lock()

    @app.teardown_request
    def _purge(_exc: BaseException | None) -> None:
        now = time.monotonic()
        if now - state["last"] < PURGE_EVERY or not lock.acquire(blocking=False):
            return
        try:
            state["last"] = now
            runtime.run(services.purge_idempotency_records)
        except Exception:  # housekeeping must never fail a request
            app.logger.debug("idempotency purge failed", exc_info=True)
        finally:
            lock.release()


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Flask:
    runtime = runtime or build_runtime(settings)
    app = make_flask(runtime, __name__)
    app.extensions["intake.rate_limiter"] = make_rate_limiter(runtime)
    app.register_blueprint(bp)
    app.register_blueprint(session_bp)
    app.register_blueprint(oidc_bp)
    app.register_blueprint(pages_bp)
    app.register_blueprint(organisation_pages_bp)
    install_pages(app)
    # intake owns the sessions: it reads its own table where the others trust the edge's word.
    # Its own unit of work, committed: a lookup renews the session's last use or ends an idle one.
    app.extensions["sovang.session_lookup"] = lambda session_id: runtime.run(people.lookup, session_id)
    _install_purge(app, runtime)
    # After the purge: teardowns run last-registered first, so the request's unit of work gives
    # its connection back before the purge takes one of its own.
    install_request_work(app)
    return app
