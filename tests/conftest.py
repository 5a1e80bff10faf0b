"""Fixtures shared by every test: settings for the embedded default (SQLite in a temp folder)
and for the distributed path (a fresh PostgreSQL database and a Redis database).

The distributed fixtures skip when PostgreSQL or Redis do not answer, and say so at the end of
the run; with ``SOVANG_REQUIRE_SERVICES=1`` (as in CI) they fail instead.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import sqlalchemy as sa

from shared.config import Settings

ROOT = Path(__file__).resolve().parent.parent
ORG_FILE = ROOT / "shared" / "data" / "dak-nong.json"
REQUIRE = os.environ.get("SOVANG_REQUIRE_SERVICES", "").lower() in {"1", "true", "yes"}
PG_ADMIN_URL = os.environ.get("SOVANG_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("SOVANG_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
# Test runs on one machine must not flush each other's queues: each run takes the first Redis
# database of these whose lock file it can hold (the lock goes with the process). The benchmark
# uses database 13, so it is not among them.
REDIS_DATABASES = (15, 14, 12, 11, 10, 9, 8, 7)

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
    engine = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure means "not there"
        _unavailable("PostgreSQL", f"{PG_ADMIN_URL}: {type(exc).__name__}")
    finally:
        engine.dispose()
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


def _own_redis_database(url: str):
    """The URL with a database no other test run on this machine holds, and the held lock."""
    parsed = urlsplit(url)
    if "SOVANG_TEST_REDIS_URL" in os.environ:
        return url, None  # the caller chose; trust it
    for number in REDIS_DATABASES:
        lock = open(Path(tempfile.gettempdir()) / f"sovang-test-redis-{parsed.port}-{number}.lock", "w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            continue
        return urlunsplit(parsed._replace(path=f"/{number}")), lock
    return url, None  # every one is taken: share the default


@pytest.fixture(scope="session")
def _redis_database():
    url, lock = _own_redis_database(REDIS_URL)
    yield url
    if lock is not None:
        lock.close()


@pytest.fixture
def redis_url(_redis_database: str) -> str:
    """A Redis database emptied for the test (one of its own for this test run)."""
    import redis

    with redis.Redis.from_url(_redis_database, socket_connect_timeout=2) as client:
        try:
            client.ping()
        except Exception as exc:  # noqa: BLE001
            _unavailable("Redis", f"{_redis_database}: {type(exc).__name__}")
        client.flushdb()
        yield _redis_database
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
