"""The relay's wake-up after a commit (``shared.celery_app.install_wakeup``): a commit that wrote
messages pushes on the list the relay waits on, so its messages leave without waiting for the
relay's next poll; a commit that wrote none pushes nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis as redis_lib

from shared.celery_app import install_wakeup
from shared.config import Settings
from shared.db import Database
from shared.messages import DeedsRecorded
from shared.outbox import wake_key
from shared.tables import metadata


@pytest.fixture
def db(sqlite_settings: Settings, redis_url: str) -> Iterator[Database]:
    db = Database(sqlite_settings.with_(broker_url=redis_url), "intake")
    metadata.create_all(db.engine)
    yield db
    db.dispose()


def test_a_commit_that_wrote_a_message_wakes_the_relay_through_redis(db: Database, redis_url: str):
    install_wakeup(db, db.settings)
    client = redis_lib.Redis.from_url(redis_url)
    with db.unit_of_work() as uow:  # no message: nothing to wake the relay for
        uow.commit()
    assert client.llen(wake_key("intake")) == 0
    for deed_id in ("a", "b"):
        with db.unit_of_work() as uow:
            uow.emit(DeedsRecorded(unit="CAH-DM", month="2026-11", deed_ids=[deed_id]))
            uow.commit()
    # What the relay waits on (BLPOP): one wake-up is kept however many commits made it.
    assert client.lrange(wake_key("intake"), 0, -1) == [b"1"]


class Commands:
    """The commands a redis-py client sends, counted where they leave: one call of
    ``execute_command`` each, or one pipeline's ``execute`` for all it holds."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sent: list[str] = []
        plain, piped = redis_lib.Redis.execute_command, redis_lib.client.Pipeline.execute

        def execute_command(client, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
            self.sent.append(str(args[0]))
            return plain(client, *args, **kwargs)

        def execute(pipe, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
            self.sent.append("pipeline")
            return piped(pipe, *args, **kwargs)

        monkeypatch.setattr(redis_lib.Redis, "execute_command", execute_command)
        monkeypatch.setattr(redis_lib.client.Pipeline, "execute", execute)


def test_a_wake_up_is_one_command(db: Database, redis_url: str, monkeypatch: pytest.MonkeyPatch):
    install_wakeup(db, db.settings)
    client = redis_lib.Redis.from_url(redis_url)
    client.delete(wake_key("intake"))
    db._after_commit()  # the first loads the script (NOSCRIPT) where this Redis has not seen it
    commands = Commands(monkeypatch)
    for _ in range(3):
        db._after_commit()
    assert commands.sent == ["EVALSHA"] * 3
    assert client.lrange(wake_key("intake"), 0, -1) == [b"1"]


def test_a_rate_limit_count_is_one_command_and_its_key_expires(redis_url: str, monkeypatch: pytest.MonkeyPatch):
    from shared.ratelimit import RedisRateLimiter

    client = redis_lib.Redis.from_url(redis_url)
    limiter = RedisRateLimiter(client, limit=2, prefix="sovang:rl:test-one-command")
    key = f"wake-test-{id(limiter)}"
    assert limiter.hit(key) is None
    commands = Commands(monkeypatch)
    assert limiter.hit(key) is None
    wait = limiter.hit(key)
    assert wait is not None and 0 < wait <= 60
    assert commands.sent == ["EVALSHA"] * 2
    (name,) = client.keys(f"sovang:rl:test-one-command:{key}:*")
    assert client.get(name) == b"3" and 0 < client.ttl(name) <= 120
