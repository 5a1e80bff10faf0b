"""R20a through the API: the secretary moves a deadline (PATCH), cancels a round opened by mistake
before any ballot (its candidates free again, the period can be opened anew), sees how many have
voted and never who, and replaces a paper count before the close — each refused where API.md
says. Across the services, a cancelled monthly round gives intake its month back."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from services.council import runs
from services.council.app import create_app
from services.council.orm import voters, votes
from shared import clock
from shared.auth import Principal
from shared.clock import Month
from shared.db import utcnow
from shared.problems import as_problem
from shared.refusals import Refused
from shared.runtime import Runtime
from tests.council.conftest import (
    COUNCIL,
    MEMBERS,
    SECRETARY,
    deed_copy,
    in_future,
    issue,
    make_runtime,
    open_monthly,
    outbox_messages,
    this_month,
    vote,
)
from tests.flow.flow_harness import Flow, previous_month
from tests.intake.conftest import deed_body, people_of

PROBLEM = "application/problem+json"


def earlier_month() -> str:
    return str(Month.of(Month.of(clock.today()).first_day - dt.timedelta(days=1)))


# -- PATCH: the deadline -----------------------------------------------------------------------------
def test_the_secretary_moves_the_deadline_of_an_open_round(client, runtime, secretary, members, auth) -> None:
    rnd = open_monthly(client, secretary, runtime, [deed_copy()])
    path = f"/api/v1/rounds/{rnd['id']}"
    later = (clock.now() + dt.timedelta(days=3)).replace(microsecond=0)
    r = client.patch(path, json={"closes_at": later.isoformat()}, headers=secretary)
    assert r.status_code == 200, r.get_json()
    moved = r.get_json()
    assert dt.datetime.fromisoformat(moved["closes_at"]) == later and moved["closes_at"].endswith("+07:00")
    assert set(moved) >= {"id", "status", "closes_at", "entitled", "voted", "candidates"}
    assert client.get(path, headers=secretary).get_json()["closes_at"] == moved["closes_at"]

    # Refusals: nothing changes.
    for body, field in (({"closes_at": clock.isoformat(utcnow() - dt.timedelta(minutes=1))}, "closes_at"),
                        ({"closes_at": "2030-01-01T10:00:00"}, "closes_at"),
                        ({"closes_at": "tomorrow"}, "closes_at"),
                        ({}, "closes_at"),
                        ({"closes_at": in_future(days=1), "status": "closed"}, "status")):
        bad = client.patch(path, json=body, headers=secretary)
        assert bad.status_code == 422 and bad.mimetype == PROBLEM and field in bad.get_json()["errors"], bad.get_json()
    assert client.patch(path, json={"closes_at": in_future(days=1)}).status_code == 401
    assert client.patch(path, json={"closes_at": in_future(days=1)}, headers=members[MEMBERS[0]]).status_code == 403
    assert client.patch(path, json={"closes_at": in_future(days=1)},
                        headers=auth("unit_secretary", "CAH-DM-0008")).status_code == 403
    assert client.patch("/api/v1/rounds/nope", json={"closes_at": in_future(days=1)}, headers=secretary).status_code == 404
    assert client.get(path, headers=secretary).get_json()["closes_at"] == moved["closes_at"]

    # Brought forward: the schedule closes it at the new deadline (R20).
    soon = utcnow() + dt.timedelta(minutes=5)
    assert client.patch(path, json={"closes_at": clock.isoformat(soon)}, headers=secretary).status_code == 200
    assert runs.close_due_rounds(runtime, now=soon - dt.timedelta(seconds=1)) == []
    assert runs.close_due_rounds(runtime, now=soon + dt.timedelta(seconds=1)) == [rnd["id"]]
    closed = client.patch(path, json={"closes_at": in_future(days=1)}, headers=secretary)
    assert closed.status_code == 409 and closed.mimetype == PROBLEM


# -- cancel ------------------------------------------------------------------------------------------
def test_a_round_opened_by_mistake_is_cancelled_and_its_month_opened_anew(client, runtime, secretary, members) -> None:
    deeds = [deed_copy(), deed_copy(title="Hiến máu cứu người")]
    rnd = open_monthly(client, secretary, runtime, deeds)
    path = f"/api/v1/rounds/{rnd['id']}"
    assert client.post(f"{path}/cancel", headers=members[MEMBERS[0]]).status_code == 403
    assert client.post(f"{path}/cancel").status_code == 401
    r = client.post(f"{path}/cancel", headers={**secretary, "Idempotency-Key": "cancel-1"})
    assert r.status_code == 200, r.get_json()
    cancelled = r.get_json()
    assert (cancelled["id"], cancelled["status"], cancelled["voted"]) == (rnd["id"], "cancelled", 0)
    replay = client.post(f"{path}/cancel", headers={**secretary, "Idempotency-Key": "cancel-1"})
    assert replay.status_code == 200 and replay.data == r.data
    # intake is told to take introductions for the month again, in the same transaction.
    (env,) = outbox_messages(runtime, "intake.reopen_introductions")
    assert env["payload"] == {"round_id": rnd["id"], "unit": rnd["council"].removeprefix("HD-"), "month": this_month()}

    # Final: no ballot, no close, no other deadline, no second cancel.
    assert vote(client, rnd, members[MEMBERS[0]], "approve").status_code == 409
    assert client.post(f"{path}/close", headers=secretary).status_code == 409
    assert client.patch(path, json={"closes_at": in_future(days=1)}, headers=secretary).status_code == 409
    assert client.post(f"{path}/cancel", headers=secretary).status_code == 409
    papers = {"voters": 1, "ballots": [{"choices": {rnd["candidates"][0]["id"]: "approve"}}]}
    assert client.post(f"{path}/paper-ballots", json=papers, headers=secretary).status_code == 409
    listed = client.get(f"/api/v1/rounds?council={COUNCIL}&status=cancelled", headers=secretary).get_json()
    assert [x["id"] for x in listed["items"]] == [rnd["id"]]

    # The same period opens anew, with the same deeds (intake answers again), and counts once.
    again = open_monthly(client, secretary, runtime, deeds)
    assert again["id"] != rnd["id"] and again["status"] == "open"
    assert [c["deed_id"] for c in again["candidates"]] == [d["id"] for d in deeds]
    for m in MEMBERS:
        assert vote(client, again, members[m], "approve").status_code == 201
    assert client.post(f"/api/v1/rounds/{again['id']}/close", headers=secretary).status_code == 200
    report = client.get(f"/api/v1/reports/monthly?month={this_month()}", headers=secretary).get_json()["items"][0]
    assert (report["candidates"], report["recognised"], report["quota_met"]) == (2, 2, True)


def test_the_calendar_leaves_a_cancelled_period_to_its_secretary(client, runtime, secretary) -> None:
    """R21 + R20a: the calendar opens last month's rounds, but not one its secretary cancelled."""
    month = earlier_month()
    rnd = open_monthly(client, secretary, runtime, [deed_copy(month=month)], period=month)
    assert client.post(f"/api/v1/rounds/{rnd['id']}/cancel", headers=secretary).status_code == 200
    opened = runs.open_due_rounds(runtime)
    assert opened  # the other councils' rounds of that month
    mine = client.get(f"/api/v1/rounds?council={COUNCIL}&period={month}", headers=secretary).get_json()["items"]
    assert [(x["id"], x["status"]) for x in mine] == [(rnd["id"], "cancelled")]


