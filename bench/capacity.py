"""Per-process figures for the capacity model (docs/capacity.md).

Runs ``sovang cluster`` with ONE process of each kind (1 gunicorn worker per service, 1 Celery
worker per service with 1 pool process, 1 gateway worker, 1 beat) on a fresh PostgreSQL database
and a Redis of its own, drives it through the gateway, and reads how much CPU each process spent
per operation (``/proc/<pid>/stat``, the process and its children; PostgreSQL: the backends
connected to the run's database; Redis: its server). CPU per operation is what the capacity model
multiplies; throughputs and latencies are printed too, but they depend on what else the machine
runs at the time (the load average is written down with them).

Run: ``.venv/bin/python -m bench.capacity [--seconds 10] [--inscriptions 100]``; it writes
``bench/capacity_figures.json`` and prints a table. Needs PostgreSQL on 127.0.0.1:5432 (trust),
redis-server and wrk on PATH.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
ORG_FILE = ROOT / "shared" / "data" / "dak-nong.json"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
TICK = os.sysconf("SC_CLK_TCK")

POST_LUA = """
wrk.method = "POST"
wrk.body = os.getenv("CAP_BODY")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("CAP_TOKEN")
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- CPU of processes ------------------------------------------------------------------------------
def _stat(pid: int) -> tuple[int, float]:
    """(parent pid, CPU seconds of the process and its reaped children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ppid = int(fields[1])
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return ppid, (utime + stime + cutime + cstime) / TICK


def tree_cpu(root: int) -> float:
    """CPU seconds of a process and every live descendant (and the reaped ones, via cutime)."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parents[int(entry)], cpu[int(entry)] = _stat(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += cpu.get(pid, 0.0)
        todo += [child for child, parent in parents.items() if parent == pid]
    return total


class Meter:
    """CPU seconds per process kind between two readings."""

    def __init__(self, roots: dict[str, int], pg_pids: Any, redis_pid: int) -> None:
        self.roots = roots
        self.pg_pids = pg_pids  # () -> list of backend pids of the run's database
        self.redis_pid = redis_pid

    def read(self) -> dict[str, float]:
        now = {name: tree_cpu(pid) for name, pid in self.roots.items()}
        pg = 0.0
        for pid in self.pg_pids():
            try:
                pg += _stat(pid)[1]
            except OSError:
                pass
        now["postgres"] = pg
        now["redis"] = tree_cpu(self.redis_pid)
        return now

    @staticmethod
    def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        # PostgreSQL backends that ended in between take their CPU with them: a floor of 0.
        return {k: max(0.0, after.get(k, 0.0) - before.get(k, 0.0)) for k in after}


# -- the run ---------------------------------------------------------------------------------------
class Run:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.db = f"sovang_capacity_{secrets.token_hex(4)}"
        self.redis_port = free_port()
        self.port = free_port()
        self.redis: subprocess.Popen | None = None
        self.cluster: subprocess.Popen | None = None

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "SOVANG_HOME": str(self.home),
                "SOVANG_DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:5432/{self.db}",
                "SOVANG_BROKER_URL": f"redis://127.0.0.1:{self.redis_port}/0",
                "SOVANG_RATE_LIMIT_PER_MINUTE": "1000000000", "SOVANG_LATE_DAYS": "4000",
                "SOVANG_LOG_LEVEL": "WARNING", "SOVANG_SWEEP_SECONDS": "2"}

    def start(self) -> None:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.db}"')
        self.home.mkdir(parents=True, exist_ok=True)
        self.redis = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "yes", "--appendfsync", "everysec", "--dir", str(self.home),
             "--maxmemory-policy", "noeviction"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)
        self.cluster = subprocess.Popen(
            [sys.executable, "-m", "sovang.cli", "cluster", "--port", str(self.port), "--web", "1", "--workers", "1",
             "--concurrency", "1", "--gateway-workers", "1"],
            env=self.env, cwd=ROOT, stdout=open(self.home / "cluster.log", "wb"), stderr=subprocess.STDOUT,  # noqa: SIM115
            start_new_session=True)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if self.state().get("ready"):
                break
            if self.cluster.poll() is not None:
                raise RuntimeError((self.home / "cluster.log").read_text())
            time.sleep(0.5)
        else:
            raise RuntimeError("cluster not ready")
        subprocess.run([sys.executable, "-m", "sovang.cli", "org", "load", str(ORG_FILE)], env=self.env, cwd=ROOT,
                       check=True, capture_output=True)

    def stop(self) -> None:
        if self.cluster is not None:
            os.killpg(self.cluster.pid, signal.SIGINT)
            try:
                self.cluster.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.cluster.pid, signal.SIGKILL)
        if self.redis is not None:
            self.redis.kill()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')

    def state(self) -> dict[str, Any]:
        try:
            return json.loads((self.home / "cluster.json").read_text())
        except (OSError, ValueError):
            return {}

    def roots(self) -> dict[str, int]:
        return {c["name"].replace("-0", ""): c["pid"] for c in self.state()["children"]}

    def pg_pids(self) -> list[int]:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.db,)).fetchall()
        return [r[0] for r in rows]

    def sql(self, query: str, *params: Any) -> Any:
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{self.db}", autocommit=True) as conn:
            row = conn.execute(query, params or None).fetchone()
            return row[0] if row else None

    def token(self, role: str, subject: str) -> str:
        from shared.auth import new_token, store_token
        from shared.config import SERVICES, Settings
        from shared.db import Database

        token = new_token()
        settings = Settings.from_env(self.env)
        for name in SERVICES:
            db = Database(settings, name)
            with db.unit_of_work() as uow:
                store_token(uow, token, role, subject, 30)
                uow.commit()
            db.dispose()
        return token

    def http(self, method: str, path: str, token: str | None = None, body: Any = None) -> tuple[int, Any]:
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        conn.request(method, path, json.dumps(body, ensure_ascii=False).encode() if body is not None else None, headers)
        r = conn.getresponse()
        data = r.read()
        conn.close()
        return r.status, json.loads(data) if data else None


