"""``sovang demo``: one whole quarter of the programme, played for real through the services.

The organisation of Công an tỉnh Đắk Nông is loaded; then, day by day through the most recent
quarter that has fully played out, officers record their deeds (``POST /api/v1/deeds``, some
with evidence), sub-units introduce them, every unit's council opens its monthly round, votes and
closes it (one round closed by the scheduler at its deadline, some months failing and taken up
again by a supplementary round, R9), each unit chooses its exemplary deeds in its quarterly round
(R11), the provincial council selects at most 20 (R12) with a runoff for those tied across the
20th place (R13), and the golden books inscribe and publish all of it (R8, R14–R16).

Everything goes through the three services' own Flask apps (one origin, as ``sovang up`` serves
it), their Celery tasks (the consumers of every message) and their outbox relays; the broker's
transport is replaced by delivering each relayed message to its consumer at once, in order. The
demo keeps its own clock: it sets the day and hour of each event, and identifiers are drawn from
the seed, so that ``sovang demo --seed 1`` run twice writes the same golden books, entry for entry
and hash for hash (R15), whatever the day it runs.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import heapq
import io
import itertools
import json
import math
import random
import struct
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared import clock
from shared.clock import Month, Quarter
from shared.config import Settings
from shared.org import Organisation
from shared.runtime import sources
from shared.signing import sign
from sovang.demo_deeds import deed_text

ORG_FILE = Path(__file__).resolve().parent.parent / "shared" / "data" / "dak-nong.json"
# R22: the province's paper book kept since 2021-09 (40 entries by November 2022, as the article says).
PAPER_FILE = ORG_FILE.parent / "paper-book-CAT.json"
UTC = dt.UTC


class DemoError(Exception):
    """The demo cannot run (its home is taken, the settings are not the embedded default…)."""


# -- the demo's clock and identifiers ------------------------------------------------------------
class SimClock:
    """The demo's time (``Settings.clock``): it stands where the scenario puts it and moves a
    millisecond per reading, so that everything stamped in between is ordered, and the same on
    every run."""

    def __init__(self, start: dt.datetime) -> None:
        self.t = start.astimezone(UTC)

    def utcnow(self) -> dt.datetime:
        self.t += dt.timedelta(milliseconds=1)
        return self.t

    def at(self, local: dt.datetime) -> None:
        """Move to a local instant (never backwards)."""
        self.t = max(self.t, local.astimezone(UTC))


class SeededIds:
    """The demo's record ids (``Settings.ids``): UUIDv7 (RFC 9562) from the demo's clock and seed,
    time-ordered like ``shared.ids.uuid7``, with a counter inside a millisecond, and random bits
    drawn from the seed."""

    def __init__(self, sim: SimClock, seed: int) -> None:
        self.sim = sim
        self.rng = random.Random(f"ids:{seed}")
        self.last_ms = -1
        self.counter = 0

    def new_id(self) -> str:
        ms = int(self.sim.t.timestamp() * 1000)
        if ms <= self.last_ms:
            ms = self.last_ms
            self.counter += 1
            if self.counter > 0xFFF:
                ms, self.counter = ms + 1, 0
        else:
            self.counter = 0
        self.last_ms = ms
        value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | self.counter << 64 | 0b10 << 62
        value |= self.rng.getrandbits(62)
        return str(uuid.UUID(int=value))


# -- the services, in this process ---------------------------------------------------------------
@dataclass
class Reply:
    status: int
    body: Any


class Embedded:
    """The three services on one origin in this process, their workers' tasks, the relays of
    their outboxes, and the scheduler's sweep; messages are delivered as soon as relayed."""

    def __init__(self, settings: Settings) -> None:
        from werkzeug.test import Client

        from services import REGISTRY
        from sovang import processes
        from sovang.gateway import Gateway

        self.settings = settings
        self.broker = processes.start_embedded_broker(settings)
        try:
            self.runtimes = {}
            apps = {}
            self.workers = {}
            prefixes = {}
            for name, service in REGISTRY.items():
                rt = service.build_runtime(settings)
                rt.migrate()
                self.runtimes[name] = rt
                apps[name] = service.create_app(runtime=rt)
                self.workers[name] = service.create_worker(runtime=rt)
                prefixes[name] = service.prefixes
            for rt in self.runtimes.values():
                # No relay thread waits on the broker here: deliver() runs each relay itself.
                rt.db.after_commit.clear()
            self.client = Client(Gateway(apps, prefixes))
            from shared.signing import message_keys

            self.keys = message_keys(settings)
            from shared.outbox import Relay

            self.relays = [Relay(rt.db, self._publish) for rt in self.runtimes.values()]
        except BaseException:
            self.close()
            raise
        self.delivered = 0
        self.queue: collections.deque[tuple[str, str, dict[str, Any]]] = collections.deque()

    def close(self) -> None:
        from sovang import processes

        for rt in getattr(self, "runtimes", {}).values():
            rt.db.dispose()
        processes.stop([self.broker], grace=5)
        with contextlib.suppress(FileNotFoundError):
            self.settings.broker_socket.unlink()

    def _publish(self, name: str, queue: str, env: dict[str, Any], message_id: str) -> None:
        """The broker's part: queue the message for its service's consumer (delivered once the
        relay's transaction has committed, as a broker would)."""
        self.queue.append((queue, name, env))

    def _deliver(self) -> int:
        n = 0
        while self.queue:
            queue, name, env = self.queue.popleft()
            # Signed as a relay signs what it publishes (shared.signing): consumers take nothing else.
            self.workers[queue].tasks[name](sign(env, self.keys))
            n += 1
        self.delivered += n
        return n

    def load_org(self, doc: dict[str, Any]) -> None:
        from services import REGISTRY

        for name, rt in self.runtimes.items():
            REGISTRY[name].load_org(rt, doc)

    def issue_tokens(self, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
        from shared.auth import new_token, store_token

        issued = {pair: new_token() for pair in pairs}
        for rt in self.runtimes.values():
            with rt.db.unit_of_work() as uow:
                for (role, subject), token in issued.items():
                    # Valid through the whole quarter the demo plays and its rounds after it.
                    store_token(uow, token, role, subject, max(self.settings.token_ttl_days, 366))
                uow.commit()
        return issued

    def http(self, method: str, path: str, token: str | None = None, body: Any = None,
             files: dict[str, tuple[bytes, str]] | None = None) -> Reply:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if files:
            data = {k: (io.BytesIO(content), filename) for k, (content, filename) in files.items()}
            resp = self.client.open(path, method=method, headers=headers, data=data)
        elif body is not None:
            resp = self.client.open(path, method=method, headers=headers, json=body)
        else:
            resp = self.client.open(path, method=method, headers=headers)
        raw = resp.get_data()
        try:
            parsed = json.loads(raw) if raw and (resp.mimetype or "").endswith("json") else raw
        except ValueError:
            parsed = raw
        return Reply(resp.status_code, parsed)

    def settle(self) -> None:
        """Relay every outbox and deliver what was relayed, until no message is left in flight."""
        while True:
            relayed = sum(relay.relay_once() for relay in self.relays)
            if not relayed and not self._deliver():
                return

    def sweep(self) -> list[str]:
        """The scheduler's R20 sweep (``council.close_due_rounds``), once."""
        closed = self.workers["council"].tasks["council.close_due_rounds"]()
        self.settle()
        return closed or []


# -- the scenario ---------------------------------------------------------------------------------
@dataclass
class DeedRecord:
    id: str
    unit: str
    subunit: str | None
    month: str
    title: str
    author: dict[str, str]
    introducer: tuple[str, str]
    merit: float
    will_introduce: bool
    introduced: bool = False


@dataclass
class Tally:
    """What the demo saw, for its summary."""

    recorded: int = 0
    evidence: int = 0
    introduced: int = 0
    ballots: int = 0
    rounds: Counter = field(default_factory=Counter)
    closed_by_schedule: int = 0
    unmet: list[str] = field(default_factory=list)
    recognised: int = 0
    proposed: int = 0
    provincial_selected: int = 0
    runoff: dict[str, Any] = field(default_factory=dict)
    live_round: str | None = None
    paper: int = 0  # R22: entries imported from the provincial paper book


def pick_quarter(today: dt.date) -> Quarter:
    """The most recent quarter whose rounds (ending about two weeks after it) are all in the past."""
    q = Month.of(today).quarter
    while True:
        q = Quarter(q.year - 1, 4) if q.q == 1 else Quarter(q.year, q.q - 1)
        if q.last_month.next().first_day + dt.timedelta(days=14) <= today:
            return q


def png(rng: random.Random, width: int = 120, height: int = 80) -> bytes:
    """A small picture (a photo stand-in) in PNG, drawn from the seed."""
    top = [rng.randint(40, 220) for _ in range(3)]
    bottom = [rng.randint(40, 220) for _ in range(3)]
    rows = []
    for y in range(height):
        f = y / (height - 1)
        colour = bytes(int(a + (b - a) * f) for a, b in zip(top, bottom, strict=True))
        rows.append(b"\x00" + colour * width)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows), 9)) + \
        chunk(b"IEND", b"")


