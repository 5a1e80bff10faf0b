"""The thin path as a unit's system, its councils and the public drive it, through the gateway of
``sovang cluster`` only (API.md), each operation recorded in a ``History``; and the checks of the
invariant "every acknowledged deed, ballot and inscription is present exactly once"."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from faults_harness import Client, Cluster, History, Op, UnitPeople, duplicates, parallel, poll, unit_people

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def month_ago(k: int) -> tuple[str, dt.date]:
    """The month k months before this one (local), and a day in it that is not in the future."""
    today = dt.datetime.now(TZ).date()
    y, m = today.year, today.month - k
    while m < 1:
        y, m = y - 1, m + 12
    day = today if k == 0 else dt.date(y, m, 15)
    return f"{y:04d}-{m:02d}", day


def in_seconds(s: float) -> str:
    return (dt.datetime.now(TZ) + dt.timedelta(seconds=s)).isoformat(timespec="seconds")


@dataclass
class Unit:
    """One unit as the tests drive it: its people, their tokens, a client with a history."""

    cluster: Cluster
    people: UnitPeople
    history: History
    lead: str = ""
    secretary: str = ""
    members: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, cluster: Cluster, code: str, history: History | None = None) -> Unit:
        people = unit_people(code)
        u = cls(cluster, people, history or History())
        u.lead = cluster.token("subunit_lead", people.lead)
        u.secretary = cluster.token("unit_secretary", people.secretary)
        u.members = [cluster.token("council_member", m) for m in people.members]
        return u

    @property
    def client(self) -> Client:
        return Client(self.cluster.base, self.history)

    # -- intake ------------------------------------------------------------------------------------
    def record(self, n: int, month_back: int = 0, label: str = "", workers: int = 4) -> list[Op]:
        """n deeds by the sub-unit's officers (the lead records for them), each titled with its op key."""
        _, day = month_ago(month_back)

        def one(i: int) -> Op:
            officer = self.people.officers[i % len(self.people.officers)]
            client = self.client
            body = {
                "author": {"officer": officer}, "occurred_on": day.isoformat(), "kind": "good_deed",
                "relation": "direct", "title": f"Giúp dân vượt lũ ở buôn Đắk R'Moan {label}#{i}",
                "description": "Đưa bà con và tài sản ra khỏi vùng ngập an toàn trong đêm mưa lớn.",
                "place": "Đắk R'Moan",
            }
            op = client.post("deed", "/api/v1/deeds", self.lead, body)
            return op

        return parallel(one, range(n), workers)

    def introduce(self, deeds: list[Op], workers: int = 4) -> list[Op]:
        def one(op: Op) -> Op:
            return self.client.post("introduce", f"/api/v1/deeds/{op.result['id']}/introduce", self.lead, {})

        return parallel(one, [d for d in deeds if d.acknowledged], workers)

    # -- council -----------------------------------------------------------------------------------
    def open_round(self, month_back: int = 0, closes_in: float | None = None, wait_open: bool = True) -> dict:
        period, _ = month_ago(month_back)
        body: dict[str, Any] = {"council": self.people.council, "kind": "monthly", "period": period}
        if closes_in is not None:
            body["closes_at"] = in_seconds(closes_in)
        op = self.client.post("round", "/api/v1/rounds", self.secretary, body)
        assert op.status == 201, op.result
        if not wait_open:
            return op.result
        return self.wait_open(op.result["id"])

    def wait_open(self, round_id: str, timeout: float = 60) -> dict:
        got = poll(lambda: self.client.get(f"/api/v1/rounds/{round_id}", self.secretary),
                   lambda r: r.status == 200 and r.json["status"] == "open", timeout=timeout)
        assert got.status == 200 and got.json["status"] == "open", got.body
        return got.json

    def vote(self, rnd: dict, approve: int = 7, workers: int = 4) -> list[Op]:
        """Every member votes; the first ``approve`` approve every candidate, the others reject."""
        def one(i: int) -> Op:
            choice = "approve" if i < approve else "reject"
            choices = {c["id"]: choice for c in rnd["candidates"]}
            return self.client.post("ballot", f"/api/v1/rounds/{rnd['id']}/ballots", self.members[i],
                                    {"choices": choices})

        return parallel(one, range(len(self.members)), workers)

    def close(self, rnd: dict) -> dict:
        op = self.client.post("close", f"/api/v1/rounds/{rnd['id']}/close", self.secretary, {})
        assert op.status == 200, op.result
        return op.result

    def result(self, round_id: str, timeout: float = 60) -> dict:
        got = poll(lambda: self.client.get(f"/api/v1/rounds/{round_id}/result", self.secretary),
                   lambda r: r.status == 200 and r.json["status"] == "closed", timeout=timeout)
        assert got.status == 200 and got.json["status"] == "closed", got.body
        return got.json