def wrk(url: str, seconds: int, connections: int = 4, script: str | None = None,
        env: dict[str, str] | None = None) -> dict[str, float]:
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script:
        args[1:1] = ["-s", script]
    out = subprocess.run(args, capture_output=True, text=True, env={**os.environ, **(env or {})}, check=True).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)

    def ms(label: str) -> float:
        m = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    return {"requests": requests, "rps": requests / seconds, "p50_ms": ms("50"), "p99_ms": ms("99"),
            "errors": int(non2xx.group(1)) if non2xx else 0}


def per_op(cpu: dict[str, float], n: int) -> dict[str, float]:
    return {k: round(1000 * v / n, 3) for k, v in cpu.items() if n}


def wait_for(fn: Any, timeout: float = 300) -> float:
    t0 = time.monotonic()
    while not fn():
        if time.monotonic() - t0 > timeout:
            raise RuntimeError("timed out")
        time.sleep(0.2)
    return time.monotonic() - t0


def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem = int(Path("/proc/meminfo").read_text().split()[1]) // 1024
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        pg = conn.execute("SHOW server_version").fetchone()[0]
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_mib": mem, "kernel": platform.release(),
            "python": platform.python_version(), "postgresql": pg,
            "redis": subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.split()[2],
            "load_average_at_start": os.getloadavg()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.capacity")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--inscriptions", type=int, default=100, help="candidates per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "bench" / "capacity_figures.json"))
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    figures: dict[str, Any] = {"when": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
                               "machine": machine()}
    run = Run(Path(tempfile.mkdtemp(prefix="sovang-capacity-")))
    t0 = time.monotonic()
    try:
        run.start()
        figures["cluster_ready_s"] = round(time.monotonic() - t0, 1)
        roots = run.roots()
        meter = Meter(roots, run.pg_pids, run.redis.pid if run.redis else 0)
        base = f"http://127.0.0.1:{run.port}"
        book_web = "http://" + run.state()["web"]["book"]

        # 1. The gateway's overhead: a small read, direct and through the gateway.
        direct = wrk(book_web + "/api/v1/books", args.seconds)
        before = meter.read()
        via = wrk(base + "/api/v1/books", args.seconds)
        cpu = Meter.delta(before, meter.read())
        figures["read_direct"] = direct
        figures["read_via_gateway"] = via
        figures["read_cpu_ms_per_request"] = per_op(cpu, via["requests"])

        # 2. Recording deeds through the gateway, and every message each causes, to the end.
        people = json.loads(ORG_FILE.read_text("utf-8"))
        unit = next(u for u in people["units"] if u["code"] == "CAH-DM")
        sub = unit["subunits"][0]
        officer = next(o["code"] for o in people["officers"] if o.get("subunit") == sub["code"]
                       and o["code"] not in {*unit["council"]["members"], sub["lead"], unit["secretary"]})
        lead = run.token("subunit_lead", sub["lead"])
        day = dt.date.today().replace(day=1) - dt.timedelta(days=20)
        body = {"author": {"officer": officer}, "occurred_on": day.isoformat(), "kind": "good_deed",
                "relation": "direct", "title": "Giúp cụ bà qua đường lúc tan chợ",
                "description": "Đỡ cụ bà mang gánh hàng qua quốc lộ 14 giữa giờ cao điểm, rồi đưa cụ về tận nhà "
                               "ở thôn Đức Lập; bà con trong chợ đã gửi thư cảm ơn đến Công an xã.",
                "place": "Chợ Đức Lập, huyện Đắk Mil"}
        lua = run.home / "post.lua"
        lua.write_text(POST_LUA)
        before = meter.read()
        post = wrk(base + "/api/v1/deeds", args.seconds, script=str(lua),
                   env={"CAP_BODY": json.dumps(body, ensure_ascii=False), "CAP_TOKEN": lead})
        posted_at = time.monotonic()
        deeds = int(run.sql("SELECT count(*) FROM intake.deeds"))
        drain = wait_for(lambda: int(run.sql("SELECT count(*) FROM council.tracked_deeds")) >= deeds)
        cpu = Meter.delta(before, meter.read())
        figures["post_deeds_via_gateway"] = {**post, "deeds": deeds,
                                             "council_had_all_s_after_load": round(time.monotonic() - posted_at, 2),
                                             "drain_s": round(drain, 2)}
        figures["post_deed_cpu_ms_per_deed"] = per_op(cpu, deeds)

        # 3. Monthly rounds of N candidates each, one after the other in one unit's book (so the
        #    book grows): introductions, 7 ballots, the close, N inscriptions and what they cause.
        n = args.inscriptions
        sec = run.token("unit_secretary", unit["secretary"])
        members = [run.token("council_member", m) for m in unit["council"]["members"]]
        figures["rounds"] = []
        for k in range(args.rounds):
            month_day = (day.replace(day=1) - dt.timedelta(days=1 + 31 * k)).replace(day=10)
            status, batch = run.http("POST", "/api/v1/deeds/batch", lead,
                                     {"deeds": [{**body, "occurred_on": month_day.isoformat(), "title": f"{body['title']} {i}"}
                                                for i in range(n)]})
            assert status == 201, batch
            before = meter.read()
            t = time.monotonic()
            for d in batch["items"]:
                status, _ = run.http("POST", f"/api/v1/deeds/{d['id']}/introduce", lead, {})
                assert status == 200, status
            introduce_s = time.monotonic() - t
            status, rnd = run.http("POST", "/api/v1/rounds", sec, {"council": unit["council"]["code"],
                                                                 "kind": "monthly", "period": month_day.strftime("%Y-%m")})
            assert status == 201, rnd
            wait_for(lambda rid=rnd["id"]: run.http("GET", f"/api/v1/rounds/{rid}", sec)[1]["status"] == "open", 120)
            rnd = run.http("GET", f"/api/v1/rounds/{rnd['id']}", sec)[1]
            for tok in members:
                status, _ = run.http("POST", f"/api/v1/rounds/{rnd['id']}/ballots", tok,
                                     {"choices": {c["id"]: "approve" for c in rnd["candidates"]}})
                assert status == 201
            t = time.monotonic()
            status, result = run.http("POST", f"/api/v1/rounds/{rnd['id']}/close", sec, {})
            close_s = time.monotonic() - t
            assert status == 200, result
            target = n * (k + 1)
            inscribe_s = wait_for(lambda target=target: int(run.sql(
                "SELECT count(*) FROM book.entries WHERE book = 'CAH-DM'")) >= target, 3600)
            known_s = wait_for(lambda target=target: int(run.sql(
                "SELECT count(*) FROM intake.deeds WHERE jsonb_array_length(book_entries::jsonb) > 0")) >= target, 600)
            cpu = Meter.delta(before, meter.read())
            figures["rounds"].append({
                "candidates": n, "book_entries_before": n * k, "introduce_requests_s": round(introduce_s, 2),
                "close_request_s": round(close_s, 2), "all_inscribed_s_after_close": round(inscribe_s, 2),
                "intake_knew_s_later": round(known_s, 2), "cpu_ms_per_candidate": per_op(cpu, n)})
        figures["load_average_at_end"] = os.getloadavg()
    finally:
        run.stop()
    Path(args.out).write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n", "utf-8")
    print(json.dumps(figures, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
