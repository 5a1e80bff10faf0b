"""Helpers of the tests of the book's kept publications (``artifact_cache``, ``stored_responses``):
waiting for an invalidation to cross Redis, and a cache that answers without a subscriber."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from book_helpers import UNIT
from flask.testing import FlaskClient

from services.book.publication import cache as artifact_cache
from shared.config import Settings
from shared.runtime import Runtime

FEED = f"/feeds/{UNIT}.atom"
DEADLINE = 10.0


def eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        assert time.monotonic() < deadline, f"not within {DEADLINE} s: {what}"
        time.sleep(0.05)


def headers_of(resp) -> dict[str, str]:  # noqa: ANN001
    return {k: v for k, v in resp.headers.items() if k != "Date"}


def subscribed(client: FlaskClient, web: Runtime) -> artifact_cache.ArtifactCache:
    """The web process's cache, once its subscriber listens (a first request starts it). Its
    entries never age out here, so that only an invalidation can make a change show."""
    assert client.get(FEED).status_code == 200
    cache = artifact_cache.install(web.db)
    cache.max_age = 3600.0
    eventually(cache.usable, "the subscription to publication changes")
    return cache


def entries_shown(client: FlaskClient) -> int:
    return int(client.get(FEED).headers["X-Chain-Entries"])


def usable_cache(**kwargs: Any) -> artifact_cache.ArtifactCache:
    """A cache that answers as if its subscriber had just heard from Redis (none runs)."""
    cache = artifact_cache.ArtifactCache(Settings(home=Path("/nonexistent")), **kwargs)
    cache._pid = os.getpid()
    cache._subscribed_now()
    return cache