def test_a_round_still_opening_is_not_cancelled(client, secretary) -> None:
    r = client.post("/api/v1/rounds", json={"council": COUNCIL, "kind": "monthly", "period": this_month()},
                    headers=secretary)
    assert r.get_json()["status"] == "opening"
    assert client.post(f"/api/v1/rounds/{r.get_json()['id']}/cancel", headers=secretary).status_code == 409


def test_a_round_with_a_ballot_cannot_be_cancelled(client, runtime, secretary, members) -> None:
    rnd = open_monthly(client, secretary, runtime, [deed_copy()])
    assert vote(client, rnd, members[MEMBERS[2]], "reject").status_code == 201
    r = client.post(f"/api/v1/rounds/{rnd['id']}/cancel", headers=secretary)
    assert r.status_code == 409 and r.mimetype == PROBLEM
    assert client.get(f"/api/v1/rounds/{rnd['id']}", headers=secretary).get_json()["status"] == "open"
    assert outbox_messages(runtime, "intake.reopen_introductions") == []

    paper = open_monthly(client, secretary, runtime, [deed_copy(month=earlier_month())], period=earlier_month())
    counted = {"voters": 1, "ballots": [{"choices": {paper["candidates"][0]["id"]: "approve"}}]}
    assert client.post(f"/api/v1/rounds/{paper['id']}/paper-ballots", json=counted, headers=secretary).status_code == 201
    assert client.post(f"/api/v1/rounds/{paper['id']}/cancel", headers=secretary).status_code == 409


