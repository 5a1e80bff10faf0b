"""The relay sends several ``DeedsRecorded`` of one unit and month as one message (R10: council
counts each deed once whichever message named it), and nothing is lost or counted twice by it:
every row it covers is confirmed by the consumer, and a batch merged again after a relay died
before marking it sent is absorbed by the inbox, or by council's count of deeds."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import redis as redis_lib
import sqlalchemy as sa

from services.council import services as council
from services.council.orm import tracked_deeds
from shared.celery_app import RedisConfirmations, make_celery, make_relay
from shared.config import Settings
from shared.consumer import DeliveryCounter
from shared.db import Database
from shared.messages import DeedIntroduced, DeedsRecorded, envelope
from shared.outbox import Relay, coalesce, consume, covered_ids
from shared.runtime import Runtime
from shared.tables import metadata, outbox
from tests.council.conftest import make_runtime

UNIT, OTHER, MONTH = "CAH-DM", "CAH-CJ", "2026-11"


def row(i: int, msg: Any) -> SimpleNamespace:
    env = envelope(msg, "2026-11-26T10:00:00+07:00")
    return SimpleNamespace(id=i, type=msg.TYPE, queue=msg.queue, envelope=env, message_id=env["id"])


# -- which rows travel together ------------------------------------------------------------------
def test_deeds_recorded_of_one_unit_and_month_go_as_one_message_in_the_place_of_the_first() -> None:
    rows = [
        row(1, DeedsRecorded(unit=UNIT, month=MONTH, deed_ids=["a"])),
        row(2, DeedIntroduced(deed_id="a", unit=UNIT, month=MONTH)),
        row(3, DeedsRecorded(unit=OTHER, month=MONTH, deed_ids=["x"])),
        row(4, DeedsRecorded(unit=UNIT, month=MONTH, deed_ids=["b", "c"])),
        row(5, DeedsRecorded(unit=UNIT, month="2026-10", deed_ids=["d"])),
        row(6, DeedsRecorded(unit=UNIT, month=MONTH, deed_ids=["c", "e"])),
    ]
    out = coalesce(rows)
    assert [m.row_ids for m in out] == [[1, 4, 6], [2], [3], [5]]
    merged = out[0]
    assert merged.envelope["payload"] == {"unit": UNIT, "month": MONTH, "deed_ids": ["a", "b", "c", "e"]}
    assert merged.envelope["covers"] == [rows[0].message_id, rows[3].message_id, rows[5].message_id]
    assert merged.message_id == merged.envelope["id"] not in {r.message_id for r in rows}
    assert covered_ids(merged.envelope) == [merged.message_id, *merged.envelope["covers"]]
    # A message alone is sent as it was written, id and all.
    assert [(m.message_id, m.envelope) for m in out[1:]] == [
        (rows[i].message_id, rows[i].envelope) for i in (1, 2, 4)
    ]
    assert covered_ids(out[1].envelope) == [rows[1].message_id]
    # The same rows merged again (a relay that died before marking them sent) give the same id;
    # other rows another.
    assert coalesce(rows)[0].message_id == merged.message_id
    assert coalesce(rows[:4])[0].message_id != merged.message_id


def test_a_merged_message_carries_at_most_the_limit() -> None:
    limit = DeedsRecorded.MERGE_LIMIT
    rows = [
        row(1, DeedsRecorded(unit=UNIT, month=MONTH, deed_ids=[f"a{i}" for i in range(limit - 1)])),
        row(2, DeedsRecorded(unit=UNIT, month=MONTH, deed_ids=["b"])),
        row(3, DeedsRecorded(unit=UNIT, month=MONTH, deed_ids=["c"])),
        row(4, DeedsRecorded(unit=UNIT, month=MONTH, deed_ids=["d"])),
    ]
    out = coalesce(rows)
    assert [m.row_ids for m in out] == [[1, 2], [3, 4]]
    assert len(out[0].envelope["payload"]["deed_ids"]) == limit


# -- through a real relay, Redis and council ------------------------------------------------------
@pytest.fixture
def settings(sqlite_settings: Settings, redis_url: str) -> Settings:
    return sqlite_settings.with_(broker_url=redis_url)


@pytest.fixture
def intake_db(settings: Settings) -> Iterator[Database]:
    db = Database(settings, "intake")
    metadata.create_all(db.engine)  # the common tables alone: outbox and inbox
    yield db
    db.dispose()


@pytest.fixture
def council_rt(settings: Settings, org_document: dict) -> Iterator[Runtime]:
    rt = make_runtime(settings, copy.deepcopy(org_document))
    yield rt
    rt.db.dispose()


def record(db: Database, unit: str, *deed_ids: str) -> None:
    """What intake writes for one POST /api/v1/deeds: one message per request."""
    for deed_id in deed_ids:
        with db.unit_of_work() as uow:
            uow.emit(DeedsRecorded(unit=unit, month=MONTH, deed_ids=[deed_id]))
            uow.commit()


def deliver(rt: Runtime, env: dict[str, Any]) -> bool:
    """As council's worker does: the inbox, the handler, then the confirmation to the sender."""
    applied = consume(rt.db, env, council.deeds_recorded)
    DeliveryCounter(rt).confirm(env)
    return applied


def tracked(rt: Runtime) -> list[str]:
    with rt.db.reading() as s:
        return sorted(s.execute(sa.select(tracked_deeds.c.deed_id)).scalars())


def outbox_rows(db: Database) -> list[Any]:
    with db.reading() as s:
        return s.execute(sa.select(outbox).order_by(outbox.c.id)).all()


