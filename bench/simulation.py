"""A province-year through the real services: 5 000 officers recording deeds, every round of the
R21 calendar (12 monthly rounds per unit, 4 quarterly rounds per unit, 4 provincial rounds and
the runoffs they open), all over HTTP against the gunicorn web processes, with the Celery
workers carrying every message.

Scale: the full year is 5 000 × 365 = 1 825 000 deeds. A run records one deed per officer every
``scale`` days (officer k on the days d with (k + d) % scale == 0), i.e. 1/scale of the volume,
while the rounds stay at full size (each sub-unit introduces its best deed of the month, as it
would at full scale: the rounds do not grow with the deeds recorded). The time a month's deeds take
(posting the batches, then every message they cause handled) is measured apart from the time
the rounds take (and every message they cause handled: inscriptions, fates), so the full year
extrapolates as ``scale × deeds time + rounds time``.

The rounds are opened by their secretaries over the API in calendar order (the scheduler's R21
calendar opens only the latest ended period, and this year lies in the past).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.latency import Clients, _wait
from bench.load import Client
from bench.org import People
from bench.stack import PORTS, Stack, memory_kib, wait_quiet
from shared import clock

INTRODUCED_PER_SUBUNIT = 1
POSTERS = 4  # concurrent clients: two per web worker


def _approves(member: str, candidate: str, percent: int) -> bool:
    digest = hashlib.sha256(f"{member}:{candidate}".encode()).digest()
    return digest[0] * 100 < percent * 256


class _ThreadClients:
    """One HTTP client per thread of a pool: a connection must never be shared by two threads."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.local = threading.local()

    def get(self) -> Client:
        client = getattr(self.local, "client", None)
        if client is None:
            client = self.local.client = Client(self.port)
        return client