def test_a_cancelled_quarterly_round_leaves_its_deeds_free(client, runtime, secretary, members) -> None:
    """R11 + R20a: the recognised deeds of the quarter are candidates of the round opened anew."""
    month = earlier_month()
    monthly = open_monthly(client, secretary, runtime, [deed_copy(month=month), deed_copy(month=month)], period=month)
    for m in MEMBERS:
        vote(client, monthly, members[m], "approve")
    assert client.post(f"/api/v1/rounds/{monthly['id']}/close", headers=secretary).status_code == 200
    quarter = str(Month.parse(month).quarter)
    body = {"council": COUNCIL, "kind": "quarterly", "period": quarter}
    first = client.post("/api/v1/rounds", json=body, headers=secretary).get_json()
    assert client.post(f"/api/v1/rounds/{first['id']}/cancel", headers=secretary).get_json()["status"] == "cancelled"
    assert outbox_messages(runtime, "intake.reopen_introductions") == []  # nothing of intake's to undo
    second = client.post("/api/v1/rounds", json=body, headers=secretary)
    assert second.status_code == 201, second.get_json()
    assert sorted(c["deed_id"] for c in second.get_json()["candidates"]) == sorted(
        c["deed_id"] for c in first["candidates"])


def test_a_runoff_opened_by_a_close_is_not_the_secretarys_to_cancel(runtime) -> None:
    with runtime.db.unit_of_work() as uow:
        from services.council.orm import rounds

        now = utcnow()
        uow.session.execute(rounds.insert().values(
            id="runoff-1", natural_key="runoff:x", council=COUNCIL, unit="CATP-GN", kind="runoff", period=this_month(),
            status="open", opens_at=now, closes_at=now + dt.timedelta(days=1), created_at=now, opened_by="system",
            threshold_percent=80, base="entitled", cap=None, open_ballots=False, entitled=7, paper=False))
        uow.commit()
    with pytest.raises(Refused) as refused:
        runs.cancel_round(runtime, Principal("unit_secretary", SECRETARY), "runoff-1")
    assert as_problem(refused.value).status == 409


# -- voted: how many, never who ----------------------------------------------------------------------
def test_the_secretary_sees_how_many_have_voted_never_who(client, runtime, secretary, members) -> None:
    rnd = open_monthly(client, secretary, runtime, [deed_copy()])
    path = f"/api/v1/rounds/{rnd['id']}"
    for n, m in enumerate(MEMBERS[:4], 1):
        vote(client, rnd, members[m], "approve")
        got = client.get(path, headers=secretary)
        assert got.get_json()["voted"] == n and got.get_json()["entitled"] == 7
        assert not any(x in got.get_data(as_text=True) for x in MEMBERS)
        listed = client.get(f"/api/v1/rounds?council={COUNCIL}", headers=secretary)
        assert not any(x in listed.get_data(as_text=True) for x in MEMBERS)


# -- across the services: intake gets its month back -------------------------------------------------
@pytest.fixture(params=["embedded", "distributed"])
def flow(request: pytest.FixtureRequest, org_document: dict) -> Iterator[Flow]:
    if request.param == "distributed":
        request.applymarker(pytest.mark.distributed)
        settings = request.getfixturevalue("pg_settings")
    else:
        settings = request.getfixturevalue("sqlite_settings")
    f = Flow(settings, org_document)
    yield f
    f.close()