# -- the invariant -----------------------------------------------------------------------------------
@dataclass
class Check:
    """Lost and duplicated, per kind of acknowledged operation."""

    acknowledged: Counter = field(default_factory=Counter)
    lost: Counter = field(default_factory=Counter)
    duplicated: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def add(self, kind: str, acknowledged: int, lost: int, duplicated: int, what: str = "") -> None:
        self.acknowledged[kind] += acknowledged
        self.lost[kind] += lost
        self.duplicated[kind] += duplicated
        if lost or duplicated:
            self.problems.append(f"{kind}: {lost} lost, {duplicated} duplicated {what}")

    @property
    def total_lost(self) -> int:
        return sum(self.lost.values())

    @property
    def total_duplicated(self) -> int:
        return sum(self.duplicated.values())


def check_deeds(unit: Unit, ops: list[Op], month: str, check: Check, council_counts: bool = True,
                timeout: float = 60) -> None:
    """Every acknowledged deed is in intake once (by id and by its client tag), and council
    counted it once (R10: the monthly report's ``recorded``)."""
    acked = [op for op in ops if op.kind == "deed" and op.acknowledged]
    ids = [op.result["id"] for op in acked]
    rows = unit.cluster.rows("intake", "SELECT id, title FROM deeds WHERE unit = :u AND month = :m",
                             u=unit.people.unit, m=month)
    stored = Counter(r.id for r in rows)
    titles = Counter(r.title for r in rows)
    asked_titles = {op.result["title"] for op in acked}
    lost = sum(1 for i in ids if stored[i] == 0)
    dup = duplicates(r.id for r in rows) + sum(titles[t] - 1 for t in asked_titles if titles[t] > 1)
    check.add("deeds", len(ids), lost, dup, "in intake")
    if not council_counts:
        return
    # Downstream: council's R10 count of that unit and month (its copy of each DeedRecorded).
    sec = unit.cluster.token("province_secretary", _province_secretary())

    def recorded() -> int:
        r = unit.client.get(f"/api/v1/reports/monthly?month={month}", sec)
        row = next((x for x in (r.json or {}).get("items", []) if x["unit"] == unit.people.unit), None)
        return row["recorded"] if row else 0

    seen = poll(recorded, lambda n: n >= len(rows), timeout=timeout)
    check.add("deeds@council", len(ids), max(0, len(rows) - seen), max(0, seen - len(rows)), "in council's R10 count")


def _province_secretary() -> str:
    from faults_harness import province_secretary

    return province_secretary()


def check_ballots(unit: Unit, ballots: list[Op], result: dict, check: Check) -> None:
    """Every vote of every acknowledged ballot is in the published list exactly once (R19: vote by
    vote, under receipts derived from the ballot's), and no other."""
    from services.council.domain.ballots import vote_receipt

    receipts = [op.result["receipt"] for op in ballots if op.acknowledged]
    candidates = [c["id"] for c in result["candidates"]]
    published = Counter(b["receipt"] for b in result["ballots"])
    expected = {r: [vote_receipt(r, cid) for cid in candidates] for r in receipts}
    lost = sum(1 for codes in expected.values() if any(published[c] == 0 for c in codes))
    known = {c for codes in expected.values() for c in codes}
    dup = sum(n - 1 for n in published.values() if n > 1) + sum(1 for c in published if c not in known)
    check.add("ballots", len(receipts), lost, dup)


def check_inscriptions(unit: Unit, result: dict, check: Check, timeout: float = 90) -> list[dict]:
    """Every selected deed is in the unit's golden book once, the chain verifies, and intake shows it
    recognised with that one entry."""
    selected = [c["deed_id"] for c in result["candidates"] if c["selected"]]
    book = unit.people.unit

    def entries() -> list[dict]:
        items: list[dict] = []
        cursor = None
        while True:
            r = unit.client.get(f"/api/v1/books/{book}/entries?limit=500" + (f"&cursor={cursor}" if cursor else ""))
            items += r.json["items"]
            cursor = r.json["next"]
            if not cursor:
                return items

    want = set(selected)
    got = poll(entries, lambda e: want <= {x["deed"]["id"] for x in e if x["kind"] == "inscription"}, timeout=timeout)
    counts = Counter(x["deed"]["id"] for x in got if x["kind"] == "inscription")
    lost = sum(1 for d in selected if counts[d] == 0)
    dup = sum(counts[d] - 1 for d in selected if counts[d] > 1)
    verify = unit.client.get(f"/api/v1/books/{book}/verify").json
    if not verify["valid"]:
        check.problems.append(f"book {book} chain invalid: {verify}")
    # intake learns the fate and the entry (DeedFateDecided, DeedInscribed): once each.
    lead = unit.lead

    def deed(d: str) -> dict:
        return unit.client.get(f"/api/v1/deeds/{d}", lead).json

    for d in selected:
        final = poll(lambda d=d: deed(d), lambda x: x["status"] == "recognised" and x["book_entries"], timeout=timeout)
        if final["status"] != "recognised" or len(final["book_entries"]) != 1:
            check.problems.append(f"deed {d} in intake: {final['status']} {final['book_entries']}")
    check.add("inscriptions", len(selected), lost, dup, f"in book {book}")
    return got
