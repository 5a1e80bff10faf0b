"""R20 with real processes on PostgreSQL + Redis: two schedulers (``sovang beat``) and two council
workers (``sovang worker council``) with 50 rounds falling due close each exactly once; a
scheduler killed across 10 deadlines closes them all once it is back. No log line names a
member beside a choice (R19)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from services.council import runs
from services.council.orm import tallies
from shared.auth import Principal
from shared.clock import Month
from shared.config import Settings
from shared.db import utcnow
from shared.runtime import Runtime
from tests.council.conftest import make_runtime, outbox_messages
from tests.council.test_council_pg import count, open_round

pytestmark = [pytest.mark.distributed, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def pg_runtime(pg_settings: Settings, org_document: dict) -> Iterator[Runtime]:
    rt = make_runtime(pg_settings, org_document)
    rt.db.after_commit.clear()  # nothing to wake: the test's own messages stay in the outbox
    yield rt
    rt.db.dispose()


class Processes:
    def __init__(self, settings: Settings, tmp: Path) -> None:
        self.env = {**os.environ, "SOVANG_DATABASE_URL": settings.database_url or "",
                    "SOVANG_BROKER_URL": settings.broker_url or "", "SOVANG_SWEEP_SECONDS": "1"}
        self.tmp = tmp
        self.procs: list[subprocess.Popen] = []

    def start(self, name: str, *args: str) -> subprocess.Popen:
        home = self.tmp / name
        home.mkdir(parents=True, exist_ok=True)
        with open(home / "log.txt", "ab") as log:
            p = subprocess.Popen([sys.executable, "-m", "sovang.cli", *args], cwd=ROOT, stdout=log,
                                 stderr=subprocess.STDOUT, env={**self.env, "SOVANG_HOME": str(home)},
                                 start_new_session=True)
        self.procs.append(p)
        return p

    def logs(self) -> str:
        return "\n".join(p.read_text("utf-8", "replace") for p in self.tmp.glob("*/log.txt"))

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


@pytest.fixture
def processes(pg_settings: Settings, tmp_path: Path) -> Iterator[Processes]:
    ps = Processes(pg_settings, tmp_path)
    yield ps
    ps.stop()


def closed_rounds(runtime: Runtime) -> dict[str, dt.datetime]:
    with runtime.db.reading() as s:
        return {r.round_id: r.closed_at for r in s.execute(sa.select(tallies.c.round_id, tallies.c.closed_at))}


def wait_closed(runtime: Runtime, n: int, timeout: float) -> dict[str, dt.datetime]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = closed_rounds(runtime)
        if len(done) >= n:
            return done
        time.sleep(0.5)
    return closed_rounds(runtime)


def falling_due(runtime: Runtime, n: int, first: dt.datetime, spacing: float) -> list[tuple[str, dt.datetime]]:
    """n open rounds, one candidate each, every member voting for it, due one after another."""
    org = runtime.orgs.require()
    units = list(org.units.values())
    opened = []
    for i in range(n):
        unit = units[i % len(units)]
        month = str(Month(2025, 1 + i // len(units)))
        due = first + dt.timedelta(seconds=spacing * i)
        rnd = open_round(runtime, unit.code, unit.council, unit.secretary, month, closes_at=due)
        for member in org.councils[unit.council].members[:6]:
            runs.cast_ballot(runtime, Principal("council_member", member), rnd["id"],
                                 {rnd["candidates"][0]["id"]: "approve"})
        opened.append((rnd["id"], due))
    return opened


def test_two_schedulers_and_two_workers_close_fifty_rounds_once(pg_runtime, processes) -> None:
    opened = falling_due(pg_runtime, 50, utcnow() + dt.timedelta(seconds=25), spacing=0.1)
    for i in range(2):
        processes.start(f"worker{i}", "worker", "council", "--concurrency", "2")
        processes.start(f"beat{i}", "beat")
    done = wait_closed(pg_runtime, 50, timeout=120)
    assert len(done) == 50, f"{len(done)} of 50 rounds closed:\n{processes.logs()[-3000:]}"
    assert count(pg_runtime, tallies) == 50
    inscribe = outbox_messages(pg_runtime, "book.inscribe")
    sources = [m["payload"]["source"] for m in inscribe]
    assert len(sources) == len(set(sources)) == 50, "each round inscribes its one deed once"
    lateness = max((done[rid] - due).total_seconds() for rid, due in opened)
    print(f"\n50 rounds, 2 beats, 2 workers: 50 tallies, 0 twice; largest lateness {lateness:.1f} s")
    assert lateness < 15
    log = processes.logs()
    org = pg_runtime.orgs.require()
    members = {m for c in org.councils.values() for m in c.members}
    assert not [m for m in members if m in log], "a log line names a council member"


def test_a_killed_scheduler_catches_up_on_every_deadline(pg_runtime, processes) -> None:
    opened = falling_due(pg_runtime, 10, utcnow() + dt.timedelta(seconds=15), spacing=0.5)
    processes.start("worker", "worker", "council", "--concurrency", "2")
    beat = processes.start("beat", "beat")
    time.sleep(5)
    os.killpg(beat.pid, signal.SIGKILL)  # down before the first deadline, across all ten
    beat.wait()
    last_due = max(due for _, due in opened)
    time.sleep(max(0.0, (last_due - utcnow()).total_seconds()) + 2)
    assert closed_rounds(pg_runtime) == {}, "nothing closes while the scheduler is down"
    back = utcnow()
    processes.start("beat-again", "beat")
    done = wait_closed(pg_runtime, 10, timeout=60)
    assert len(done) == 10
    assert count(pg_runtime, tallies) == 10
    catch_up = max((done[rid] - back).total_seconds() for rid, _ in opened)
    print(f"\nscheduler down across 10 deadlines: all 10 closed {catch_up:.1f} s after it returned")
    assert catch_up < 15
