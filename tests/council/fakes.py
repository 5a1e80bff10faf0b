"""The council's unit of work held in memory (cosmicpython's ``FakeUnitOfWork``): the same
repositories as ``services.council.work.Work`` — councils, rounds, candidates and their rolls,
ballots, outcomes, recognitions, dossiers, counts and views — over lists and dicts, so that a use
case runs without a database. What it wrote, emitted and recorded is there to look at; it never
commits (the entrypoint would). ``reading`` is itself: a fake has one view of its data."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from types import SimpleNamespace
from typing import Any

from services.council import queries
from services.council.closing import Counted
from services.council.domain.ballots import Vote
from services.council.domain.rounds import (
    CANCELLED,
    CLOSED,
    OPEN,
    OPENING,
    QUARTERLY,
    REFERRAL,
    Candidate,
    CouncilRules,
    Round,
)
from services.council.domain.tally import Tally
from services.council.repository import Taken
from tests.fake_work import FakeUnitOfWork


class FakeCouncils:
    def __init__(self) -> None:
        self.by_code: dict[str, CouncilRules] = {}
        self.memberships: dict[str, list[str]] = {}

    def get(self, code: str) -> CouncilRules | None:
        return self.by_code.get(code)

    def members(self, code: str) -> list[str]:
        return sorted(self.memberships.get(code, []))

    def has_member(self, code: str, officer: str) -> bool:
        return officer in self.memberships.get(code, [])

    def of_member(self, officer: str) -> list[str]:
        return [c for c, members in self.memberships.items() if officer in members]

    def of_secretary(self, officer: str) -> list[str]:
        return [c.code for c in self.by_code.values() if c.secretary == officer]

    def replace(self, every: list[CouncilRules], memberships: list[tuple[str, str]]) -> None:
        self.by_code = {c.code: c for c in every}
        self.memberships = defaultdict(list)
        for code, member in memberships:
            self.memberships[code].append(member)


class FakeRounds:
    def __init__(self) -> None:
        self.by_id: dict[str, Round] = {}
        self.locked: list[str] = []  # the rounds read ``FOR UPDATE``, in order
        self.unsent: set[str] = set()  # rounds whose CloseIntroductions the relay has not sent

    def get(self, round_id: str, lock: bool = False) -> Round | None:
        if lock and round_id in self.by_id:
            self.locked.append(round_id)
        return self.by_id.get(round_id)

    def by_key(self, natural_key: str) -> Round | None:
        return next((r for r in self.by_id.values() if r.natural_key == natural_key), None)

    def cancelled_by_secretary(self, council_code: str, kind: str, period: str) -> bool:
        return any(r.council == council_code and r.kind == kind and r.period == period and r.status == CANCELLED
                   and not r.found_empty for r in self.by_id.values())

    def add(self, rnd: Round) -> None:
        if any(r.natural_key == rnd.natural_key for r in self.by_id.values()):  # the table's unique key
            raise Taken(rnd.natural_key)
        self.by_id[rnd.id] = rnd

    def change(self, round_id: str, **values: Any) -> None:
        self.by_id[round_id] = dataclasses.replace(self.by_id[round_id], **values)

    def close_if_open(self, round_id: str, due_by: dt.datetime | None = None) -> bool:
        rnd = self.by_id.get(round_id)
        if rnd is None or rnd.status != OPEN or (due_by is not None and rnd.closes_at > due_by):
            return False
        self.change(round_id, status=CLOSED)
        return True

    def cancel_if_open(self, round_id: str, natural_key: str) -> bool:
        if self.by_id[round_id].status != OPEN:
            return False
        self.change(round_id, status=CANCELLED, natural_key=natural_key)
        return True

    def live(self, lock: bool = False) -> list[Round]:
        found = [self.by_id[i] for i in sorted(self.by_id) if self.by_id[i].status in (OPENING, OPEN)]
        if lock:
            self.locked.extend(r.id for r in found)
        return found

    def due(self, now: dt.datetime) -> list[str]:
        return [r.id for r in sorted(self.by_id.values(), key=lambda r: r.closes_at)
                if r.status == OPEN and r.closes_at <= now]

    def quarterly_pending(self, quarter: str) -> bool:
        return any(r.kind == QUARTERLY and r.period == quarter and r.status not in (CLOSED, CANCELLED)
                   for r in self.by_id.values())

    def page(self, councils_seen: list[str] | None, filters: dict[str, str], limit: int,
             after: str | None) -> list[Round]:
        found = [r for _, r in sorted(self.by_id.items())
                 if (r.council == filters["council"] if "council" in filters
                     else councils_seen is None or r.council in councils_seen)
                 and all(getattr(r, name) == filters[name] for name in ("status", "period", "kind") if name in filters)
                 and (after is None or r.id > after)]
        return found[:limit]

    def asked_intake(self, round_id: str) -> bool:
        return round_id in self.unsent


class FakeCandidates:
    def __init__(self, rounds: FakeRounds) -> None:
        self._rounds = rounds
        self.by_id: dict[str, Candidate] = {}
        self.entitlements: set[tuple[str, str, str]] = set()  # (round, member, candidate)

    def of(self, round_id: str) -> list[Candidate]:
        return sorted((c for c in self.by_id.values() if c.round_id == round_id), key=lambda c: c.position)

    def add(self, round_id: str, added: list[Candidate], entitled: list[tuple[str, str]]) -> None:
        for c in added:
            # The table's unique (round, deed).
            assert not any(o.round_id == c.round_id and o.deed_id == c.deed_id for o in self.by_id.values())
            self.by_id[c.id] = c
        self.entitlements |= {(round_id, member, cid) for member, cid in entitled}

    def next_position(self, round_id: str) -> int:
        return max((c.position + 1 for c in self.of(round_id)), default=0)

    def referred(self, deed_ids: list[str]) -> set[str]:
        return {c.deed_id for c in self.by_id.values()
                if c.deed_id in deed_ids and self._rounds.by_id[c.round_id].kind == REFERRAL}

    def withdraw(self, deed_id: str) -> list[str]:
        found = [c for c in self.by_id.values() if c.deed_id == deed_id and not c.withdrawn
                 and self._rounds.by_id[c.round_id].status in (OPENING, OPEN)]
        for c in found:
            self.by_id[c.id] = dataclasses.replace(c, withdrawn=True)
            self._rounds.locked.append(c.round_id)
        return [c.round_id for c in found]

    def entitled_counts(self, round_id: str, candidate_ids: Iterable[str] | None = None) -> dict[str, int]:
        ids = [c.id for c in self.of(round_id)] if candidate_ids is None else list(candidate_ids)
        return {cid: sum(1 for r, _, c in self.entitlements if r == round_id and c == cid) for cid in ids}

    def entitled_to(self, round_id: str, member: str) -> set[str]:
        return {c for r, m, c in self.entitlements if r == round_id and m == member and not self.by_id[c].withdrawn}

    def roll(self, round_id: str, candidate_ids: Iterable[str] | None = None) -> dict[str, set[str]]:
        wanted = None if candidate_ids is None else set(candidate_ids)
        out: dict[str, set[str]] = defaultdict(set)
        for r, m, c in self.entitlements:
            if r == round_id and (wanted is None or c in wanted):
                out[c].add(m)
        return out

    def on_roll(self, round_id: str) -> set[str]:
        return {m for r, m, _ in self.entitlements if r == round_id}

    def strike(self, round_id: str, leaving: set[str]) -> None:
        self.entitlements = {(r, m, c) for r, m, c in self.entitlements if not (r == round_id and m in leaving)}

    def waiting_for(self, round_id: str) -> int:
        return len({m for r, m, c in self.entitlements if r == round_id and not self.by_id[c].withdrawn})


class FakeBallots:
    def __init__(self) -> None:
        self.voted: dict[str, set[str]] = defaultdict(set)
        self.cast_votes: list[Vote] = []
        self.answers: list[dt.datetime] = []  # when each sealed answer was kept
        self.reshuffled: list[str] = []

    def has_voted(self, round_id: str, member: str) -> bool:
        return member in self.voted[round_id]

    def count(self, rnd: Round) -> int:
        return (rnd.paper_ballots or 0) if rnd.paper else len(self.voted[rnd.id])

    def voters(self, round_id: str) -> list[str]:
        return sorted(self.voted[round_id])

    def votes(self, round_id: str) -> list[Vote]:
        return sorted((v for v in self.cast_votes if v.round_id == round_id), key=lambda v: v.receipt)

    def receipts(self, round_id: str) -> set[str]:
        return {v.receipt for v in self.votes(round_id)}

    def cast(self, round_id: str, cast: list[Vote], voter: str | None) -> None:
        if voter is not None and voter in self.voted[round_id]:
            raise Taken(voter)
        assert not {v.receipt for v in cast} & self.receipts(round_id)  # (round, receipt) is unique
        self.cast_votes.extend(cast)
        if voter is not None:
            self.voted[round_id].add(voter)
        self.reshuffled.append(round_id)

    def drop_votes(self, round_id: str) -> None:
        self.cast_votes = [v for v in self.cast_votes if v.round_id != round_id]

    def forget_answers(self, before: dt.datetime) -> int:
        kept = [at for at in self.answers if at >= before]
        forgotten = len(self.answers) - len(kept)
        self.answers = kept
        return forgotten


class FakeOutcomes:
    def __init__(self) -> None:
        self.tallies: dict[str, Tally] = {}
        self.results: dict[tuple[str, str], dict[str, Any]] = {}
        self.decisions: list[dict[str, Any]] = []

    def tally(self, round_id: str) -> Tally | None:
        return self.tallies.get(round_id)

    def record(self, closed: Tally, counted: list[dict[str, Any]]) -> None:
        assert closed.round_id not in self.tallies  # one tally per round (R20)
        self.tallies[closed.round_id] = closed
        for row in counted:
            self.results[(row["round_id"], row["candidate_id"])] = row

    def last_decision(self, issuer: str, year: int) -> int:
        return max((d["seq"] for d in self.decisions if d["issuer"] == issuer and d["year"] == year), default=0)

    def add_decision(self, **values: Any) -> None:
        assert not any(d["number"] == values["number"] or d["round_id"] == values["round_id"]
                       for d in self.decisions)
        self.decisions.append(values)


class FakeRecognitions:
    def __init__(self) -> None:
        self.by_deed: dict[str, dict[str, Any]] = {}
        self.revocations: dict[str, dict[str, Any]] = {}

    def add(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            assert row["deed_id"] not in self.by_deed
            self.by_deed[row["deed_id"]] = {**row, "proposed_in": None}

    def of(self, deed_ids: list[str]) -> dict[str, Any]:
        return {d: SimpleNamespace(**self.by_deed[d]) for d in deed_ids if d in self.by_deed}

    def unproposed(self, unit: str, months: list[str]) -> list[dict]:
        found = [r for r in self.by_deed.values()
                 if r["unit"] == unit and r["month"] in months and r["proposed_in"] is None]
        return [r["deed"] for r in sorted(found, key=lambda r: (r["recognised_at"], r["deed_id"]))]

    def proposed(self, deed_ids: list[str], round_id: str) -> None:
        for d in deed_ids:
            self.by_deed[d]["proposed_in"] = round_id

    def month_of(self, deed_id: str) -> str | None:
        return self.by_deed[deed_id]["month"] if deed_id in self.by_deed else None

    def revoked(self, deed_ids: Iterable[str]) -> set[str]:
        return {d for d in deed_ids if d in self.revocations}

    def revoke(self, **values: Any) -> None:
        assert values["deed_id"] not in self.revocations
        self.revocations[values["deed_id"]] = values


class FakeDossiers:
    def __init__(self) -> None:
        self.received_: list[dict[str, Any]] = []
        self.on_their_way: dict[str, int] = {}  # quarter → dossiers sent and not received yet

    def of_quarter(self, quarter: str) -> list[tuple[dict, str]]:
        return [(d["deed"], d["id"]) for d in self.received_ if d["quarter"] == quarter]

    def received(self, deed_id: str) -> bool:
        return any(d["deed_id"] == deed_id for d in self.received_)

    def add(self, **values: Any) -> None:
        self.received_.append(values)

    def in_flight(self, quarter: str) -> int:
        return self.on_their_way.get(quarter, 0)


class FakeCounts:
    def __init__(self) -> None:
        self.tracked: dict[str, dict[str, Any]] = {}

    def track(self, deeds: Iterable[tuple[str, str, str]], introduced: bool) -> None:
        for deed_id, unit, month in deeds:
            known = self.tracked.setdefault(deed_id, {"unit": unit, "month": month, "introduced": introduced})
            known["introduced"] = known["introduced"] or introduced


class FakeViews:
    """A round and its result as the views need them; a closed round's result through the same
    ``queries.closed_result`` the database's views use, from what the fake's close recorded."""

    def __init__(self, work: FakeWork) -> None:
        self._w = work

    def round(self, rnd: Round) -> dict[str, Any]:
        return {**dataclasses.asdict(rnd), "voted": self._w.ballots.count(rnd),
                "candidates": [dataclasses.asdict(c) for c in self._w.candidates.of(rnd.id)]}

    def result(self, rnd: Round) -> dict[str, Any]:
        tally = self._w.outcomes.tally(rnd.id) if rnd.status == CLOSED else None
        cands = self._w.candidates.of(rnd.id)
        if tally is None:
            return {"round": rnd.id, "status": rnd.status, "ballots": [],
                    "candidates": [{"id": c.id, "approve": None} for c in cands]}
        results = self._w.outcomes.results
        counted = [(c, Counted(**{k: v for k, v in results[(rnd.id, c.id)].items()
                                   if k not in ("round_id", "candidate_id")})) for c in cands]
        decision = ({"number": tally.decision_number, "date": tally.decision_date}
                    if tally.decision_number else None)
        return queries.closed_result(rnd, counted, self._w.ballots.votes(rnd.id), decision, tally.runoff_round_id,
                                     tally.quota_met)

    def units_with_month(self, month: str, exclude: set[str]) -> list[str]:
        found = {t["unit"] for t in self._w.counts.tracked.values() if t["month"] == month}
        found |= {r.unit for r in self._w.rounds.by_id.values() if r.period == month}
        return sorted(found - exclude)

    def monthly_summary(self, units: list[str], month: str) -> list[dict[str, Any]]:
        return [{"unit": u, "month": month,
                 "recorded": sum(1 for t in self._w.counts.tracked.values() if t["unit"] == u and t["month"] == month)}
                for u in units]


class FakeWork(FakeUnitOfWork):
    """What a use case of the council is given as its unit of work."""

    def __init__(self) -> None:
        super().__init__()
        self.councils = FakeCouncils()
        self.rounds = FakeRounds()
        self.candidates = FakeCandidates(self.rounds)
        self.ballots = FakeBallots()
        self.outcomes = FakeOutcomes()
        self.recognitions = FakeRecognitions()
        self.dossiers = FakeDossiers()
        self.counts = FakeCounts()
        self.views = FakeViews(self)
        self.reading = self
