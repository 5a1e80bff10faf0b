"""The council on PostgreSQL (production's database): migrations, the handshake, ballots from
concurrent members, and exactly-once closing under concurrent closes and sweeps."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from services.council import DECLARATION, runs
from services.council.app import create_app
from services.council.orm import candidate_results, decisions, tallies, voters, votes
from shared.auth import Principal
from shared.clock import Month
from shared.config import Settings
from shared.db import utcnow
from shared.messages import IntroductionsClosed
from shared.problems import as_problem
from shared.refusals import Refused
from shared.runtime import Runtime
from tests.council.conftest import (
    COUNCIL,
    MEMBERS,
    SECRETARY,
    UNIT,
    deed_copy,
    deliver,
    issue,
    make_runtime,
    outbox_messages,
    this_month,
)

pytestmark = pytest.mark.distributed


@pytest.fixture
def pg_runtime(pg_settings: Settings, org_document: dict) -> Iterator[Runtime]:
    rt = make_runtime(pg_settings, org_document)
    yield rt
    rt.db.dispose()


def open_round(runtime: Runtime, unit: str, council: str, secretary: str, month: str, n: int = 1,
               closes_at: dt.datetime | None = None) -> dict:
    data = {"council": council, "kind": "monthly", "period": month}
    if closes_at:
        data["closes_at"] = closes_at
    rnd = runs.open_round(runtime, Principal("unit_secretary", secretary), data)
    deeds = [deed_copy(unit=unit, month=month, author={"officer": f"{unit}-0020", "name": "X"}) for _ in range(n)]
    deliver(runtime, IntroductionsClosed(round_id=rnd["id"], unit=unit, month=month, recorded=n, deeds=deeds))
    return runs.get_round_view(runtime, rnd["id"])


def count(runtime: Runtime, table: sa.Table) -> int:
    with runtime.db.reading() as s:
        return s.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def test_the_api_on_postgresql(pg_runtime: Runtime) -> None:
    assert DECLARATION.load_org(pg_runtime, pg_runtime.orgs.require().document) is False
    client = create_app(runtime=pg_runtime).test_client()
    sec = issue(pg_runtime, "unit_secretary", SECRETARY)
    r = client.post("/api/v1/rounds", json={"council": COUNCIL, "kind": "monthly", "period": this_month()}, headers=sec)
    assert r.status_code == 201, r.get_json()
    rnd = r.get_json()
    assert client.post("/api/v1/rounds", json={"council": COUNCIL, "kind": "monthly", "period": this_month()},
                       headers=sec).status_code == 409
    deliver(pg_runtime, IntroductionsClosed(round_id=rnd["id"], unit=UNIT, month=this_month(), recorded=1,
                                            deeds=[deed_copy()]))
    rnd = client.get(f"/api/v1/rounds/{rnd['id']}", headers=sec).get_json()
    assert rnd["status"] == "open" and rnd["entitled"] == 7

    def cast(member: str) -> None:
        headers = issue(pg_runtime, "council_member", member)
        r = client.post(f"/api/v1/rounds/{rnd['id']}/ballots", headers=headers,
                        json={"choices": {rnd["candidates"][0]["id"]: "approve"}})
        assert r.status_code == 201, r.get_json()

    threads = [threading.Thread(target=cast, args=(m,)) for m in MEMBERS]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with pg_runtime.db.reading() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(voters)).scalar_one() == 7
        # R19: every ballot and voter row was rewritten by the last ballot's transaction, so the
        # transaction ids (xmin) pair nobody with their ballot.
        xmins = {x for (x,) in s.execute(sa.text("SELECT xmin::text FROM votes UNION SELECT xmin::text FROM voters"))}
        assert len(xmins) == 1
    result = client.post(f"/api/v1/rounds/{rnd['id']}/close", headers=sec)
    assert result.status_code == 200
    assert result.get_json()["candidates"][0]["ratio"] == "7/7"
    assert result.get_json()["decision"]["number"] == f"1/QĐ-{UNIT}"
    assert len(outbox_messages(pg_runtime, "book.inscribe")) == 1
    report = client.get(f"/api/v1/reports/monthly?month={this_month()}", headers=sec).get_json()
    assert report["items"] == [{"unit": UNIT, "month": this_month(), "recorded": 1, "introduced": 1, "candidates": 1,
                                "recognised": 1, "revoked": 0, "quota_met": True}]
    pdf = client.get(f"/api/v1/rounds/{rnd['id']}/minutes.pdf", headers=sec)
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")


def test_concurrent_closes_and_sweeps_tally_once(pg_runtime: Runtime) -> None:
    """Many rounds falling due, several workers sweeping and secretaries closing at once: one tally
    each, none twice, decision numbers unique per unit."""
    org = pg_runtime.orgs.require()
    # The deadline is passed to the sweeps as ``now``, never waited for: it lies far enough ahead
    # that opening fifty rounds and casting their ballots on a busy machine stays before it (R20).
    soon = utcnow() + dt.timedelta(hours=1)
    months = [str(Month(2025, m)) for m in range(1, 6)]
    rounds_ = []
    for unit in list(org.units.values())[:10]:
        for month in months:
            rounds_.append((unit, open_round(pg_runtime, unit.code, unit.council, unit.secretary, month,
                                             closes_at=soon)))
    for unit, rnd in rounds_:
        for member in org.councils[unit.council].members:
            runs.cast_ballot(pg_runtime, Principal("council_member", member), rnd["id"],
                                 {rnd["candidates"][0]["id"]: "approve"})
    later = soon + dt.timedelta(seconds=1)
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def sweep() -> None:
        barrier.wait()
        try:
            runs.close_due_rounds(pg_runtime, now=later)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    def close_all() -> None:
        barrier.wait()
        for unit, rnd in rounds_:
            try:
                runs.close_round(pg_runtime, Principal("unit_secretary", unit.secretary), rnd["id"])
            except Refused as exc:
                assert as_problem(exc).status == 409

    threads = [threading.Thread(target=sweep) for _ in range(4)] + [threading.Thread(target=close_all) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert count(pg_runtime, tallies) == len(rounds_) == 50
    assert count(pg_runtime, candidate_results) == 50
    assert len(outbox_messages(pg_runtime, "book.inscribe")) == 50
    with pg_runtime.db.reading() as s:
        numbers = s.execute(sa.select(decisions.c.issuer, decisions.c.seq)).all()
    by_unit: dict[str, list[int]] = {}
    for issuer, seq in numbers:
        by_unit.setdefault(issuer, []).append(seq)
    assert all(sorted(seqs) == [1, 2, 3, 4, 5] for seqs in by_unit.values()), by_unit
    assert count(pg_runtime, votes) == 50 * 7  # one candidate each


def test_concurrent_openings_make_one_round(pg_runtime: Runtime) -> None:
    who = Principal("unit_secretary", SECRETARY)
    barrier = threading.Barrier(4)
    outcomes: list[object] = []

    def open_it() -> None:
        barrier.wait()
        try:
            outcomes.append(runs.open_round(pg_runtime, who, {"council": COUNCIL, "kind": "monthly",
                                                                  "period": this_month()})["id"])
        except Refused as exc:
            outcomes.append(as_problem(exc).status)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(o for o in outcomes if isinstance(o, int)) == [409, 409, 409]
    assert len(outbox_messages(pg_runtime, "intake.close_introductions")) == 1
