"""The distributed stack a benchmark run measures: a fresh PostgreSQL database, Redis database
13, and the project's own processes (gunicorn web processes per service, Celery workers, one
beat), plus the bare baselines beside them under the same settings.

Everything listens on loopback only; every process started here dies with the run (it is
spawned with PR_SET_PDEATHSIG by ``sovang.processes.spawn``) and is stopped by its pid.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import redis

from shared.config import SERVICES, Settings
from sovang import processes

PG_HOST = "127.0.0.1"
PG_ADMIN_DSN = f"postgresql://postgres@{PG_HOST}:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/13"  # the tests own database 15
WEB_WORKERS = 2  # gunicorn workers per web process, baselines included (the CLI's default)
WEB_THREADS = 4  # threads per gunicorn worker, baselines included (the CLI's default)
WORKER_CONCURRENCY = 2  # Celery prefork children per service (what `sovang up` distributed runs)
PORTS = {"intake": 18101, "council": 18102, "book": 18103, "bare": 18110}
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Database:
    """A PostgreSQL database made for one run and dropped after it."""

    name: str

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@{PG_HOST}:5432/{self.name}"

    @property
    def sqlalchemy_url(self) -> str:
        return f"postgresql+psycopg://postgres@{PG_HOST}:5432/{self.name}"

    @classmethod
    def create(cls) -> Database:
        name = f"sovang_bench_{secrets.token_hex(4)}"
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return cls(name)

    def drop(self) -> None:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.dsn, autocommit=True)

    def scalar(self, sql: str, *params: object) -> object:
        with self.connect() as conn:
            row = conn.execute(sql, params or None).fetchone()
            return row[0] if row else None


def flush_redis() -> None:
    redis.Redis.from_url(REDIS_URL).flushdb()


@dataclass
class Stack:
    """One run's database, settings, environment and processes."""

    db: Database
    home: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "SOVANG_DATABASE_URL": self.db.sqlalchemy_url,
            "SOVANG_BROKER_URL": REDIS_URL,
            "SOVANG_HOME": str(self.home),
            # The measured paths count against a token's rate limit (the Redis counter is still
            # taken on every request); the limit itself would cut a load test short.
            "SOVANG_RATE_LIMIT_PER_MINUTE": "1000000000",
            # Lets the run record deeds in any month since the programme began (R3 is a setting),
            # so that every sample can use a month of its own.
            "SOVANG_LATE_DAYS": "2000",
            "SOVANG_LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        })
        env.update(self.extra_env)
        return env

    @property
    def settings(self) -> Settings:
        return Settings.from_env(self.env)

    @property
    def logs(self) -> Path:
        path = self.home / "logs"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def sovang(self, *args: str) -> str:
        """Run one ``sovang`` command to completion; its stdout."""
        out = subprocess.run(processes.python_argv(*args), env=self.env, capture_output=True, text=True,
                             cwd=ROOT, timeout=300)
        if out.returncode != 0:
            raise RuntimeError(f"sovang {' '.join(args)} failed: {out.stderr[-2000:]}")
        return out.stdout

    def spawn(self, name: str, argv: list[str]) -> None:
        self.procs[name] = processes.spawn(argv, self.logs / f"{name}.log", self.env)

    def start_services(self) -> None:
        """Each service's web process under gunicorn and its Celery worker, and the one beat."""
        for svc in SERVICES:
            self.spawn(f"web-{svc}", processes.python_argv(
                "web", svc, "--bind", f"127.0.0.1:{PORTS[svc]}", "--workers", str(WEB_WORKERS),
                "--threads", str(WEB_THREADS)))
            self.start_worker(svc)
        self.spawn("beat", processes.python_argv("beat"))
        for svc in SERVICES:
            wait_http(PORTS[svc], "/healthz")
        wait_workers(len(SERVICES))

    def start_worker(self, svc: str) -> None:
        self.spawn(f"worker-{svc}", processes.python_argv("worker", svc, "--concurrency", str(WORKER_CONCURRENCY)))

    def start_bare(self) -> None:
        """The bare baselines: a Flask app under the same gunicorn settings."""
        self.spawn("web-bare", [sys.executable, "-m", "bench.bare", "--bind", f"127.0.0.1:{PORTS['bare']}",
                                "--workers", str(WEB_WORKERS), "--threads", str(WEB_THREADS),
                                "--dsn", self.db.dsn])
        wait_http(PORTS["bare"], "/hello")

    def start_noop_worker(self) -> None:
        self.spawn("worker-noop", [sys.executable, "-m", "celery", "-A", "bench.noop", "worker", "-Q", "bench_noop",
                                   "-n", f"noop-{os.getpid()}@%h", "-c", str(WORKER_CONCURRENCY), "-P", "prefork",
                                   "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING"])

    def stop(self, *names: str) -> None:
        chosen = [self.procs.pop(n) for n in (names or list(self.procs)) if n in self.procs]
        processes.stop(chosen, grace=15)

    def pids(self) -> dict[str, list[int]]:
        """Every process of the stack by role, children (gunicorn workers, prefork pool) included."""
        out: dict[str, list[int]] = {}
        for name, proc in self.procs.items():
            if proc.poll() is None:
                out[name] = [proc.pid, *children_of(proc.pid)]
        return out