def test_the_relay_sends_one_message_for_a_stream_of_single_deeds(intake_db: Database, settings: Settings,
                                                                    redis_url: str) -> None:
    record(intake_db, UNIT, "a", "b", "c", "d", "e")
    record(intake_db, OTHER, "x")
    relay = make_relay(make_celery("intake", settings), intake_db, settings)
    assert relay.relay_once() == 6, "every row is marked sent"
    assert relay.relay_once() == 0
    client = redis_lib.Redis.from_url(redis_url)
    assert client.llen("council") == 2, "one message for CAH-DM's five deeds, one for CAH-CJ's"


def test_merged_deeds_are_counted_once_confirmed_each_and_survive_a_relay_that_died(
        intake_db: Database, council_rt: Runtime, settings: Settings, redis_url: str) -> None:
    sent: list[dict[str, Any]] = []
    client = redis_lib.Redis.from_url(redis_url)
    relay = Relay(intake_db, lambda _name, _queue, env, _mid: sent.append(env),
                  confirmations=RedisConfirmations(client))
    record(intake_db, UNIT, "a", "b", "c")
    assert relay.relay_once() == 3
    (first,) = sent
    assert first["payload"]["deed_ids"] == ["a", "b", "c"]
    assert deliver(council_rt, first) is True
    assert tracked(council_rt) == ["a", "b", "c"]

    # Every row the message covered is confirmed: the relay's check marks them all, sends none again.
    relay.confirm_after = relay.confirm_after * 0
    assert relay.check_confirmations(force=True) == 0
    assert all(r.confirmed_at is not None for r in outbox_rows(intake_db))

    # A relay that published and died before marking the rows sent: they go out again, merged the
    # same way under the same id, and the inbox absorbs the copy.
    with intake_db.unit_of_work() as uow:
        uow.session.execute(outbox.update().values(sent_at=None, confirmed_at=None))
        uow.commit()
    assert relay.relay_once() == 3
    assert sent[1]["id"] == first["id"]
    assert deliver(council_rt, sent[1]) is False

    # Rows merged with others the second time (more arrived meanwhile): another message, which
    # council applies, counting no deed twice.
    with intake_db.unit_of_work() as uow:
        uow.session.execute(outbox.update().values(sent_at=None, confirmed_at=None))
        uow.commit()
    record(intake_db, UNIT, "d")
    assert relay.relay_once() == 4
    assert sent[2]["id"] != first["id"] and sent[2]["payload"]["deed_ids"] == ["a", "b", "c", "d"]
    assert deliver(council_rt, sent[2]) is True
    assert tracked(council_rt) == ["a", "b", "c", "d"]


def test_a_relay_kept_busy_lingers_so_that_a_stream_of_single_deeds_goes_out_merged(
        intake_db: Database, settings: Settings, redis_url: str) -> None:
    """Each deed recorded alone wakes the relay; while they keep coming, the relay waits a moment
    before each batch, so the batch holds several and council gets far fewer messages."""
    from shared.celery_app import install_wakeup

    install_wakeup(intake_db, settings)
    relay = make_relay(make_celery("intake", settings), intake_db, settings)
    relay.merge_linger = 0.05  # the default, said here: the stream below may be slow on a busy machine
    thread = relay.start_thread(idle_seconds=0.5)
    try:
        deadline = time.monotonic() + 0.6
        n = 0
        while time.monotonic() < deadline:
            record(intake_db, UNIT, f"s{n}")
            n += 1
        wait_until = time.monotonic() + 10
        while time.monotonic() < wait_until and any(r.sent_at is None for r in outbox_rows(intake_db)):
            time.sleep(0.05)
    finally:
        relay.stop()
        thread.join(timeout=5)
    assert all(r.sent_at is not None for r in outbox_rows(intake_db))
    messages = redis_lib.Redis.from_url(redis_url).llen("council")
    assert n >= 20, "the stream was too slow to say anything"
    assert messages <= n / 3, f"{n} deeds went out as {messages} messages"


def test_the_relay_lingers_only_right_after_a_batch(intake_db: Database) -> None:
    relay = Relay(intake_db, lambda *_: None, linger=0.05)
    assert relay.linger_if_streaming() is False, "nothing sent yet: no wait"
    relay._last_sent = time.monotonic()
    t0 = time.monotonic()
    assert relay.linger_if_streaming() is True and time.monotonic() - t0 >= 0.04
    relay._last_sent = time.monotonic() - 1.0
    assert relay.linger_if_streaming() is False, "a quiet moment since: a message goes at once"


def test_after_a_batch_of_several_mergeable_messages_the_relay_lingers_longer(intake_db: Database) -> None:
    """A stream of single deeds (several mergeable rows a batch) waits ``merge_linger``; a batch of
    one row (a deed introduced just after it was recorded), or of messages that do not merge,
    ``linger``."""
    relay = Relay(intake_db, lambda *_: None, linger=0.01, merge_linger=0.05)
    waited: list[float] = []
    relay._stop.wait = lambda seconds: waited.append(seconds)  # type: ignore[method-assign]

    def introduce(*deed_ids: str) -> None:
        with intake_db.unit_of_work() as uow:
            for deed_id in deed_ids:
                uow.emit(DeedIntroduced(deed_id=deed_id, unit=UNIT, month=MONTH))
            uow.commit()

    for write, rows in ((lambda: introduce("a", "b"), 2), (lambda: record(intake_db, UNIT, "c"), 1),
                        (lambda: record(intake_db, UNIT, "d", "e"), 2)):
        write()
        assert relay.relay_once() == rows
        assert relay.linger_if_streaming() is True
    assert waited == [0.01, 0.01, 0.05]
    assert Relay(intake_db, lambda *_: None, linger=0.02).merge_linger == 0.02  # one linger unless told