def record(flow: Flow, headers: dict[str, str], officer: str, title: str, day: Any) -> dict[str, Any]:
    body = deed_body({"officer": officer}, title=title, occurred_on=day.isoformat())
    return flow.post("intake", "/api/v1/deeds", headers, body, 201).get_json()


def test_cancelling_a_monthly_round_gives_intake_its_month_back(flow: Flow, org_document) -> None:
    """R20a across the services: the deeds the cancelled round took are introduced again, the month
    takes introductions as before (not carried over, R5a), a deed carried into the cancelled round
    is carried again, and the month's round opened anew takes them all — once, whatever is
    delivered twice."""
    p = people_of(org_document)
    secretary = flow.token("unit_secretary", p.secretary)
    last, day = previous_month()
    month = clock.today().strftime("%Y-%m")
    earlier = record(flow, secretary, p.officer, "Việc của tháng trước, giới thiệu muộn", day)
    # The calendar opens last month's round (empty) and it closes; the late introduction is
    # carried over (R5a).
    first = flow.open_by_calendar(p.council, p.secretary, "monthly", last)
    flow.pump()
    assert flow.get("council", f"/api/v1/rounds/{first['id']}", secretary)["status"] == "closed"
    assert flow.post("intake", f"/api/v1/deeds/{earlier['id']}/introduce", secretary, {}, 200).get_json()[
        "carried_over"] is True
    own = record(flow, secretary, p.officer, "Việc của tháng này", clock.today())
    flow.post("intake", f"/api/v1/deeds/{own['id']}/introduce", secretary, {}, 200)

    mistaken = flow.post("council", "/api/v1/rounds", secretary,
                         {"council": p.council, "kind": "monthly", "period": month}, 201).get_json()
    flow.pump()
    mistaken = flow.get("council", f"/api/v1/rounds/{mistaken['id']}", secretary)
    assert {c["deed_id"] for c in mistaken["candidates"]} == {earlier["id"], own["id"]}
    assert flow.get("intake", f"/api/v1/deeds/{own['id']}", secretary)["status"] == "in_round"

    r = flow.post("council", f"/api/v1/rounds/{mistaken['id']}/cancel", secretary, {}, 200)
    assert r.get_json()["status"] == "cancelled"
    flow.pump()
    for deed in (earlier, own):
        assert flow.get("intake", f"/api/v1/deeds/{deed['id']}", secretary)["status"] == "introduced"
    # The month takes introductions as it did before the round opened.
    third = record(flow, secretary, p.colleague, "Giới thiệu sau khi huỷ phiên", clock.today())
    answer = flow.post("intake", f"/api/v1/deeds/{third['id']}/introduce", secretary, {}, 200).get_json()
    assert (answer["status"], answer["carried_over"]) == ("introduced", False)

    anew = flow.post("council", "/api/v1/rounds", secretary,
                     {"council": p.council, "kind": "monthly", "period": month}, 201).get_json()
    flow.pump()
    anew = flow.get("council", f"/api/v1/rounds/{anew['id']}", secretary)
    assert anew["status"] == "open"
    assert sorted(c["deed_id"] for c in anew["candidates"]) == sorted([earlier["id"], own["id"], third["id"]])
    assert {c["deed_id"]: c["carried_over"] for c in anew["candidates"]}[earlier["id"]] is True
    assert flow.redeliver_everything() == 0
    for deed in (earlier, own, third):
        assert flow.get("intake", f"/api/v1/deeds/{deed['id']}", secretary)["status"] == "in_round"


