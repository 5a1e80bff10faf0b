"""Fixtures shared by every test: settings for the embedded default (SQLite in a temp folder)
and for the distributed path (a fresh PostgreSQL database and a Redis database).

The distributed fixtures skip when PostgreSQL or Redis do not answer, and say so at the end of
the run; with ``SOVANG_REQUIRE_SERVICES=1`` (as in CI) they fail instead.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import pytest
import sqlalchemy as sa

from shared.config import Settings

ROOT = Path(__file__).resolve().parent.parent
ORG_FILE = ROOT / "shared" / "data" / "dak-nong.json"
REQUIRE = os.environ.get("SOVANG_REQUIRE_SERVICES", "").lower() in {"1", "true", "yes"}
PG_ADMIN_URL = os.environ.get("SOVANG_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("SOVANG_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

_missing: dict[str, str] = {}


def _unavailable(what: str, why: str) -> None:
    message = f"{what} is not reachable ({why})"
    if REQUIRE:
        pytest.fail(f"{message}; SOVANG_REQUIRE_SERVICES=1 requires it", pytrace=False)
    _missing[what] = why
    pytest.skip(message)


@pytest.fixture(scope="session")
def org_document() -> dict:
    return json.loads(ORG_FILE.read_text("utf-8"))


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    """The embedded default: SQLite files under a fresh SOVANG_HOME."""
    return Settings(home=tmp_path / "home")


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    try:
        engine = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure means "not there"
        _unavailable("PostgreSQL", f"{PG_ADMIN_URL}: {type(exc).__name__}")
    return PG_ADMIN_URL


@pytest.fixture
def pg_database(postgres_admin_url: str):
    """A fresh PostgreSQL database, dropped afterwards."""
    name = f"sovang_test_{secrets.token_hex(4)}"
    admin = sa.create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.engine.make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def redis_url() -> str:
    """A Redis database emptied for the test."""
    import redis

    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        client.ping()
    except Exception as exc:  # noqa: BLE001
        _unavailable("Redis", f"{REDIS_URL}: {type(exc).__name__}")
    client.flushdb()
    yield REDIS_URL
    client.flushdb()


@pytest.fixture
def pg_settings(tmp_path: Path, pg_database: str, redis_url: str) -> Settings:
    """The distributed path: PostgreSQL (one schema per service) and Redis."""
    return Settings(home=tmp_path / "home", database_url=pg_database, broker_url=redis_url)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ANN001
    if _missing:
        terminalreporter.section("distributed-path tests skipped")
        for what, why in _missing.items():
            terminalreporter.write_line(f"{what} not reachable ({why}): its tests were skipped, not run.")
        terminalreporter.write_line("Set SOVANG_REQUIRE_SERVICES=1 to make this a failure (CI does).")