class Year:
    def __init__(self, stack: Stack, people: People, months: list[clock.Month], scale: int) -> None:
        self.stack = stack
        self.people = people
        self.org = people.org
        self.months = months
        self.scale = scale
        self.c = Clients()
        self.members = people.council_members()
        self.officer_index = {code: i for i, code in enumerate(sorted(self.org.officers))}
        self.memory: list[dict[str, Any]] = []
        self.log: list[dict[str, Any]] = []
        self.rounds = {"monthly": 0, "quarterly": 0, "provincial": 0, "runoff": 0, "empty": 0}
        self.deeds = 0
        self.introduced = 0

    # -- deeds -------------------------------------------------------------------------------
    def _deeds_of(self, unit: str, month: clock.Month) -> list[dict[str, Any]]:
        out = []
        last = min(month.last_day, clock.today())
        officers = [o for o in self.org.officers.values() if o.unit == unit]
        day = month.first_day
        while day <= last:
            ordinal = day.toordinal()
            for o in officers:
                if (self.officer_index[o.code] + ordinal) % self.scale == 0:
                    out.append({
                        "author": {"officer": o.code}, "occurred_on": day.isoformat(), "kind": "good_deed",
                        "relation": "direct" if ordinal % 3 else "indirect",
                        "title": f"Giúp dân ngày {day.isoformat()}",
                        "description": f"{o.name} đã giúp bà con trong địa bàn: sửa đường, dọn lũ, tìm trẻ lạc.",
                        "place": self.org.units[unit].name,
                    })
            day += dt.timedelta(days=1)
        return out

    def record_month(self, month: clock.Month) -> dict[str, list[dict[str, Any]]]:
        """Every unit's deeds of the month in batches of ≤ 1000, by its secretary; then the
        deeds each sub-unit lead introduces."""
        jobs = []
        for unit in sorted(self.org.units):
            deeds = self._deeds_of(unit, month)
            token = self.people.token("unit_secretary", self.org.units[unit].secretary)
            jobs += [(token, deeds[i:i + 1000]) for i in range(0, len(deeds), 1000)]
        clients = _ThreadClients(PORTS["intake"])

        def post(k: int) -> list[dict[str, Any]]:
            token, chunk = jobs[k]
            return clients.get().ok("POST", "/api/v1/deeds/batch", {"deeds": chunk}, token=token)["items"]

        recorded: list[dict[str, Any]] = []
        with ThreadPoolExecutor(POSTERS) as pool:
            for items in pool.map(post, range(len(jobs))):
                recorded += items
        self.deeds += len(recorded)
        by_subunit: dict[str, list[dict[str, Any]]] = {}
        for d in recorded:
            author = d["author"].get("officer")
            if d["subunit"] and author not in self.members:
                by_subunit.setdefault(d["subunit"], []).append(d)
        return by_subunit

    def introduce(self, by_subunit: dict[str, list[dict[str, Any]]]) -> None:
        chosen = [(sub, d) for sub, deeds in by_subunit.items() for d in deeds[:INTRODUCED_PER_SUBUNIT]]
        clients = _ThreadClients(PORTS["intake"])

        def intro(k: int) -> None:
            sub, d = chosen[k]
            lead = self.org.subunits[sub].lead
            clients.get().ok("POST", f"/api/v1/deeds/{d['id']}/introduce", {},
                                    token=self.people.token("subunit_lead", lead))

        with ThreadPoolExecutor(POSTERS) as pool:
            list(pool.map(intro, range(len(chosen))))
        self.introduced += len(chosen)

    # -- rounds ------------------------------------------------------------------------------
    def _secretary(self, council_code: str) -> str:
        council = self.org.councils[council_code]
        role = "province_secretary" if council.provincial else "unit_secretary"
        return self.people.token(role, council.secretary)

    def _open(self, council_code: str, kind: str, period: str) -> dict[str, Any] | None:
        status, _h, body = self.c.council.request(
            "POST", "/api/v1/rounds", {"council": council_code, "kind": kind, "period": period},
            token=self._secretary(council_code))
        if status == 409:  # no candidate: the round is not opened (API.md)
            self.rounds["empty"] += 1
            return None
        if status != 201:
            raise RuntimeError(f"open {kind} {period} of {council_code}: {status} {body}")
        self.rounds[kind] += 1
        return body

    def _vote_and_close(self, council_code: str, rnd: dict[str, Any], percent: int) -> dict[str, Any] | None:
        sec = self._secretary(council_code)
        state = {"round": rnd}
        if rnd["status"] != "open":
            def settled() -> bool:
                state["round"] = self.c.council.ok("GET", f"/api/v1/rounds/{rnd['id']}", token=sec)
                return state["round"]["status"] != "opening"

            _wait(settled, f"round {rnd['id']} to open")
        if state["round"]["status"] == "closed":  # nothing was introduced: closed empty
            self.rounds["empty"] += 1
            return None
        cands = [x["id"] for x in state["round"]["candidates"]]
        for member in self.org.councils[council_code].members:
            choices = {cid: "approve" if _approves(member, cid, percent) else "reject" for cid in cands}
            self.c.council.ok("POST", f"/api/v1/rounds/{rnd['id']}/ballots", {"choices": choices},
                              token=self.people.token("council_member", member))
        return self.c.council.ok("POST", f"/api/v1/rounds/{rnd['id']}/close", {}, token=sec)

    def monthly_rounds(self, month: clock.Month) -> None:
        opened = []
        for unit in sorted(self.org.units):
            council = self.org.units[unit].council
            rnd = self._open(council, "monthly", str(month))
            if rnd:
                opened.append((council, rnd))
        for council, rnd in opened:
            self._vote_and_close(council, rnd, 95)

    def quarter_rounds(self, quarter: clock.Quarter) -> None:
        for unit in sorted(self.org.units):
            council = self.org.units[unit].council
            rnd = self._open(council, "quarterly", str(quarter))
            if rnd:
                self._vote_and_close(council, rnd, 90)
        prov = self.org.provincial_council.code
        rnd = self._open(prov, "provincial", str(quarter))
        if rnd:
            result = self._vote_and_close(prov, rnd, 88)
            while result and result.get("runoff"):
                runoff = self.c.council.ok("GET", f"/api/v1/rounds/{result['runoff']}", token=self._secretary(prov))
                self.rounds["runoff"] += 1
                result = self._vote_and_close(prov, runoff, 88)

    # -- the year ----------------------------------------------------------------------------
    def sample_memory(self, label: str) -> None:
        procs = {}
        for role, pids in self.stack.pids().items():
            for pid in pids:
                rss, hwm = memory_kib(pid)
                if rss:
                    procs[f"{role}:{pid}"] = {"rss_kib": rss, "hwm_kib": hwm}
        self.memory.append({"at": label, "procs": procs})

    def run(self) -> dict[str, Any]:
        t_start = time.perf_counter()
        deeds_time = rounds_time = 0.0
        self.sample_memory("start")
        for month in self.months:
            t0 = time.perf_counter()
            by_subunit = self.record_month(month)
            drained = wait_quiet(self.stack.db, timeout=600)
            t1 = time.perf_counter()
            self.introduce(by_subunit)
            self.monthly_rounds(month)
            if month.month % 3 == 0:
                self.quarter_rounds(month.quarter)
            self.c.council.ok("GET", f"/api/v1/reports/monthly?month={month}",
                              token=self.people.token("province_secretary", self.org.province_secretary))
            rounds_drained = wait_quiet(self.stack.db, timeout=600)
            t2 = time.perf_counter()
            deeds_time += t1 - t0
            rounds_time += t2 - t1
            self.log.append({"month": str(month), "deeds_s": round(t1 - t0, 1), "drain_s": round(drained, 1),
                             "rounds_s": round(t2 - t1, 1), "rounds_drain_s": round(rounds_drained, 1),
                             "deeds_total": self.deeds,
                             "book_entries": int(self.stack.db.scalar("SELECT count(*) FROM book.entries"))})
            self.sample_memory(str(month))
        final_drain = wait_quiet(self.stack.db, timeout=600)
        rounds_time += final_drain
        wall = time.perf_counter() - t_start
        self.sample_memory("end")
        return {
            "scale": self.scale, "months": [str(m) for m in self.months], "deeds": self.deeds,
            "introduced": self.introduced, "rounds": self.rounds, "wall_s": wall, "deeds_s": deeds_time,
            "rounds_s": rounds_time, "final_drain_s": final_drain,
            "extrapolated_full_s": deeds_time * self.scale + rounds_time,
            "log": self.log, "memory": self.memory,
        }
