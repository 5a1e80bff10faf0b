"""Rate limits (API.md: 429 with Retry-After), behind one interface: intake counts requests per
token; every service counts the expensive public renders (a press release, minutes, a book's
verification) per address.

In the distributed path every web process shares one count in Redis; the embedded default runs
every service in one process, where a count in memory is the same thing.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Protocol

import redis
from flask import Flask, current_app, request

from shared.config import Settings
from shared.problems import Problem

log = logging.getLogger(__name__)


class RateLimiter(Protocol):
    def hit(self, key: str) -> float | None:
        """Count one request; None when allowed, else the seconds to wait before the next one."""


class MemoryRateLimiter:
    """Fixed windows counted in this process."""

    def __init__(self, limit: int, window: float = 60.0, now: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self.now = now
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, int], int] = {}

    def hit(self, key: str) -> float | None:
        t = self.now()
        slot = int(t // self.window)
        with self._lock:
            if len(self._counts) > 10_000:
                self._counts = {k: v for k, v in self._counts.items() if k[1] >= slot}
            count = self._counts.get((key, slot), 0) + 1
            self._counts[(key, slot)] = count
        if count <= self.limit:
            return None
        return (slot + 1) * self.window - t


class RedisRateLimiter:
    """Fixed windows counted in Redis, shared by every web process of the deployment."""

    # INCR, and the key's life bounded at its first count: one command (EVALSHA) instead of a
    # pipeline of two, atomic, so no key is ever left without its expiry.
    _COUNT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""

    def __init__(self, client: redis.Redis, limit: int, window: int = 60, prefix: str = "sovang:rl:intake") -> None:
        self.client = client
        self.limit = limit
        self.window = window
        self.prefix = prefix
        # redis-py sends EVALSHA and loads the script again on NOSCRIPT (a Redis that restarted).
        self._count = client.register_script(self._COUNT)

    def hit(self, key: str) -> float | None:
        t = time.time()
        slot = int(t // self.window)
        name = f"{self.prefix}:{key}:{slot}"
        try:
            count = int(self._count(keys=[name], args=[self.window * 2]))
        except redis.RedisError as exc:  # the limiter must not take the service down with Redis
            log.warning("rate limiter unavailable (%s); request let through", exc)
            return None
        if count <= self.limit:
            return None
        return (slot + 1) * self.window - t


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


def make_limiter(settings: Settings, limit: int, prefix: str) -> RateLimiter:
    """The limiter of the deployment: in memory for the embedded default, in Redis otherwise."""
    if settings.embedded:
        return MemoryRateLimiter(limit)
    from shared.celery_app import redis_client

    return RedisRateLimiter(redis_client(settings, timeout=1.0), limit, prefix=prefix)


RENDERS = "sovang.render_limiter"


def install_render_limit(app: Flask, settings: Settings, service: str) -> None:
    """Count the renders of ``app`` per client address (``limit_render``)."""
    app.extensions[RENDERS] = make_limiter(settings, settings.render_rate_limit_per_minute,
                                           f"sovang:rl:render:{service}")


def limit_render() -> None:
    """Count one expensive render for the request's address: a 429 with Retry-After past the
    limit. Called only when something is rendered, never for what is served as kept."""
    limiter = current_app.extensions.get(RENDERS)
    if limiter is None:
        return
    address = request.remote_addr or "unknown"
    wait = limiter.hit(hashlib.sha256(address.encode()).hexdigest())
    if wait is not None:
        raise Problem(429, "Quá nhiều yêu cầu dựng ấn phẩm từ địa chỉ này; hãy thử lại sau.",
                      headers={"Retry-After": retry_after(wait)})
