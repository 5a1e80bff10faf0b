"""Throughput beside its ceiling, measured in alternation (baseline, path, baseline, path …) so
that the machine's noise falls on both: POST /deeds against the bare insert, the batch against
COPY, the Atom feed against a bare hello-world; and the no-op Celery round trip."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench import cpu, noop
from bench.load import WrkResult, wrk
from bench.stack import PORTS, Database
from shared import clock

CONNECTIONS = 8  # one per gunicorn thread (2 workers × 4 threads): none idles, no queue forms


def deed_body(author: dict[str, str], day: dt.date, n: int = 0) -> dict[str, Any]:
    """A deed as a unit sends it (API.md: Deed in), about 400 bytes of JSON."""
    return {
        "author": author,
        "occurred_on": day.isoformat(),
        "kind": "good_deed",
        "relation": "direct",
        "title": f"Giúp cụ bà qua đường lúc tan chợ ({n})",
        "description": "Đỡ cụ bà mang gánh hàng qua quốc lộ 14 giữa giờ cao điểm, rồi đưa cụ về tận nhà "
                       "ở thôn Đức Lập; bà con trong chợ đã gửi thư cảm ơn đến Công an xã.",
        "place": "Chợ Đức Lập, huyện Đắk Mil",
    }


@dataclass(frozen=True)
class Pair:
    """Medians of a path and of its baseline over the same rounds; with CPU samples, the CPU ms
    per (HTTP) request of each process group in each run (``bench.cpu``)."""

    path: list[WrkResult]
    base: list[WrkResult]
    path_cpu: list[dict[str, float]] = field(default_factory=list)
    base_cpu: list[dict[str, float]] = field(default_factory=list)
    idle_waits: list[float] = field(default_factory=list)  # s waited for a quiet machine before each run

    @staticmethod
    def _median(results: list[WrkResult], attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in results)

    @staticmethod
    def _cpu_medians(runs: list[dict[str, float]]) -> dict[str, float]:
        groups = sorted({g for run in runs for g in run})
        return {g: round(statistics.median(run.get(g, 0.0) for run in runs), 3) for g in groups}

    def summary(self, per_request: int = 1) -> dict[str, Any]:
        cpu_ms = {"cpu_ms": self._cpu_medians(self.path_cpu), "base_cpu_ms": self._cpu_medians(self.base_cpu)} \
            if self.path_cpu and self.base_cpu else {}
        return {
            "rps": self._median(self.path, "rps") * per_request,
            "p50_ms": self._median(self.path, "p50_ms"),
            "p99_ms": self._median(self.path, "p99_ms"),
            "base_rps": self._median(self.base, "rps") * per_request,
            "base_p50_ms": self._median(self.base, "p50_ms"),
            "base_p99_ms": self._median(self.base, "p99_ms"),
            "errors": sum(r.errors for r in self.path),
            "base_errors": sum(r.errors for r in self.base),
            "runs": [round(r.rps * per_request, 1) for r in self.path],
            "base_runs": [round(r.rps * per_request, 1) for r in self.base],
            "idle_waits_s": [round(w, 1) for w in self.idle_waits],
            **cpu_ms,
        }


def alternate(path: dict[str, Any], base: dict[str, Any], rounds: int, seconds: float, warmup: float,
              sampler: Callable[[], cpu.Snapshot] | None = None) -> Pair:
    """``rounds`` runs of each, interleaved, after one warm-up run of each, each run once the
    machine is quiet (``cpu.wait_idle``); with ``sampler`` (``cpu.sampler``), a CPU snapshot
    before and after each measured run."""
    wrk(**{**path, "seconds": warmup})
    wrk(**{**base, "seconds": warmup})

    def measure(args: dict[str, Any], cpus: list[dict[str, float]]) -> WrkResult:
        # Each run starts on a quiet machine: the follow-up work of the run before (the path's
        # messages still being handled) would otherwise slow whichever run comes next.
        waited.append(cpu.wait_idle())
        before = sampler() if sampler else None
        result = wrk(**{**args, "seconds": seconds})
        if sampler and before:
            cpus.append(cpu.per_request_ms(before, sampler(), result.requests))
        return result

    paths, bases, path_cpu, base_cpu = [], [], [], []
    waited: list[float] = []
    for _ in range(rounds):
        bases.append(measure(base, base_cpu))
        paths.append(measure(path, path_cpu))
    return Pair(paths, bases, path_cpu, base_cpu, waited)


def post_deeds(token: str, author: str, rounds: int, seconds: float, warmup: float,
               pids: Callable[[], dict[str, list[int]]] | None = None, database: str | None = None) -> dict[str, Any]:
    """``POST /api/v1/deeds`` (auth, rate limit, validation, Idempotency-Key, outbox) beside the bare
    Flask insert of the same JSON; with ``pids`` (``Stack.pids``) and the stack's ``database``, the
    CPU each request costs each process group (``bench.cpu``): why the rates differ."""
    body = json.dumps(deed_body({"officer": author}, _today()), ensure_ascii=False).encode()
    run = secrets.token_hex(4)
    path = dict(url=f"http://127.0.0.1:{PORTS['intake']}/api/v1/deeds", connections=CONNECTIONS, method="POST",
                body=body, token=token, idempotency_prefix=f"bench-{run}")
    base = dict(url=f"http://127.0.0.1:{PORTS['bare']}/bare/deeds", connections=CONNECTIONS, method="POST",
                body=body, idempotency_prefix=f"bare-{run}")
    return alternate(path, base, rounds, seconds, warmup, cpu.sampler(pids, database) if pids else None).summary()


def post_deeds_alone(token: str, author: str, seconds: float) -> dict[str, Any]:
    """``POST /api/v1/deeds`` with ``Idempotency-Key`` under wrk, no baseline: the load under
    which a profiler watches a web worker."""
    body = json.dumps(deed_body({"officer": author}, _today()), ensure_ascii=False).encode()
    r = wrk(url=f"http://127.0.0.1:{PORTS['intake']}/api/v1/deeds", connections=CONNECTIONS, method="POST",
            body=body, token=token, idempotency_prefix=f"spy-{secrets.token_hex(4)}", seconds=seconds)
    return {"rps": r.rps, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms, "errors": r.errors}


def post_deeds_without_key(token: str, author: str, rounds: int, seconds: float,
                           pids: Callable[[], dict[str, list[int]]] | None = None,
                           database: str | None = None) -> dict[str, Any]:
    """The same without ``Idempotency-Key`` (two transactions fewer): what idempotency costs."""
    body = json.dumps(deed_body({"officer": author}, _today()), ensure_ascii=False).encode()
    path = dict(url=f"http://127.0.0.1:{PORTS['intake']}/api/v1/deeds", connections=CONNECTIONS, method="POST",
                body=body, token=token)
    base = dict(url=f"http://127.0.0.1:{PORTS['bare']}/bare/deeds", connections=CONNECTIONS, method="POST",
                body=body)
    return alternate(path, base, rounds, seconds, 1, cpu.sampler(pids, database) if pids else None).summary()


FLOORS = {"round_trips": "/bare/deeds-round-trips", "fewest": "/bare/deeds-fewest"}


def post_deeds_floors(token: str, author: str, rounds: int, seconds: float, warmup: float,
                      pids: Callable[[], dict[str, list[int]]] | None = None,
                      database: str | None = None) -> dict[str, Any]:
    """The bare insert making ``POST /api/v1/deeds``'s round trips with psycopg and redis-py alone,
    and making the fewest that keep its guarantees (``bench.bare``), each beside the bare insert:
    the ratios no implementation of those round trips can pass on this machine."""
    body = json.dumps(deed_body({"officer": author}, _today()), ensure_ascii=False).encode()
    run = secrets.token_hex(4)
    base = dict(url=f"http://127.0.0.1:{PORTS['bare']}/bare/deeds", connections=CONNECTIONS, method="POST",
                body=body, idempotency_prefix=f"bare-{run}")
    sampler = cpu.sampler(pids, database) if pids else None
    return {
        name: alternate(dict(url=f"http://127.0.0.1:{PORTS['bare']}{path}", connections=CONNECTIONS, method="POST",
                             body=body, token=token, idempotency_prefix=f"{name}-{run}"),
                        base, rounds, seconds, warmup, sampler).summary()
        for name, path in FLOORS.items()
    }


def batch_body(lead_officers: list[str], day: dt.date, size: int = 1000) -> dict[str, Any]:
    return {"deeds": [deed_body({"officer": lead_officers[i % len(lead_officers)]}, day, i) for i in range(size)]}


def post_batch(db: Database, token: str, body: dict[str, Any], rounds: int, per_connection: int) -> dict[str, Any]:
    """``POST /api/v1/deeds/batch`` of 1000 deeds beside PostgreSQL ``COPY`` of the same 1000 rows
    into a table like ``intake.deeds``.

    A batch takes seconds, so a window of a few of them cuts some: wrk keeps two connections (one
    per web worker) busy for about ``per_connection`` batches each, and deeds/s follows from the
    whole requests by Little's law (connections × 1000 / mean latency); wrk's own count of
    completed requests over the window is given beside it."""
    from bench.load import Client

    raw = json.dumps(body, ensure_ascii=False).encode()
    url = f"http://127.0.0.1:{PORTS['intake']}/api/v1/deeds/batch"
    t0 = time.perf_counter()
    Client(PORTS["intake"]).ok("POST", "/api/v1/deeds/batch", body, token=token)
    one = time.perf_counter() - t0
    window = min(40.0, max(20.0, per_connection * one * 3))
    results: list[WrkResult] = []
    copies: list[float] = []
    for _ in range(rounds):
        copies.extend(copy_rates(db, body["deeds"], 3))
        results.append(wrk(url=url, seconds=window, connections=2, method="POST", body=raw, token=token, timeout=120))
    n = len(body["deeds"])
    little = [2 * n / (r.mean_ms / 1000) for r in results if r.requests]
    return {
        "deeds_per_s": statistics.median(little) if little else 0.0,
        "wrk_deeds_per_s": statistics.median(r.rps for r in results) * n,
        "one_batch_s": one,
        "window_s": window,
        "p50_ms": statistics.median(r.p50_ms for r in results),
        "p99_ms": statistics.median(r.p99_ms for r in results),
        "copy_deeds_per_s": statistics.median(copies),
        "errors": sum(r.errors for r in results),
        "runs": [round(x, 1) for x in little],
        "copy_runs": [round(c, 1) for c in copies],
        "requests": sum(r.requests for r in results),
    }


COPY_COLUMNS = ("id", "author_kind", "author_code", "author_name", "unit", "subunit", "occurred_on", "month",
                "kind", "relation", "title", "description", "place", "beneficiaries", "search_text", "status",
                "book_entries", "created_at", "created_by")


def deed_rows(deeds: list[dict[str, Any]], unit: str = "COPY", month: str | None = None) -> list[tuple]:
    from shared.ids import new_id

    now = dt.datetime.now(dt.UTC)
    rows = []
    for d in deeds:
        ((kind, code),) = d["author"].items()
        rows.append((new_id(), kind, code, code, unit, None, d["occurred_on"], month or d["occurred_on"][:7],
                     d["kind"], d["relation"], d["title"], d["description"], d.get("place"), None,
                     (d["title"] + " " + d["description"]).lower(), "recorded", "[]", now, "bench"))
    return rows


def copy_rates(db: Database, deeds: list[dict[str, Any]], times: int) -> list[float]:
    """Rows per second of ``COPY`` (in its own transaction, committed) of the same rows."""
    out = []
    with db.connect() as conn:
        for _ in range(times):
            rows = deed_rows(deeds)
            t0 = time.perf_counter()
            with conn.transaction(), conn.cursor() as cur:
                with cur.copy(f"COPY bench.copy_deeds ({', '.join(COPY_COLUMNS)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            out.append(len(rows) / (time.perf_counter() - t0))
    return out


def uncounted(db: Database) -> int:
    """Deeds recorded through the API (the growth phase's background rows are data at rest,
    written by COPY, and never cause a message) minus the deeds council counted; the profiles'
    synthetic ``DeedsRecorded`` make it an offset, so a phase compares it with its value before."""
    recorded = int(db.scalar("SELECT count(*) FROM intake.deeds WHERE created_by NOT LIKE 'bench%'"))
    return recorded - int(db.scalar("SELECT count(*) FROM council.tracked_deeds"))


def drain_rate(db: Database, window: float, spy: dict[str, int] | None = None, offset: int = 0) -> dict[str, Any]:
    """How fast the workers work off what the batches caused (the ``DeedsRecorded`` of each
    batch, relayed by intake and handled by council): deeds council counted (R10) per second over
    ``window``, and messages it handled (``offset``: ``uncounted`` before the batches, when
    nothing was in flight); with ``spy`` ({label: pid}), those processes are
    sampled by py-spy meanwhile."""
    from bench import profiles
    from bench.stack import queue_lengths, unsent

    def handled() -> tuple[int, int]:
        return (int(db.scalar("SELECT count(*) FROM council.tracked_deeds")),
                int(db.scalar("SELECT count(*) FROM council.inbox")))

    def intake_backlog() -> int:
        return uncounted(db) - offset

    backlog0 = unsent(db, ("book",)) + sum(queue_lengths(("book",)).values())
    deeds_behind0 = intake_backlog()
    (d0, n0), t0 = handled(), time.perf_counter()
    spies = profiles.spy_start(spy, window - 2) if spy else []
    # Until the window ends or council has counted every deed intake holds (then the rate is
    # what it took to catch up, not idle time after).
    while time.perf_counter() - t0 < window and intake_backlog() > 0:
        time.sleep(0.2)
    (d1, n1), t1 = handled(), time.perf_counter()
    backlog1 = unsent(db, ("book",)) + sum(queue_lengths(("book",)).values())
    rate = (d1 - d0) / (t1 - t0)
    spied = profiles.spy_finish(spies, "council_worker", f"council's Celery worker (main process and prefork "
                                f"children) and intake's (its outbox relay) while council counts the batches' "
                                f"deeds at {rate:.0f}/s") if spies else None
    return {"deeds_per_s": rate, "messages_per_s": (n1 - n0) / (t1 - t0), "profile": spied, "window_s": t1 - t0,
            "backlog_before": backlog0, "backlog_after": backlog1, "deeds_not_counted_before": deeds_behind0,
            "deeds_not_counted_after": intake_backlog()}


def feed_vs_hello(book: str, rounds: int, seconds: float, warmup: float) -> dict[str, Any]:
    """``GET /feeds/{book}.atom`` beside a bare hello-world under the same gunicorn settings."""
    path = dict(url=f"http://127.0.0.1:{PORTS['book']}/feeds/{book}.atom", connections=CONNECTIONS)
    base = dict(url=f"http://127.0.0.1:{PORTS['bare']}/hello", connections=CONNECTIONS)
    return alternate(path, base, rounds, seconds, warmup).summary()


def celery_round_trip(samples: int) -> dict[str, Any]:
    times = noop.round_trips(samples)
    times.sort()
    return {
        "p50_ms": statistics.median(times) * 1000,
        "p99_ms": times[min(len(times) - 1, int(len(times) * 0.99))] * 1000,
        "samples": len(times),
    }


def _today() -> dt.date:
    return clock.today()
