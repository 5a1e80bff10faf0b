"""The outbox, its relay and the inbox (ARCHITECTURE.md, "Delivery guarantees") against a real
Redis: a broker that is down delays messages and loses none; a redelivery takes effect once."""

from __future__ import annotations

import base64
import json

import pytest
import redis as redis_lib
import sqlalchemy as sa
from sqlalchemy import event

from shared.celery_app import make_celery, make_relay
from shared.db import Database
from shared.messages import DeedRecorded, envelope
from shared.outbox import Relay, consume
from shared.tables import metadata, outbox


@pytest.fixture
def scratch_db(sqlite_settings):
    db = Database(sqlite_settings, "intake")
    metadata.create_all(db.engine)  # a scratch database with only the common tables
    yield db
    db.dispose()


def emit(db: Database, n: int) -> None:
    with db.unit_of_work() as uow:
        for i in range(n):
            uow.emit(DeedRecorded(deed_id=f"d{i}", unit="CAH-DM", month="2026-11"))
        uow.commit()


def unsent(db: Database) -> int:
    with db.reading() as s:
        return s.execute(sa.select(sa.func.count()).select_from(outbox).where(outbox.c.sent_at.is_(None))).scalar()


def test_a_rolled_back_use_case_leaves_no_message(scratch_db):
    with scratch_db.unit_of_work() as uow:
        uow.emit(DeedRecorded(deed_id="x", unit="CAH-DM", month="2026-11"))
        # no commit: the unit of work rolls back
    assert unsent(scratch_db) == 0


def test_broker_down_keeps_messages_then_delivers_each_once(scratch_db, sqlite_settings, redis_url):
    emit(scratch_db, 5)
    down = sqlite_settings.with_(broker_url="redis://127.0.0.1:1/0")
    dead_relay = make_relay(make_celery("intake", down), scratch_db, down)
    with pytest.raises(Exception):  # noqa: B017 - any connection error
        dead_relay.relay_once()
    assert unsent(scratch_db) == 5, "nothing may be marked sent while the broker is away"

    up = sqlite_settings.with_(broker_url=redis_url)
    relay = make_relay(make_celery("intake", up), scratch_db, up)
    assert relay.relay_once() == 5
    assert relay.relay_once() == 0
    assert unsent(scratch_db) == 0

    # The messages wait on the consumer's queue ("council"), JSON, named by task, ids preserved.
    queued = [json.loads(m) for m in redis_lib.Redis.from_url(redis_url).lrange("council", 0, -1)]
    assert [m["headers"]["task"] for m in queued] == ["council.deed_recorded"] * 5
    assert {m["content-type"] for m in queued} == {"application/json"}
    args = [json.loads(base64.b64decode(m["body"]))[0][0] for m in queued]
    with scratch_db.reading() as s:
        ids = set(s.execute(sa.select(outbox.c.message_id)).scalars())
    assert {a["id"] for a in args} == ids == {m["headers"]["id"] for m in queued}
    assert sorted(a["payload"]["deed_id"] for a in args) == [f"d{i}" for i in range(5)]


def test_inbox_applies_a_redelivered_message_once(scratch_db):
    env = envelope(DeedRecorded(deed_id="d1", unit="CAH-DM", month="2026-11"), "2026-11-26T10:00:00+07:00")
    seen = []
    assert consume(scratch_db, env, lambda uow, msg: seen.append(msg.deed_id)) is True
    assert consume(scratch_db, env, lambda uow, msg: seen.append(msg.deed_id)) is False
    assert seen == ["d1"]


def test_a_failing_handler_leaves_the_message_unprocessed(scratch_db):
    env = envelope(DeedRecorded(deed_id="d2", unit="CAH-DM", month="2026-11"), "2026-11-26T10:00:00+07:00")

    def boom(uow, msg):
        raise RuntimeError("worker crashed")

    with pytest.raises(RuntimeError):
        consume(scratch_db, env, boom)
    seen = []
    assert consume(scratch_db, env, lambda uow, msg: seen.append(msg.deed_id)) is True
    assert seen == ["d2"]


def test_an_invalid_message_is_refused():
    from shared.messages import MessageError, decode

    with pytest.raises(MessageError):
        decode({"id": "1", "type": "council.deed_recorded", "payload": {"deed_id": 3}})
    with pytest.raises(MessageError):
        decode({"id": "1", "type": "nobody.listens", "payload": {}})


def test_emit_many_writes_every_message_in_order_in_the_use_cases_transaction(scratch_db):
    from shared.messages import DeedsRecorded, decode

    msgs = [DeedRecorded(deed_id=f"d{i}", unit="CAH-DM", month="2026-11") for i in range(3)]
    msgs.append(DeedsRecorded(unit="CAH-DM", month="2026-11", deed_ids=["d0", "d1", "d2"]))
    with scratch_db.unit_of_work() as uow:
        uow.emit_many(msgs)  # no commit: nothing of the batch may remain
    assert unsent(scratch_db) == 0

    with scratch_db.unit_of_work() as uow:
        uow.emit_many(msgs)
        uow.commit()
    with scratch_db.reading() as s:
        envs = list(s.execute(sa.select(outbox.c.envelope).order_by(outbox.c.id)).scalars())
    assert [decode(env)[1] for env in envs] == msgs
    assert len({env["id"] for env in envs}) == 4


def test_deeds_recorded_needs_at_least_one_deed():
    from shared.messages import DeedsRecorded, MessageError

    with pytest.raises(MessageError):
        DeedsRecorded(unit="CAH-DM", month="2026-11", deed_ids=[]).payload()


def test_after_a_partial_batch_the_relay_waits_for_the_next_wake_up(scratch_db):
    """Rows written while the relay publishes are each followed by a wake-up, so after a batch
    that was not full it waits at once instead of asking the database again for nothing."""
    published: list[str] = []
    looks: list[int] = []  # for each query of unsent rows, the wake-ups waited for before it
    waits: list[int] = []

    def note(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        if statement.lstrip().startswith("SELECT") and "sent_at IS NULL" in statement:
            looks.append(len(waits))

    def wait(_seconds: float) -> None:
        waits.append(len(published))
        if len(waits) == 2:
            relay.stop()

    relay = Relay(scratch_db, lambda _n, _q, _env, mid: published.append(mid), wait=wait, batch=2)
    emit(scratch_db, 3)
    event.listen(scratch_db.engine, "before_cursor_execute", note)
    try:
        relay.run(idle_seconds=0.01)
    finally:
        event.remove(scratch_db.engine, "before_cursor_execute", note)
    assert len(published) == 3
    # A full batch of 2, looked again at once; the partial batch of 1, then straight to the wait.
    assert looks[:2] == [0, 0] and waits[0] == 3
    assert looks[2:] == [1], "one look after the first wake-up, none before it"
