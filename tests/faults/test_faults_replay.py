"""Nothing lost between the outbox and a consumer: each sent outbox row names the broker
run it went to, and a relay that finds another run sends the rows of the earlier one again, once;
a row no consumer confirmed is sent again once its queue is empty (a message taken off the queue
and lost on the way); the consumers' inbox absorbs the copies. On SQLite (one relay) and
PostgreSQL (several relays)."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator

import pytest
import redis as redis_lib
import sqlalchemy as sa
from faults_harness import RedisServer

from services import REGISTRY
from shared.celery_app import BrokerOptions, make_celery, make_relay
from shared.config import Settings
from shared.db import Database, utcnow
from shared.messages import DeedRecorded
from shared.outbox import confirm_key, consume
from shared.tables import metadata, outbox
from sovang.faultproxy import FaultProxy


@pytest.fixture
def own_redis(tmp_path):
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def scratch_db(sqlite_settings):
    db = Database(sqlite_settings, "intake")
    metadata.create_all(db.engine)  # the common tables alone
    yield db
    db.dispose()


def emit(db: Database, n: int, tag: str = "d") -> None:
    with db.unit_of_work() as uow:
        for i in range(n):
            uow.emit(DeedRecorded(deed_id=f"{tag}{i}", unit="CAH-DM", month="2026-11"))
        uow.commit()


def rows(db: Database) -> list:
    with db.reading() as s:
        return list(s.execute(sa.select(outbox.c.message_id, outbox.c.sent_at, outbox.c.broker_run)).all())


_opened: list = []


@pytest.fixture(autouse=True)
def _close_relays() -> Iterator[None]:
    """The Celery apps and Redis clients of the relays a test made, closed after it."""
    yield
    while _opened:
        _opened.pop().close()


def new_relay(service: str, db: Database, settings: Settings):  # noqa: ANN201
    app = make_celery(service, settings)
    relay = make_relay(app, db, settings)
    _opened.extend([app, relay.confirmations.client])
    return relay


def relay_on(db: Database, settings: Settings, redis: RedisServer):
    s = settings.with_(broker_url=redis.url())
    return new_relay(db.service, db, s)


def test_a_restart_without_data_sends_again_what_the_broker_lost(scratch_db, sqlite_settings, own_redis):
    emit(scratch_db, 5)
    relay = relay_on(scratch_db, sqlite_settings, own_redis)
    assert relay.relay_once() == 5
    first_run = own_redis.run_id()
    assert {r.broker_run for r in rows(scratch_db)} == {first_run}
    assert own_redis.client().llen("council") == 5

    own_redis.restart_empty()  # the 5 queued messages are gone with it
    assert own_redis.client().llen("council") == 0
    assert relay.relay_once() == 5, "the rows sent to the lost run go out again"
    assert relay.republished == 5
    assert own_redis.client().llen("council") == 5
    assert {r.broker_run for r in rows(scratch_db)} == {own_redis.run_id()} != {first_run}
    assert relay.relay_once() == 0, "and only once"
    assert own_redis.client().llen("council") == 5


def test_a_relay_started_after_the_restart_finds_the_lost_rows_too(scratch_db, sqlite_settings, own_redis):
    emit(scratch_db, 3)
    assert relay_on(scratch_db, sqlite_settings, own_redis).relay_once() == 3
    own_redis.restart_empty()
    fresh = relay_on(scratch_db, sqlite_settings, own_redis)  # a worker that starts now
    assert fresh.relay_once() == 3
    assert own_redis.client().llen("council") == 3


def test_a_broker_that_kept_its_data_gets_nothing_twice(scratch_db, sqlite_settings, own_redis):
    emit(scratch_db, 4)
    relay = relay_on(scratch_db, sqlite_settings, own_redis)
    assert relay.relay_once() == 4
    again = relay_on(scratch_db, sqlite_settings, own_redis)  # another worker, same broker run
    assert again.relay_once() == 0 and relay.relay_once() == 0
    assert relay.republished == again.republished == 0
    assert own_redis.client().llen("council") == 4


def test_only_rows_within_the_replay_window_are_sent_again(scratch_db, sqlite_settings, own_redis):
    emit(scratch_db, 4)
    relay = relay_on(scratch_db, sqlite_settings, own_redis)
    assert relay.relay_once() == 4
    long_ago = utcnow() - relay.replay_window - dt.timedelta(minutes=5)
    with scratch_db.unit_of_work() as uow:
        oldest = uow.session.execute(sa.select(sa.func.min(outbox.c.id))).scalar()
        uow.session.execute(outbox.update().where(outbox.c.id == oldest).values(sent_at=long_ago))
        uow.commit()
    own_redis.restart_empty()
    assert relay.relay_once() == 3


def test_rows_marked_with_the_old_run_after_the_change_are_caught_by_the_look_back(
        scratch_db, sqlite_settings, own_redis):
    """A relay that published to the old run and marked its rows just after another relay had
    seen the change (and died before it could see it itself): the periodic look-back finds them."""
    emit(scratch_db, 2)
    relay = relay_on(scratch_db, sqlite_settings, own_redis)
    assert relay.relay_once() == 2
    with scratch_db.unit_of_work() as uow:
        uow.session.execute(outbox.update().values(broker_run="a-run-that-is-gone"))
        uow.commit()
    assert relay.relay_once() == 0, "the relay believes nothing changed until its next look-back"
    relay._recheck_at = 0.0
    assert relay.relay_once() == 2
    assert own_redis.client().llen("council") == 4  # 2 + the 2 copies the inbox will absorb


def test_the_copies_take_effect_once(scratch_db, sqlite_settings, own_redis):
    emit(scratch_db, 3)
    relay = relay_on(scratch_db, sqlite_settings, own_redis)
    relay.relay_once()
    own_redis.restart_empty()
    # As if the consumer had processed the 3 before the restart:
    with scratch_db.reading() as s:
        envs = list(s.execute(sa.select(outbox.c.envelope)).scalars())
    seen: list[str] = []
    for env in envs:
        assert consume(scratch_db, env, lambda uow, msg: seen.append(msg.deed_id)) is True
    relay.relay_once()
    for env in envs:
        assert consume(scratch_db, env, lambda uow, msg: seen.append(msg.deed_id)) is False
    assert sorted(seen) == ["d0", "d1", "d2"]


def test_the_visibility_timeout_is_a_setting(sqlite_settings):
    assert BrokerOptions.of(sqlite_settings).visibility_timeout == 300
    settings = Settings.from_env({"SOVANG_HOME": str(sqlite_settings.home),
                                  "SOVANG_BROKER_VISIBILITY_TIMEOUT": "7", "SOVANG_BROKER_REPLAY_HOURS": "48"})
    opts = BrokerOptions.of(settings)
    assert (opts.visibility_timeout, opts.replay_hours) == (7, 48)
    app = make_celery("book", settings)
    _opened.append(app)
    transport = app.conf.broker_transport_options
    assert transport["visibility_timeout"] == 7 and transport["unacked_restore_interval"] == 1
    assert app.conf.broker_connection_max_retries is None


# -- PostgreSQL: the real migrations, several relays ---------------------------------------------------
def runtimes(settings: Settings) -> dict:
    return {name: service.build_runtime(settings) for name, service in REGISTRY.items()}


def test_every_service_migrates_the_new_column_on_postgres(pg_database, tmp_path, own_redis):
    settings = Settings(home=tmp_path, database_url=pg_database, broker_url=own_redis.url())
    for name, rt in runtimes(settings).items():
        rt.migrate()
        with rt.db.reading() as s:
            cols = {r[0] for r in s.execute(sa.text(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = :s AND table_name = 'outbox'"),
                {"s": name})}
            version = s.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        assert {"broker_run", "confirmed_at"} <= cols
        assert version == _head(name), "every migration after the outbox columns applied too"
        rt.db.dispose()


def _head(service: str) -> str:
    from alembic.script import ScriptDirectory

    migrations = REGISTRY[service].migrations
    return ScriptDirectory(str(migrations)).get_current_head()


def test_every_service_migrates_the_new_column_on_sqlite(sqlite_settings):
    for name, rt in runtimes(sqlite_settings).items():
        rt.migrate()
        rt.migrate()  # again: nothing to do
        with rt.db.reading() as s:
            cols = {r[1] for r in s.execute(sa.text("PRAGMA table_info(outbox)"))}
        assert {"broker_run", "confirmed_at"} <= cols, name
        rt.db.dispose()


def test_several_relays_on_postgres_send_each_lost_row_once_more(pg_database, tmp_path, own_redis, request):
    settings = Settings(home=tmp_path, database_url=pg_database, broker_url=own_redis.url())
    built = runtimes(settings)
    for each in built.values():
        request.addfinalizer(each.db.dispose)
    rt = built["intake"]
    rt.migrate()
    emit(rt.db, 120)
    relays = [new_relay("intake", rt.db, settings) for _ in range(3)]
    for r in relays:
        r.batch = 25

    def drain() -> None:
        def run(r) -> None:  # noqa: ANN001
            while r.relay_once():
                pass

        threads = [threading.Thread(target=run, args=(r,)) for r in relays]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)

    drain()
    assert own_redis.client().llen("council") == 120
    own_redis.restart_empty()
    drain()
    assert sum(r.republished for r in relays) == 120, "each lost row is marked unsent once, by one relay"
    assert own_redis.client().llen("council") == 120, "and sent once more, by one relay"
    with rt.db.reading() as s:
        runs = set(s.execute(sa.select(outbox.c.broker_run)).scalars())
    assert runs == {own_redis.run_id()}
    rt.db.dispose()


# -- confirmations: taken off the queue is not received ------------------------------------------------
def confirm(redis: RedisServer, message_id: str) -> None:
    redis.client().set(confirm_key(message_id), 1)


def popped(redis: RedisServer, queue: str = "council") -> str:
    """Take one message off the queue as a worker's BRPOP would; its id."""
    raw = redis.client().rpop(queue)
    return json.loads(raw)["headers"]["id"]


