"""Fixtures of the book service's tests: a migrated book database with the organisation loaded,
its Flask client, real bearer tokens, and Inscribe commands delivered through the inbox (with the
pages they change)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from book_helpers import UNIT, deliver, inscribe_command, make_runtime, republish
from flask.testing import FlaskClient

from services.book.app import build_runtime, create_app
from shared.auth import new_token, store_token
from shared.config import Settings
from shared.messages import Inscribe
from shared.runtime import Runtime


@pytest.fixture
def runtime(sqlite_settings: Settings, org_document: dict) -> Iterator[Runtime]:
    rt = make_runtime(sqlite_settings, org_document)
    yield rt
    rt.db.dispose()


@pytest.fixture
def web(pg_settings: Settings, org_document: dict) -> Iterator[Runtime]:
    """A web process's runtime on PostgreSQL and the broker, the organisation loaded."""
    rt = make_runtime(pg_settings, org_document)
    yield rt
    rt.db.dispose()


@pytest.fixture
def worker(pg_settings: Settings) -> Iterator[Runtime]:
    """Another process's runtime on the same database and broker (its own engine and cache)."""
    rt = build_runtime(pg_settings)
    yield rt
    rt.db.dispose()


@pytest.fixture
def client(runtime: Runtime) -> FlaskClient:
    return create_app(runtime=runtime).test_client()


@pytest.fixture
def token(runtime: Runtime) -> Callable[[str, str], str]:
    """A real bearer token stored (hashed) in the book's database: ``token(role, subject)``."""

    def issue(role: str, subject: str) -> str:
        value = new_token()
        with runtime.db.unit_of_work() as uow:
            store_token(uow, value, role, subject, ttl_days=1)
            uow.commit()
        return value

    return issue


@pytest.fixture
def inscribe(runtime: Runtime) -> Callable[..., Inscribe]:
    """Inscribe one deed: ``inscribe(book, deed=…, period=…)`` → the command delivered, then the
    ``RepublishPages`` it emitted, as the worker handles it one hop later."""

    def run(book: str = UNIT, **kwargs: Any) -> Inscribe:
        msg = inscribe_command(book, **kwargs)
        deliver(runtime, msg)
        republish(runtime)
        return msg

    return run
