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
