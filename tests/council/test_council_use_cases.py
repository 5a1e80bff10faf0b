"""Council's use cases called as their entrypoints call them, ``fn(uow, ctx, actor, …)``: they
write in the unit of work they are given and never commit it; what the entrypoint rolls back
never happened. And the one place the API's view commits before it answers (a monthly round
waiting for intake's answer), seen from the client."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time

import pytest

from services.council import runs, services
from shared.auth import Principal
from shared.messages import IntroductionsClosed
from shared.refusals import Conflict
from tests.council.conftest import (
    COUNCIL,
    MEMBERS,
    SECRETARY,
    UNIT,
    deed_copy,
    deliver,
    in_future,
    open_monthly,
    outbox_messages,
    this_month,
)


def test_r18_a_ballot_counts_once_its_entrypoint_commits_it(runtime, client, secretary) -> None:
    rnd = open_monthly(client, secretary, runtime, [deed_copy()])
    (c,) = rnd["candidates"]
    member = Principal("council_member", MEMBERS[0])
    with runtime.db.unit_of_work() as uow:
        receipt = services.cast_ballot(uow, runtime.context(uow), member, rnd["id"], {c["id"]: "approve"})
        assert receipt["receipt"]
        assert services.round_view(uow, rnd["id"])["voted"] == 1  # seen in its own transaction
    assert runs.get_round_view(runtime, rnd["id"])["voted"] == 0  # rolled back: never cast
    runs.cast_ballot(runtime, member, rnd["id"], {c["id"]: "approve"})
    assert runs.get_round_view(runtime, rnd["id"])["voted"] == 1
    with pytest.raises(Conflict):  # R18: the ballot cast is final
        runs.cast_ballot(runtime, member, rnd["id"], {c["id"]: "reject"})


def test_r20a_a_cancellation_rolled_back_leaves_the_round_open(runtime, client, secretary) -> None:
    rnd = open_monthly(client, secretary, runtime, [deed_copy()])
    who = Principal("unit_secretary", SECRETARY)
    with runtime.db.unit_of_work() as uow:
        assert services.cancel_round(uow, runtime.context(uow), who, rnd["id"])["status"] == "cancelled"
    assert runs.get_round_view(runtime, rnd["id"])["status"] == "open"
    assert runs.cancel_round(runtime, who, rnd["id"])["status"] == "cancelled"


def test_r20_a_close_reads_the_instant_from_its_context(runtime, client, secretary) -> None:
    rnd = open_monthly(client, secretary, runtime, [deed_copy()], closes_at=in_future(hours=1))
    who = Principal("unit_secretary", SECRETARY)
    with runtime.db.unit_of_work() as uow:
        ctx = runtime.context(uow)
        with pytest.raises(Conflict):  # before the deadline, nobody having voted
            services.close_round(uow, ctx, who, rnd["id"])
        later = dataclasses.replace(ctx, now=ctx.now + dt.timedelta(hours=1, seconds=1))
        assert services.close_round(uow, later, who, rnd["id"])["round"] == rnd["id"]
        assert services.round_view(uow, rnd["id"])["status"] == "closed"
    assert runs.get_round_view(runtime, rnd["id"])["status"] == "open"  # its entrypoint never committed


def test_a_month_with_nothing_introduced_is_answered_409_once_under_its_key(
        client, runtime, secretary, monkeypatch) -> None:  # noqa: ANN001
    """API.md: a round with no candidate is 409. The monthly round is committed before its answer
    waits for intake's; the 409 intake's empty answer causes is the key's answer, replayed."""
    monkeypatch.setattr(services, "UNSENT_WAIT_SECONDS", 5.0)  # no relay here: wait for the thread

    def intake_answers_empty() -> None:
        deadline = time.monotonic() + 5
        while not (asked := outbox_messages(runtime, "intake.close_introductions")):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        payload = asked[0]["payload"]
        deliver(runtime, IntroductionsClosed(round_id=payload["round_id"], unit=UNIT, month=payload["month"],
                                             recorded=0, deeds=[]))

    body = {"council": COUNCIL, "kind": "monthly", "period": this_month()}
    h = {**secretary, "Idempotency-Key": "empty-month"}
    intake = threading.Thread(target=intake_answers_empty)
    intake.start()
    first = client.post("/api/v1/rounds", json=body, headers=h)
    intake.join()
    assert first.status_code == 409, first.get_json()
    assert "không được mở" in first.get_json()["detail"]
    again = client.post("/api/v1/rounds", json=body, headers=h)
    assert (again.status_code, again.data) == (409, first.data)
    assert len(outbox_messages(runtime, "intake.close_introductions")) == 1
    assert len(outbox_messages(runtime, "intake.reopen_introductions")) == 1
