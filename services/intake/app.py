"""intake's Flask app (API.md, intake)."""

from __future__ import annotations

import threading
import time

from flask import Flask, Response
from werkzeug.exceptions import HTTPException

from services.intake import MIGRATIONS, SERVICE, services
from services.intake.api.deeds import bp
from services.intake.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from shared.celery_app import redis_client
from shared.config import Settings
from shared.http import Problem
from shared.runtime import Runtime, make_flask

# Requests per minute per token, unless the settings carry ``rate_limit_per_minute``.
DEFAULT_RATE_LIMIT = 1200
# Forgotten Idempotency-Keys are swept at most this often by each web process (seconds).
PURGE_EVERY = 600.0

# werkzeug's own refusals, told in Vietnamese like every other problem (API.md, Common).
_DETAILS = {
    404: "Không có đường dẫn này.",
    405: "Phương thức không được hỗ trợ cho đường dẫn này.",
    413: "Nội dung quá lớn: một thân JSON tối đa 1 MiB, một tệp bằng chứng tối đa 20 MiB.",
}


def build_runtime(settings: Settings | None = None) -> Runtime:
    return Runtime.build(SERVICE, MIGRATIONS, settings)


def make_rate_limiter(runtime: Runtime) -> RateLimiter:
    limit = int(getattr(runtime.settings, "rate_limit_per_minute", DEFAULT_RATE_LIMIT))
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
            services.purge_idempotency_records(runtime)
        except Exception:  # housekeeping must never fail a request
            app.logger.debug("idempotency purge failed", exc_info=True)
        finally:
            lock.release()


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Flask:
    runtime = runtime or build_runtime(settings)
    app = make_flask(runtime, __name__)
    app.extensions["intake.rate_limiter"] = make_rate_limiter(runtime)
    app.register_blueprint(bp)
    _install_purge(app, runtime)

    for status, detail in _DETAILS.items():
        def _refusal(exc: HTTPException, detail: str = detail) -> Response:
            keep = {k: v for k, v in exc.get_headers() if k in ("Allow", "Retry-After")}
            return Problem(exc.code or 400, detail, headers=keep).response()

        app.register_error_handler(status, _refusal)
    return app