def children_of(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    kids = [int(p) for p in text.split()]
    return [k for c in kids for k in (c, *children_of(c))]


def memory_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in KiB, (0, 0) when it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0, 0
    values = {}
    for line in status.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values.get("VmRSS", 0), values.get("VmHWM", 0)


def wait_http(port: int, path: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing answers on 127.0.0.1:{port}{path}")
        time.sleep(0.2)


def wait_workers(count: int, timeout: float = 90.0) -> None:
    """Wait until ``count`` Celery workers answer a ping (remote control stays on)."""
    from celery import Celery

    app = Celery("bench-ping", broker=REDIS_URL, set_as_current=False)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if len(app.control.ping(timeout=1.0) or []) >= count:
                time.sleep(1.0)  # the outbox relay thread starts on worker_ready, right after
                return
            time.sleep(0.3)
    finally:
        app.close()
    raise RuntimeError(f"fewer than {count} workers answer")


def queue_lengths(ignore: tuple[str, ...] = ()) -> dict[str, int]:
    """Messages waiting in each service's queue, and (``unacked``) those a worker holds: with late
    acks a message stays in kombu's ``unacked`` hash until its task has finished."""
    client = redis.Redis.from_url(REDIS_URL)
    out = {q: int(client.llen(q)) for q in SERVICES if q not in ignore}
    if not ignore:
        out["unacked"] = int(client.hlen("unacked"))
    return out


def unsent(db: Database, ignore: tuple[str, ...] = ()) -> int:
    with db.connect() as conn:
        return sum(
            conn.execute(f'SELECT count(*) FROM "{svc}".outbox WHERE sent_at IS NULL').fetchone()[0]
            for svc in SERVICES if svc not in ignore
        )


def wait_quiet(db: Database, timeout: float = 300.0, ignore: tuple[str, ...] = ()) -> float:
    """Wait until every outbox is sent and every queue is empty (all messages handled); the time
    it took. Called between measurements so that no backlog of one weighs on the next. A service
    in ``ignore`` (its worker stopped) is not waited for."""
    started = time.monotonic()
    calm = 0
    while time.monotonic() - started < timeout:
        if unsent(db, ignore) == 0 and not any(queue_lengths(ignore).values()):
            calm += 1
            if calm >= 3:  # three looks in a row: nothing between a commit and its relay either
                return time.monotonic() - started
        else:
            calm = 0
        time.sleep(0.2)
    return time.monotonic() - started


@contextlib.contextmanager
def fresh_stack(label: str, home_root: Path, extra_env: dict[str, str] | None = None) -> Iterator[Stack]:
    """A new database and Redis 13, migrated; dropped and flushed on the way out."""
    db = Database.create()
    flush_redis()
    stack = Stack(db, home_root / label, dict(extra_env or {}))
    stack.home.mkdir(parents=True, exist_ok=True)
    try:
        stack.sovang("migrate")
        yield stack
    finally:
        stack.stop()
        db.drop()
        flush_redis()