def test_a_message_taken_off_the_queue_and_lost_is_sent_again_once_the_queue_is_empty(
        scratch_db, sqlite_settings, own_redis):
    emit(scratch_db, 3)
    relay = relay_on(scratch_db, sqlite_settings, own_redis)
    relay.confirm_after = dt.timedelta(0)
    assert relay.relay_once() == 3
    handled, lost = popped(own_redis), popped(own_redis)
    confirm(own_redis, handled)
    assert relay.check_confirmations(force=True) == 0, "one still waits in the queue: nothing is sent again yet"
    waiting = popped(own_redis)
    confirm(own_redis, waiting)
    assert relay.check_confirmations(force=True) == 1
    assert relay.relay_once() == 1
    assert popped(own_redis) == lost and own_redis.client().llen("council") == 0
    confirm(own_redis, lost)
    assert relay.check_confirmations(force=True) == 0
    with scratch_db.reading() as s:
        assert s.execute(sa.select(sa.func.count()).where(outbox.c.confirmed_at.is_(None))).scalar() == 0
    assert relay.resent == 1


def test_a_brpop_answer_lost_in_a_reset_loses_the_message_and_the_relay_sends_it_again(
        scratch_db, sqlite_settings, own_redis):
    """The hole in a Redis broker that the confirmations close: BRPOP removes the message when
    Redis answers; a connection reset before the worker reads the answer loses it."""
    proxy = FaultProxy(("127.0.0.1", own_redis.port)).start()
    try:
        worker = redis_lib.Redis(host="127.0.0.1", port=proxy.port, socket_timeout=10, retry_on_error=[])
        _opened.append(worker)
        worker.ping()
        got: list = []

        def take() -> None:
            try:
                got.append(worker.brpop(["council"], timeout=5))
            except redis_lib.RedisError as exc:
                got.append(exc)

        t = threading.Thread(target=take)
        t.start()
        time.sleep(0.3)  # the worker waits in BRPOP
        proxy.blackhole()
        emit(scratch_db, 1)
        relay = relay_on(scratch_db, sqlite_settings, own_redis)  # straight to Redis, not through the proxy
        relay.confirm_after = dt.timedelta(0)
        assert relay.relay_once() == 1
        time.sleep(0.3)  # Redis has answered the BRPOP: the answer is held in the proxy
        assert own_redis.client().llen("council") == 0
        proxy.reset()
        t.join(10)
        assert isinstance(got[0], redis_lib.RedisError), "the worker never got the message"
        assert own_redis.client().llen("council") == 0, "and the broker no longer has it"
        assert relay.check_confirmations(force=True) == 1
        assert relay.relay_once() == 1
        assert own_redis.client().llen("council") == 1
    finally:
        proxy.stop()


def test_a_restarted_broker_gets_again_only_what_no_consumer_confirmed(scratch_db, sqlite_settings, own_redis):
    emit(scratch_db, 4)
    relay = relay_on(scratch_db, sqlite_settings, own_redis)
    relay.confirm_after = dt.timedelta(0)
    assert relay.relay_once() == 4
    for _ in range(3):
        confirm(own_redis, popped(own_redis))
    relay.check_confirmations(force=True)
    own_redis.restart_empty()
    assert relay.relay_once() == 1 and relay.republished == 1
