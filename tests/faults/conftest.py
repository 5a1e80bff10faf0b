"""Fixtures of the fault tests: a Redis of their own behind the fault proxy, a fresh
PostgreSQL database, one ``sovang cluster`` shared by the tests of a module (2 workers per service),
and the table of outcomes printed at the end of the run."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from faults_harness import LEDGER, ORG_FILE, ROOT, Cluster, RedisServer, table

from sovang.faultproxy import FaultProxy

# What the cluster of the fault tests runs with: a sweep every second (R20 lateness), a short
# visibility timeout (a killed worker's messages come back in seconds, not 5 minutes), messages
# no consumer confirmed sent again after 10 s (not 60), parking after 4 deliveries, deeds of past
# months allowed (each test has periods of its own).
CLUSTER_ENV = {
    "SOVANG_SWEEP_SECONDS": "1",
    "SOVANG_LATE_DAYS": "4000",
    "SOVANG_MAX_DELIVERIES": "4",
    "SOVANG_BROKER_VISIBILITY_TIMEOUT": "6",
    "SOVANG_BROKER_CONFIRM_SECONDS": "10",
    "SOVANG_RATE_LIMIT_PER_MINUTE": "1000000",
    "SOVANG_RELAY_POLL_SECONDS": "0.5",
    "SOVANG_LOG_LEVEL": "INFO",
}


@pytest.fixture(scope="module")
def fault_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def broker_proxy(fault_redis: RedisServer) -> Iterator[FaultProxy]:
    proxy = FaultProxy(("127.0.0.1", fault_redis.port)).start()
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def fault_database(postgres_admin_url: str) -> Iterator[str]:
    name = f"sovang_faults_{secrets.token_hex(4)}"
    admin = sa.create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield sa.engine.make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, fault_database: str, broker_proxy: FaultProxy,
            fault_redis: RedisServer) -> Iterator[Cluster]:
    """``sovang cluster`` with 2 web workers and 2 Celery workers per service, its broker behind the
    fault proxy, the organisation loaded."""
    home = tmp_path_factory.mktemp("cluster")
    env = {**CLUSTER_ENV, "SOVANG_DATABASE_URL": fault_database,
           "SOVANG_BROKER_URL": f"redis://127.0.0.1:{broker_proxy.port}/0"}
    c = Cluster(home, env, ["--web", "2", "--workers", "2", "--concurrency", "2", "--gateway-workers", "1"])
    c.start()
    try:
        loaded = subprocess.run([sys.executable, "-m", "sovang.cli", "org", "load", str(ORG_FILE)], env=c.env,
                                cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert loaded.returncode == 0, loaded.stderr
        yield c
    finally:
        pids = [child["pid"] for child in (c.state() or {"children": []})["children"] if child["pid"]]
        t0 = time.monotonic()
        code = c.stop()
        print(f"\nsovang cluster started in {c.started_in:.1f}s, stopped with {code} in "
              f"{time.monotonic() - t0:.1f}s\n{c.tail(12)}")
    assert code == 0, f"Ctrl-C did not stop sovang cluster cleanly:\n{c.tail()}"
    left = [pid for pid in pids if _running(pid)]
    assert not left, f"children of sovang cluster outlived it: {left}"


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ANN001
    if not LEDGER:
        return
    terminalreporter.section("faults injected: every acknowledged deed, ballot and inscription exactly once")
    for line in table(LEDGER):
        terminalreporter.write_line(line)
