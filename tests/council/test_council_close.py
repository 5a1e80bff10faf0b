"""R20: a round closes exactly once, by its secretary or by the sweep at its deadline, whatever
duplicate triggers and concurrent workers do; the beat schedule runs the sweep."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import sqlalchemy as sa

from services.council import runs
from services.council.orm import candidate_results, rounds, tallies
from services.council.worker import CLOSE_DUE_ROUNDS, create_worker
from shared import clock
from shared.auth import Principal
from shared.db import utcnow
from shared.problems import as_problem
from shared.refusals import Refused
from tests.council.conftest import COUNCIL, MEMBERS, SECRETARY, deed_copy, open_monthly, outbox_messages, vote

# shared.consumer.consumer registers its tasks as Celery "shared" tasks, so a second worker app
# built in one process warns about their names (see the report); the council's own tasks are not.
pytestmark = pytest.mark.filterwarnings("ignore::celery.exceptions.DuplicateTaskNameWarning")


def count(runtime, table) -> int:  # noqa: ANN001
    with runtime.db.reading() as s:
        return s.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def status_of(runtime, round_id: str) -> str:  # noqa: ANN001
    with runtime.db.reading() as s:
        return s.execute(sa.select(rounds.c.status).where(rounds.c.id == round_id)).scalar_one()


def test_two_concurrent_closes_make_one_tally(client, runtime, secretary, members) -> None:
    rnd = open_monthly(client, secretary, runtime, [deed_copy(), deed_copy()])
    for m in MEMBERS:
        vote(client, rnd, members[m], "approve")
    who = Principal("unit_secretary", SECRETARY)
    barrier = threading.Barrier(4)
    outcomes: list[object] = []

    def close() -> None:
        barrier.wait()
        try:
            outcomes.append(runs.close_round(runtime, who, rnd["id"]))
        except Refused as exc:
            outcomes.append(as_problem(exc).status)

    def sweep() -> None:
        barrier.wait()
        outcomes.append(runs.close_due_rounds(runtime, now=utcnow() + dt.timedelta(days=60)))

    threads = [threading.Thread(target=close), threading.Thread(target=close),
               threading.Thread(target=sweep), threading.Thread(target=sweep)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results = [o for o in outcomes if isinstance(o, dict)]
    swept = [o for o in outcomes if isinstance(o, list) and o]
    assert len(results) + len(swept) == 1, outcomes
    assert count(runtime, tallies) == 1 and count(runtime, candidate_results) == 2
    assert len(outbox_messages(runtime, "book.inscribe")) == 2
    assert len(outbox_messages(runtime, "intake.deed_fate")) == 2


def test_the_sweep_closes_rounds_past_their_deadline_once(client, runtime, secretary, members) -> None:
    soon = open_monthly(client, secretary, runtime, [deed_copy()],
                        closes_at=clock.isoformat(utcnow() + dt.timedelta(hours=1)))
    later = open_monthly(client, secretary, runtime, [deed_copy(month=_previous())], period=_previous(),
                         closes_at=clock.isoformat(utcnow() + dt.timedelta(hours=5)))
    for m in MEMBERS[:6]:  # one member never votes: only the deadline closes it
        vote(client, soon, members[m], "approve")
    assert runs.close_due_rounds(runtime) == []
    at = utcnow() + dt.timedelta(hours=1, seconds=1)
    assert runs.close_due_rounds(runtime, now=at) == [soon["id"]]
    assert runs.close_due_rounds(runtime, now=at) == []
    assert status_of(runtime, soon["id"]) == "closed" and status_of(runtime, later["id"]) == "open"
    result = client.get(f"/api/v1/rounds/{soon['id']}/result").get_json()
    (c,) = result["candidates"]
    assert (c["approve"], c["entitled"], c["ratio"], c["passed"], c["selected"]) == (6, 7, "6/7", True, True)
    assert result["decision"] is not None
    assert len(outbox_messages(runtime, "book.inscribe")) == 1


def test_a_sweep_that_was_down_catches_up(client, runtime, secretary) -> None:
    ids = []
    for n, hours in ((0, 1), (1, 2), (2, 3)):
        period = _previous(n)
        ids.append(open_monthly(client, secretary, runtime, [deed_copy(month=period)], period=period,
                                closes_at=clock.isoformat(utcnow() + dt.timedelta(hours=hours)))["id"])
    closed = runs.close_due_rounds(runtime, now=utcnow() + dt.timedelta(days=1))
    assert closed == ids
    assert count(runtime, tallies) == 3


def test_the_beat_task_closes_due_rounds(client, runtime, secretary, members) -> None:
    """The worker's ``council.close_due_rounds`` task, called directly, with a round past its deadline."""
    app = create_worker(runtime=runtime)
    runtime.db.after_commit.clear()  # no broker here: no relay to wake
    assert app.conf.beat_schedule[CLOSE_DUE_ROUNDS]["task"] == CLOSE_DUE_ROUNDS
    assert app.conf.beat_schedule[CLOSE_DUE_ROUNDS]["schedule"] == runtime.settings.sweep_seconds
    rnd = open_monthly(client, secretary, runtime, [deed_copy()],
                       closes_at=clock.isoformat(utcnow() + dt.timedelta(seconds=3)))
    assert vote(client, rnd, members[MEMBERS[0]], "approve").status_code == 201
    task = app.tasks[CLOSE_DUE_ROUNDS]
    deadline = clock.now() + dt.timedelta(seconds=10)
    closed: list[str] = []
    while not closed and clock.now() < deadline:
        closed = task()
    assert closed == [rnd["id"]]
    assert task() == []
    result = client.get(f"/api/v1/rounds/{rnd['id']}/result").get_json()
    assert result["status"] == "closed" and result["quota_met"] is False
    assert result["candidates"][0]["ratio"] == "1/7"
    assert vote(client, rnd, members[MEMBERS[1]], "approve").status_code == 409


def test_the_worker_registers_its_consumers(runtime) -> None:
    app = create_worker(runtime=runtime)
    for name in ("council.deeds_recorded", "council.deed_recorded", "council.deed_introduced",
                 "council.introductions_closed", "council.dossier_sent",
                 "council.close_due_rounds", "council.open_due_rounds"):
        assert name in app.tasks


def test_the_secretary_may_close_after_the_deadline_without_every_ballot(client, runtime, secretary, members) -> None:
    rnd = open_monthly(client, secretary, runtime, [deed_copy()],
                       closes_at=clock.isoformat(utcnow() + dt.timedelta(minutes=5)))
    vote(client, rnd, members[MEMBERS[0]], "approve")
    who = Principal("unit_secretary", SECRETARY)
    later = utcnow() + dt.timedelta(minutes=6)
    result = runs.close_round(runtime, who, rnd["id"], now=later)
    assert result["status"] == "closed"
    assert runs.close_due_rounds(runtime, now=later) == []
    assert COUNCIL in client.get(f"/api/v1/rounds/{rnd['id']}", headers=secretary).get_json()["council"]


def _previous(n: int = 1) -> str:
    from shared.clock import Month

    m = Month.of(clock.today())
    for _ in range(n):
        m = Month.of(m.first_day - dt.timedelta(days=1))
    return str(m)