def test_a_late_reopening_never_undoes_the_round_opened_anew(flow: Flow, org_document) -> None:
    """The month's round opened anew is answered by intake before the cancelled round's message
    arrives: the month stays closed by the new round, which keeps its deeds."""
    p = people_of(org_document)
    secretary = flow.token("unit_secretary", p.secretary)
    month = clock.today().strftime("%Y-%m")
    own = record(flow, secretary, p.officer, "Việc của tháng này", clock.today())
    flow.post("intake", f"/api/v1/deeds/{own['id']}/introduce", secretary, {}, 200)
    body = {"council": p.council, "kind": "monthly", "period": month}
    mistaken = flow.post("council", "/api/v1/rounds", secretary, body, 201).get_json()
    flow.pump()
    flow.post("council", f"/api/v1/rounds/{mistaken['id']}/cancel", secretary, {}, 200)
    anew = flow.post("council", "/api/v1/rounds", secretary, body, 201).get_json()
    flow.pump(skip=("intake.reopen_introductions",))
    flow.pump()
    anew = flow.get("council", f"/api/v1/rounds/{anew['id']}", secretary)
    assert [c["deed_id"] for c in anew["candidates"]] == [own["id"]]
    assert flow.get("intake", f"/api/v1/deeds/{own['id']}", secretary)["status"] == "in_round"
    late = record(flow, secretary, p.colleague, "Giới thiệu khi phiên mới đã mở", clock.today())
    assert flow.post("intake", f"/api/v1/deeds/{late['id']}/introduce", secretary, {}, 200).get_json()[
        "carried_over"] is True


def _race(runtime: Runtime, rnd: dict[str, Any], sec: dict[str, str], tokens: list[dict[str, str]]) -> dict[str, int]:
    """The secretary's cancel and members' ballots, released at once; each one's status."""
    barrier = threading.Barrier(1 + len(tokens))
    statuses: dict[str, int] = {}

    def run(name: str, call: Callable[[FlaskClient], Any], client: FlaskClient) -> None:
        barrier.wait()
        statuses[name] = call(client).status_code

    calls: list[tuple[str, Callable[[FlaskClient], Any]]] = [
        ("cancel", lambda c: c.post(f"/api/v1/rounds/{rnd['id']}/cancel", headers=sec))]
    calls += [(f"ballot{i}", lambda c, t=t: vote(c, rnd, t, "approve")) for i, t in enumerate(tokens)]
    # The apps are built here, one after the other: building them in the threads at once had
    # werkzeug compile their routes concurrently, and CPython 3.11's ast.parse is not safe across
    # threads ("AST constructor recursion depth mismatch"), which left the others at the barrier.
    threads = [threading.Thread(target=run, args=(*call, create_app(runtime=runtime).test_client()))
               for call in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


@pytest.mark.distributed
def test_a_cancel_racing_ballots_on_postgresql_never_keeps_both(pg_settings, org_document) -> None:
    """R20a under concurrency: either the cancel wins and no ballot is stored, or a ballot wins and
    the round stays open — never a cancelled round holding a ballot."""
    runtime = make_runtime(pg_settings, org_document)
    runtime.db.after_commit.clear()
    client = create_app(runtime=runtime).test_client()
    try:
        sec = issue(runtime, "unit_secretary", SECRETARY)
        for attempt in range(3):
            month = str(Month.of(Month.of(clock.today()).first_day - dt.timedelta(days=1 + 31 * attempt)))
            rnd = open_monthly(client, sec, runtime, [deed_copy(month=month)], period=month)
            tokens = [issue(runtime, "council_member", m) for m in MEMBERS[:3]]
            statuses = _race(runtime, rnd, sec, tokens)
            got = client.get(f"/api/v1/rounds/{rnd['id']}", headers=sec).get_json()
            with runtime.db.reading() as s:
                stored = s.execute(sa.select(sa.func.count()).select_from(votes)
                                   .where(votes.c.round_id == rnd["id"])).scalar_one()
                marked = s.execute(sa.select(sa.func.count()).select_from(voters)
                                   .where(voters.c.round_id == rnd["id"])).scalar_one()
            ballots = sum(1 for k, v in statuses.items() if k.startswith("ballot") and v == 201)
            if statuses["cancel"] == 200:
                assert got["status"] == "cancelled" and ballots == stored == marked == 0, statuses
            else:
                assert statuses["cancel"] == 409 and got["status"] == "open", statuses
                assert ballots == stored == marked == got["voted"] >= 1, statuses
    finally:
        runtime.db.dispose()