def need(entitled: int, threshold: int = 80) -> int:
    """R7: the fewest approvals that pass with this many entitled members."""
    return math.ceil(threshold * entitled / 100)


class Scenario:
    """One quarter, event by event, on the demo's clock."""

    def __init__(self, system: Embedded, sim: SimClock, org: Organisation, doc: dict[str, Any], quarter: Quarter,
                 seed: int, say: Callable[[str], None]) -> None:
        self.system = system
        self.sim = sim
        self.org = org
        self.doc = doc
        self.quarter = quarter
        self.rng = random.Random(f"scenario:{seed}")
        self.say = say
        self.tally = Tally()
        self.deeds: dict[str, DeedRecord] = {}
        self.tokens: dict[tuple[str, str], str] = {}
        self.closed_months: set[tuple[str, str]] = set()
        units = list(org.units)
        self.weak = set(self.rng.sample([(u, str(m)) for u in units for m in quarter.months[:2]], 3))
        self.absentee = set(self.rng.sample([(u, str(quarter.months[0])) for u in units], 2))
        self.month_rounds: dict[str, dict[str, str]] = {}
        self.events: list[tuple[dt.datetime, int, Callable[[], Any]]] = []
        self.sequence = itertools.count()
        self.week = [0, 0]

    # -- small helpers ----------------------------------------------------------------------------
    def at(self, day: dt.date, hour: int, minute: int = 0) -> None:
        self.sim.at(clock.at_local(day, hour, minute))

    def token(self, role: str, subject: str) -> str:
        return self.tokens[(role, subject)]

    def call(self, method: str, path: str, who: tuple[str, str] | None, body: Any = None,
             files: dict[str, tuple[bytes, str]] | None = None, expect: tuple[int, ...] = (200, 201)) -> Any:
        reply = self.system.http(method, path, self.token(*who) if who else None, body, files)
        if reply.status not in expect:
            raise DemoError(f"{method} {path} → {reply.status}: {reply.body!r}")
        return reply.body

    def members(self, council: str) -> list[str]:
        return sorted(self.org.councils[council].members)

    def entitled(self, council: str, author: dict[str, str]) -> list[str]:
        """R17: the members who may vote on a deed of this author."""
        collective = self.org.collective_members(author["collective"]) if author.get("collective") else set()
        return [m for m in self.members(council) if m != author.get("officer") and m not in collective]

    # -- the organisation and the people --------------------------------------------------------
    def setup(self) -> None:
        first = self.quarter.months[0].first_day
        self.at(first - dt.timedelta(days=1), 8)
        self.system.load_org(self.doc)
        self.import_paper_book()
        pairs = [("officer", code) for code in sorted(self.org.officers)]
        pairs += [("subunit_lead", s.lead) for s in self.org.subunits.values()]
        pairs += [("unit_secretary", u.secretary) for u in self.org.units.values()]
        pairs += [("council_member", m) for c in self.org.councils.values() for m in c.members]
        pairs += [("province_secretary", self.org.province_secretary)]
        self.tokens = self.system.issue_tokens(sorted(set(pairs)))
        self.say(f"Đã nạp {self.org.province_name}: {len(self.org.units)} đơn vị, {len(self.org.subunits)} đơn vị "
                 f"cơ sở, {len(self.org.officers)} cán bộ; cấp {len(self.tokens)} mã xác thực.")

    def import_paper_book(self) -> None:
        """R22: the provincial paper book since 2021-09, entered once before the quarter is played,
        so that the running figures start from it (``sovang book import`` does the same)."""
        from services.book.app import run
        from services.book.services import import_paper_book
        from shared import audit

        created = run(self.system.runtimes["book"], import_paper_book, audit.CLI,
                      json.loads(PAPER_FILE.read_text("utf-8")))
        self.tally.paper = len(created)
        self.say(f"Đã nhập sổ vàng giấy của Công an tỉnh (R22): {len(created)} mục, từ "
                 f"{created[0].decision['date']} đến {created[-1].decision['date']}.")

    # -- recording and introducing --------------------------------------------------------------
    def record_day(self, day: dt.date, extra_for: str | None = None) -> int:
        n = 0
        for unit in self.org.units.values():
            count = self.rng.choices((0, 1, 2), weights=(70, 25, 5))[0]
            if unit.code == extra_for:
                count += 2
            for i in range(count):
                self.at(day, 17 + i, self.rng.randint(0, 59))
                self.record(unit.code, day, force_evidence=unit.code == extra_for)
                n += 1
        self.system.settle()
        return n

    def record(self, unit_code: str, day: dt.date, force_evidence: bool = False) -> None:
        org = self.org
        unit = org.units[unit_code]
        members = set(org.councils[unit.council].members)
        in_subunits = [o for o in org.officers.values() if o.unit == unit_code and o.subunit]
        at_hq = [o for o in org.officers.values() if o.unit == unit_code and not o.subunit and o.code not in members]
        r = self.rng.random()
        if r < 0.08 and unit.subunits:
            sub = org.subunits[self.rng.choice(unit.subunits)]
            author = {"collective": sub.code}
            recorder, introducer, subunit = ("subunit_lead", sub.lead), ("subunit_lead", sub.lead), sub.code
        elif r < 0.14:
            officer = org.officers[self.rng.choice(sorted(members))]
            author, subunit = {"officer": officer.code}, None
            recorder, introducer = ("officer", officer.code), ("unit_secretary", unit.secretary)
        elif r < 0.24 and at_hq:
            officer = self.rng.choice(at_hq)
            author, subunit = {"officer": officer.code}, None
            recorder, introducer = ("officer", officer.code), ("unit_secretary", unit.secretary)
        else:
            officer = self.rng.choice(in_subunits or at_hq)
            author, subunit = {"officer": officer.code}, officer.subunit
            recorder = ("officer", officer.code)
            introducer = ("subunit_lead", org.subunits[officer.subunit].lead) if officer.subunit else \
                ("unit_secretary", unit.secretary)
        text = deed_text(self.rng, unit_code, org.subunits[subunit].name if subunit else None, unit.name)
        body: dict[str, Any] = {
            "author": author, "occurred_on": day.isoformat(), "kind": text.kind, "relation": text.relation,
            "title": text.title, "description": text.description, "place": text.place,
        }
        if text.beneficiaries:
            body["beneficiaries"] = text.beneficiaries
        deed = self.call("POST", "/api/v1/deeds", recorder, body)
        if force_evidence or self.rng.random() < 0.3:
            self.call("POST", f"/api/v1/deeds/{deed['id']}/evidence", recorder,
                      files={"file": (png(self.rng), "anh-hien-truong.png")})
            self.tally.evidence += 1
        self.deeds[deed["id"]] = DeedRecord(
            id=deed["id"], unit=unit_code, subunit=subunit, month=deed["month"], title=text.title, author=author,
            introducer=introducer, merit=self.rng.random(), will_introduce=self.rng.random() < 0.85,
        )
        self.tally.recorded += 1

    def introduce(self, day: dt.date, everything_of: str | None = None) -> int:
        """R5: sub-unit leads (and unit secretaries for their headquarters) introduce the month's
        recorded deeds to their unit."""
        self.at(day, 21)
        n = 0
        for d in self.deeds.values():
            if d.introduced or (d.unit, d.month) in self.closed_months:
                continue
            if not (d.will_introduce or d.unit == everything_of):
                continue
            deed = self.call("POST", f"/api/v1/deeds/{d.id}/introduce", d.introducer, {})
            assert deed["status"] == "introduced", deed
            d.introduced = True
            n += 1
        self.system.settle()
        self.tally.introduced += n
        return n

    # -- rounds -----------------------------------------------------------------------------------
    def open_round(self, council: str, kind: str, period: str, closes_at: str | None = None) -> dict[str, Any]:
        c = self.org.councils[council]
        role = "province_secretary" if c.provincial else "unit_secretary"
        body = {"council": council, "kind": kind, "period": period}
        if closes_at:
            body["closes_at"] = closes_at
        rnd = self.call("POST", "/api/v1/rounds", (role, c.secretary), body)
        self.tally.rounds[kind] += 1
        return rnd

    def read_round(self, council: str, round_id: str) -> dict[str, Any]:
        return self.call("GET", f"/api/v1/rounds/{round_id}", ("council_member", self.members(council)[0]))

    def vote(self, council: str, rnd: dict[str, Any], approvals: dict[str, int], absent: str | None = None) -> None:
        """Every member entitled to a candidate casts one ballot: ``approvals[candidate]`` of them
        approve it, the others reject or abstain; ``absent`` never votes."""
        choices: dict[str, dict[str, str]] = {}
        for cand in rnd["candidates"]:
            voters = [m for m in self.entitled(council, cand["author"]) if m != absent]
            yes = set(self.rng.sample(voters, min(approvals[cand["id"]], len(voters))))
            for m in voters:
                choices.setdefault(m, {})[cand["id"]] = "approve" if m in yes else (
                    "reject" if self.rng.random() < 0.7 else "abstain")
        for i, member in enumerate(sorted(choices)):
            self.sim.at(self.sim.t.astimezone(clock.TZ) + dt.timedelta(minutes=7 + i))
            reply = self.call("POST", f"/api/v1/rounds/{rnd['id']}/ballots", ("council_member", member),
                              {"choices": choices[member]}, expect=(201,))
            assert reply["receipt"]
            self.tally.ballots += 1

    def close(self, council: str, round_id: str) -> dict[str, Any]:
        c = self.org.councils[council]
        role = "province_secretary" if c.provincial else "unit_secretary"
        result = self.call("POST", f"/api/v1/rounds/{round_id}/close", (role, c.secretary), {})
        self.system.settle()
        return result

    def approvals_for(self, council: str, candidates: list[dict[str, Any]], passing: set[str],
                      absent: str | None = None) -> dict[str, int]:
        out = {}
        for cand in candidates:
            voters = [m for m in self.entitled(council, cand["author"]) if m != absent]
            base = len(self.entitled(council, cand["author"]))
            if cand["id"] in passing:
                out[cand["id"]] = self.rng.randint(min(need(base), len(voters)), len(voters))
            else:
                out[cand["id"]] = self.rng.randint(max(0, need(base) - 4), max(0, need(base) - 1))
        return out

    # -- the calendar of rounds (R21), as events ----------------------------------------------------
    def monthly_open(self, month: Month) -> None:
        """Day 1 of the next month: every unit's council opens its round; intake closes the month and
        hands over the final list (API.md); members vote on days 2–3; secretaries close on day 4 —
        or, where a member stayed away, the scheduler closes the round at its deadline (R20, R21)."""
        nxt = month.next().first_day
        period = str(month)
        rounds = {}
        for i, unit in enumerate(self.org.units.values()):
            self.at(nxt, 8, i)
            rounds[unit.code] = self.open_round(unit.council, "monthly", period)["id"]
            self.closed_months.add((unit.code, period))
        self.system.settle()
        self.month_rounds[period] = rounds
        for i, unit in enumerate(self.org.units.values()):
            absent = self.members(unit.council)[-1] if (unit.code, period) in self.absentee else None
            vote_at = clock.at_local(nxt + dt.timedelta(days=1 + i % 2), 8 + i % 3)
            self.schedule(vote_at, lambda u=unit.code, a=absent: self.monthly_vote(u, period, a))
            if absent is None:
                self.schedule(clock.at_local(nxt + dt.timedelta(days=3), 16, i),
                              lambda u=unit.code: self.close(self.org.units[u].council, rounds[u]))
        deadline = clock.monthly_round_closes_at(month, self.system.settings.monthly_close_day,
                                                 self.system.settings.monthly_close_hour)
        if any(u for u, p in self.absentee if p == period):
            self.schedule(deadline + dt.timedelta(seconds=1), self.scheduler_sweep)
            report_at = deadline + dt.timedelta(hours=1)
        else:
            report_at = clock.at_local(nxt + dt.timedelta(days=3), 18)
        self.schedule(report_at, lambda: self.monthly_report(month))

    def monthly_vote(self, unit_code: str, period: str, absent: str | None) -> None:
        council = self.org.units[unit_code].council
        rnd = self.read_round(council, self.month_rounds[period][unit_code])
        if rnd["status"] != "open":
            return
        merits = {c["id"]: self.deeds[c["deed_id"]].merit for c in rnd["candidates"]}
        if (unit_code, period) in self.weak:
            passing: set[str] = set()
        else:
            passing = {cid for cid, m in merits.items() if m > 0.82} or {max(merits, key=merits.get)}
        self.vote(council, rnd, self.approvals_for(council, rnd["candidates"], passing, absent), absent)

    def scheduler_sweep(self) -> None:
        self.tally.closed_by_schedule += len(self.system.sweep())

    def monthly_report(self, month: Month) -> None:
        results = {u: self.call("GET", f"/api/v1/rounds/{rid}/result", None)
                   for u, rid in self.month_rounds[str(month)].items()}
        unmet = [u for u, r in results.items() if not r.get("quota_met")]
        recognised = sum(1 for r in results.values() for c in r["candidates"] if c["selected"])
        self.tally.recognised += recognised
        late = sum(1 for u, p in self.absentee if p == str(month))
        note = f"; {late} phiên do bộ lập lịch đóng đúng hạn (R20)" if late else ""
        self.say(f"Phiên xét {period_text(month)}: {len(results)} hội đồng, {recognised} việc tốt được công nhận và ghi "
                 f"Sổ vàng đơn vị{note}; chưa đạt chỉ tiêu: {', '.join(unmet) or 'không có'}.")
        for unit_code in unmet:
            self.supplementary(unit_code, month)

    def supplementary(self, unit_code: str, month: Month) -> None:
        """R9: on day 8 the secretary opens one supplementary round for a month whose quota was
        unmet, over the same deeds; members vote on day 9; the secretary closes on day 10."""
        unit = self.org.units[unit_code]
        day = month.next().first_day + dt.timedelta(days=7)

        def open_() -> None:
            rnd = self.open_round(unit.council, "supplementary", str(month))
            merits = {c["id"]: self.deeds[c["deed_id"]].merit for c in rnd["candidates"]}
            best = max(merits, key=merits.get)
            self.schedule(clock.at_local(day + dt.timedelta(days=1), 9), lambda: self.vote(
                unit.council, rnd, self.approvals_for(unit.council, rnd["candidates"], {best})))
            self.schedule(clock.at_local(day + dt.timedelta(days=2), 15), lambda: close(rnd["id"]))

        def close(round_id: str) -> None:
            result = self.close(unit.council, round_id)
            selected = sum(1 for c in result["candidates"] if c["selected"])
            self.tally.recognised += selected
            self.tally.unmet.append(f"{unit_code} {month}")
            self.say(f"  Phiên bổ sung {period_text(month)} của {unit.name}: {selected} việc tốt được công nhận (R9).")

        self.schedule(clock.at_local(day, 9), open_)

    def quarterly(self) -> None:
        """R11: on day 5 each unit opens its quarterly round over the deeds it recognised in the
        quarter; members vote that morning; secretaries close on day 6."""
        day = self.quarter.last_month.next().first_day + dt.timedelta(days=4)
        for i, unit in enumerate(self.org.units.values()):
            self.at(day, 9, i)
            rnd = self.open_round(unit.council, "quarterly", str(self.quarter))
            ranked = sorted(rnd["candidates"], key=lambda c: -self.deeds[c["deed_id"]].merit)
            k = min(len(ranked), self.rng.choice((1, 2, 2, 2, 3)))
            approvals = self.approvals_for(unit.council, rnd["candidates"], {c["id"] for c in ranked[:k]})
            self.schedule(clock.at_local(day, 10 + i % 5),
                          lambda c=unit.council, r=rnd, a=approvals: self.vote(c, r, a))
            self.schedule(clock.at_local(day + dt.timedelta(days=1), 16, i),
                          lambda c=unit.council, r=rnd["id"]: self.quarterly_close(c, r))
        self.schedule(clock.at_local(day + dt.timedelta(days=1), 18), lambda: self.say(
            f"Phiên {quarter_text(self.quarter)}: {len(self.org.units)} đơn vị chọn {self.tally.proposed} việc tốt "
            f"tiêu biểu, lập hồ sơ đề nghị lên Hội đồng cấp tỉnh (R11)."))

    def quarterly_close(self, council: str, round_id: str) -> None:
        result = self.close(council, round_id)
        self.tally.proposed += sum(1 for c in result["candidates"] if c["selected"])

    def provincial(self) -> None:
        """R12, R13: on day 8 the provincial council opens its round over the dossiers; members vote
        on day 9; the secretary closes on day 10; deeds tied across the 20th place go to a runoff
        for the places left, voted and closed on day 11."""
        council = self.org.provincial_council
        day = self.quarter.last_month.next().first_day + dt.timedelta(days=7)
        rnd = self.open_round(council.code, "provincial", str(self.quarter))
        ranked = sorted(rnd["candidates"], key=lambda c: -self.deeds[c["deed_id"]].merit)
        size = len(self.members(council.code))
        cap = council.cap_per_quarter or 20
        if len(ranked) > cap + 1:
            # A few unanimous, more one vote short, then a group tied across the last place.
            top, second = cap * 3 // 10, cap * 5 // 10
            tied = min(len(ranked) - top - second, cap - top - second + 4)
            levels = [size] * top + [size - 1] * second + [need(size)] * tied
        else:
            levels = [size - i % 3 for i in range(len(ranked))]
        approvals = {c["id"]: levels[i] if i < len(levels) else self.rng.randint(need(size) - 4, need(size) - 1)
                     for i, c in enumerate(ranked)}
        self.schedule(clock.at_local(day + dt.timedelta(days=1), 9), lambda: self.vote(council.code, rnd, approvals))

        def close() -> None:
            result = self.close(council.code, rnd["id"])
            selected = sum(1 for c in result["candidates"] if c["selected"])
            passed = sum(1 for c in result["candidates"] if c["passed"])
            self.tally.provincial_selected = selected
            self.say(f"Phiên cấp tỉnh {quarter_text(self.quarter)}: {len(ranked)} hồ sơ, {passed} việc tốt đạt ≥ 80%, "
                     f"{selected} được chọn ngay vào Sổ vàng cấp tỉnh (tối đa {cap}, R12).")
            if result.get("runoff"):
                self.runoff(council.code, result["runoff"], day + dt.timedelta(days=3), cap - selected)

        self.schedule(clock.at_local(day + dt.timedelta(days=2), 16), close)

    def runoff(self, council: str, round_id: str, day: dt.date, places: int) -> None:
        rnd = self.read_round(council, round_id)
        size = len(self.members(council))
        ranked = sorted(rnd["candidates"], key=lambda c: -self.deeds[c["deed_id"]].merit)
        levels = sorted((size - i // 2 for i in range(places)), reverse=True)
        approvals = {c["id"]: levels[i] if i < places else max(0, levels[-1] - 1 - (i - places))
                     for i, c in enumerate(ranked)}
        self.tally.rounds["runoff"] += 1

        def close() -> None:
            result = self.close(council, round_id)
            selected = sum(1 for c in result["candidates"] if c["selected"])
            self.tally.provincial_selected += selected
            self.tally.runoff = {"candidates": len(rnd["candidates"]), "places": places, "selected": selected}
            self.say(f"  Bỏ phiếu lại (R13): {len(rnd['candidates'])} việc tốt đồng hạng tranh {places} chỗ còn lại; "
                     f"{selected} được chọn. Sổ vàng cấp tỉnh {quarter_text(self.quarter)}: "
                     f"{self.tally.provincial_selected} việc tốt.")

        self.schedule(clock.at_local(day, 9), lambda: self.vote(council, rnd, approvals))
        self.schedule(clock.at_local(day, 16), close)

    def live_round(self, day: dt.date, unit_code: str) -> None:
        """A round left open for whoever opens the ballot page after the demo."""
        unit = self.org.units[unit_code]
        self.introduce(day, everything_of=unit_code)
        self.at(day, 22)
        month = Month.of(day)
        closes = clock.isoformat(self.sim.t + dt.timedelta(days=120))
        rnd = self.open_round(unit.council, "monthly", str(month), closes_at=closes)
        self.system.settle()
        self.tally.live_round = rnd["id"]

    # -- the whole quarter ----------------------------------------------------------------------
    def schedule(self, when: dt.datetime, action: Callable[[], Any]) -> None:
        heapq.heappush(self.events, (when.astimezone(UTC), next(self.sequence), action))

    def introduce_day(self, day: dt.date) -> None:
        self.week[1] += self.introduce(day)

    def week_report(self, day: dt.date) -> None:
        self.say(f"  {day:%d/%m/%Y}: {self.week[0]} việc tốt được ghi, {self.week[1]} được giới thiệu trong tuần.")
        self.week = [0, 0]

    def record_and_count(self, day: dt.date, extra_for: str | None) -> None:
        self.week[0] += self.record_day(day, extra_for)

    def play(self) -> None:
        """Every event of the quarter, in the order of the demo's clock."""
        self.setup()
        months = self.quarter.months
        after = months[-1].next().first_day
        last_day = after + dt.timedelta(days=12)
        live_unit = "CAH-DM"
        day = months[0].first_day
        while day <= last_day:
            extra = live_unit if day == last_day else None
            self.schedule(clock.at_local(day, 17), lambda d=day, e=extra: self.record_and_count(d, e))
            if day.weekday() == 4 or day == Month.of(day).last_day:
                self.schedule(clock.at_local(day, 21), lambda d=day: self.introduce_day(d))
            if day.weekday() == 6 or day == Month.of(day).last_day:
                self.schedule(clock.at_local(day, 23), lambda d=day: self.week_report(d))
            day += dt.timedelta(days=1)
        for month in months:
            self.schedule(clock.at_local(month.next().first_day, 8), lambda m=month: self.monthly_open(m))
        self.schedule(clock.at_local(after + dt.timedelta(days=4), 9), self.quarterly)
        self.schedule(clock.at_local(after + dt.timedelta(days=7), 9), self.provincial)
        self.schedule(clock.at_local(last_day, 22), lambda: self.live_round(last_day, live_unit))
        while self.events:
            when, _, action = heapq.heappop(self.events)
            self.sim.at(when)
            action()


def period_text(month: Month) -> str:
    return f"tháng {month.month}/{month.year}"


def quarter_text(quarter: Quarter) -> str:
    return f"quý {('I', 'II', 'III', 'IV')[quarter.q - 1]}/{quarter.year}"


# -- the command ----------------------------------------------------------------------------------
def _check_home(settings: Settings) -> None:
    if not settings.embedded or settings.database_url or settings.service_database_urls:
        raise DemoError("sovang demo chạy trên cấu hình nhúng (SQLite dưới SOVANG_HOME); bỏ SOVANG_DATABASE_URL "
                        "và SOVANG_BROKER_URL.")
    taken = sorted(p.name for p in settings.home.glob("*.db")) if settings.home.exists() else []
    if taken:
        raise DemoError(f"{settings.home} đã có dữ liệu ({', '.join(taken)}); chọn một thư mục trống bằng --home.")


def summary(system: Embedded, scenario: Scenario, seed: int, quarter: Quarter) -> dict[str, Any]:
    books = system.http("GET", "/api/v1/books?limit=500").body["items"]
    figures = system.http("GET", "/api/v1/figures").body
    t = scenario.tally
    return {
        "seed": seed,
        "quarter": str(quarter),
        "deeds": {"recorded": t.recorded, "with_evidence": t.evidence, "introduced": t.introduced},
        "rounds": dict(sorted(t.rounds.items())),
        "ballots": t.ballots,
        "closed_by_schedule": t.closed_by_schedule,
        "supplementary_for": t.unmet,
        "recognised": t.recognised,
        "proposed": t.proposed,
        "provincial": t.provincial_selected,
        "runoff": t.runoff,
        "paper": t.paper,
        "books": {
            b["code"]: {"name": b["name"], "entries": b["entries"], "head": b["head"],
                        "valid": system.http("GET", f"/api/v1/books/{b['code']}/verify").body["valid"]}
            for b in books
        },
        "figures": figures,
    }


def demo_sign_ins(system: Embedded, scenario: Scenario, seed: int) -> list[dict[str, str]]:
    """R24: passwords for a few people of Đắk Mil and the province, so that the pages can be tried
    as those people (printed; a real deployment sets them with ``sovang user password``)."""
    from services.intake import people

    org = scenario.org
    unit = org.units["CAH-DM"]
    lead = org.subunits[unit.subunits[0]].lead
    officer = next(o.code for o in org.officers.values() if o.subunit == unit.subunits[0] and o.code != lead)
    member = scenario.members(unit.council)[0]
    who = [(officer, "cán bộ"), (lead, "đội trưởng (giới thiệu)"), (member, "thành viên hội đồng"),
           (unit.secretary, "thư ký đơn vị"), (org.province_secretary, "thư ký tỉnh, quản trị")]
    out = []
    for subject, what in who:
        password = f"demo-{seed}-{subject.lower()}"
        system.runtimes["intake"].run(people.set_password, "demo", subject, password)
        out.append({"subject": subject, "password": password, "who": what})
    return out


def print_summary(data: dict[str, Any], scenario: Scenario, settings: Settings, port: int, say: Callable) -> None:
    q = Quarter.parse(data["quarter"])
    kinds = data["rounds"]
    base = f"http://127.0.0.1:{port}"
    province = scenario.org.province_code
    unit_books = [b for code, b in data["books"].items() if code != province]
    say("")
    say(f"Tổng kết {quarter_text(q)} (seed {data['seed']}):")
    say(f"  Việc tốt được ghi: {data['deeds']['recorded']} ({data['deeds']['with_evidence']} có bằng chứng); "
        f"được giới thiệu: {data['deeds']['introduced']}.")
    say(f"  Phiên bỏ phiếu: {kinds.get('monthly', 0)} phiên tháng, {kinds.get('supplementary', 0)} phiên bổ sung, "
        f"{kinds.get('quarterly', 0)} phiên quý, {kinds.get('provincial', 0)} phiên cấp tỉnh, "
        f"{kinds.get('runoff', 0)} phiên bỏ phiếu lại; {data['ballots']} phiếu.")
    say(f"  Công nhận và ghi Sổ vàng đơn vị: {data['recognised']} việc tốt; đề nghị lên tỉnh: {data['proposed']}; "
        f"ghi Sổ vàng cấp tỉnh: {data['provincial']}.")
    say(f"  Số liệu công bố: toàn tỉnh đã ghi danh {data['figures'].get('province_total', 0)} việc tốt vào Sổ vàng "
        f"cấp tỉnh kể từ {data['figures'].get('since', '')} ({data['paper']} từ sổ giấy, R22); "
        f"{sum(b['entries'] for b in unit_books)} mục trong {len(unit_books)} sổ vàng đơn vị.")
    say("  Đầu chuỗi (R15):")
    for code, book in data["books"].items():
        say(f"    {code:<10} {book['entries']:>3} mục  {book['head'] or '—'}")
    say("")
    say(f"Dữ liệu ở {settings.home}. Xem bằng trình duyệt khi chạy `SOVANG_HOME={settings.home} sovang up --port {port}`"
        " (hoặc sovang demo --serve):")
    say(f"  Sổ vàng (vinh danh):     {base}/honour-roll/  ·  {base}/honour-roll/{province}/{q}")
    say(f"  Tin cho báo chí:         {base}/feeds/{province}.atom  ·  .rss  ·  .json")
    say(f"  Thông cáo báo chí:       {base}/press/{q}.html  ·  {base}/press/{q}.pdf")
    say(f"  Số liệu:                 {base}/api/v1/figures")
    say(f"  Bảng theo dõi (R10):     {base}/dashboard/?quarter={q}")
    if scenario.tally.live_round:
        council = scenario.org.units["CAH-DM"].council
        say(f"  Phiếu bầu:               {base}/ballot/rounds/{scenario.tally.live_round}"
            f" (phiên tháng đang mở của {council})")
    say(f"  Đăng nhập tại {base}/ (Mã cán bộ, Mật khẩu):")
    for s in data.get("sign_ins", []):
        say(f"      {s['subject']:<12} {s['password']:<24} {s['who']}")


def run_demo(settings: Settings, seed: int, quarter: Quarter | None = None, port: int = 8000,
             out: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Play the quarter into ``settings.home``; returns the summary (also written to demo.json)."""
    _check_home(settings)
    started = time.monotonic()

    def say(line: str) -> None:
        text = f"[{time.monotonic() - started:5.1f} s] {line}" if line else ""
        (out or print)(text)

    doc = json.loads(ORG_FILE.read_text("utf-8"))
    org = Organisation.from_document(doc)
    today = clock.today()
    quarter = quarter or pick_quarter(today)
    if quarter.last_month.next().first_day + dt.timedelta(days=14) > today:
        raise DemoError(f"{quarter} chưa kết thúc đủ lâu: các phiên của nó kéo dài đến giữa tháng sau quý.")
    if quarter.months[0].first_day < dt.date.fromisoformat(org.since):
        raise DemoError(f"{quarter} ở trước khi chương trình bắt đầu ({org.since}).")
    settings.home.mkdir(parents=True, exist_ok=True)
    say(f"Sổ vàng lập công — chơi trọn {quarter_text(quarter)} của {org.province_name} (seed {seed}) "
        f"vào {settings.home}")
    sim = SimClock(clock.at_local(quarter.months[0].first_day - dt.timedelta(days=1), 7))
    played = settings.with_(clock=sim, ids=SeededIds(sim, seed))
    system = Embedded(played)
    try:
        with sources(played):
            scenario = Scenario(system, sim, org, doc, quarter, seed, say)
            scenario.play()
            data = summary(system, scenario, seed, quarter)
        data["sign_ins"] = demo_sign_ins(system, scenario, seed)
        (settings.home / "demo.json").write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", "utf-8")
        print_summary(data, scenario, settings, port, say)
        say(f"Xong trong {time.monotonic() - started:.1f} s; {system.delivered} thông điệp đã chuyển giữa các dịch vụ.")
        return data
    finally:
        system.close()
