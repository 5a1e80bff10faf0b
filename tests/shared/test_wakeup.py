"""The relay's wake-up after a commit (``shared.celery_app.Wakeup``): sent from a thread of its
own, so the committing request never waits for Redis; commits made while one is on its way share
the next; and never is a commit left without a wake-up sent after it, else its message would
wait for the relay's next poll. Nothing here is timed: the sends are held and released by hand."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest
import redis as redis_lib

from shared.celery_app import Wakeup, install_wakeup
from shared.config import Settings
from shared.db import Database
from shared.messages import DeedsRecorded
from shared.outbox import wake_key
from shared.tables import metadata

DEADLINE = 10.0


class HeldSends:
    """A send that records itself and waits until the test lets it finish."""

    def __init__(self) -> None:
        self.started = threading.Semaphore(0)
        self.release = threading.Semaphore(0)
        self.count = 0

    def __call__(self) -> None:
        self.count += 1
        self.started.release()
        assert self.release.acquire(timeout=DEADLINE)

    def wait_started(self) -> None:
        assert self.started.acquire(timeout=DEADLINE), "no wake-up was sent"


def test_a_commit_made_while_a_wake_up_is_on_its_way_gets_another_after_it():
    sends = HeldSends()
    wakeup = Wakeup(sends)
    wakeup()
    sends.wait_started()  # the first wake-up is being sent, and held
    for _ in range(5):  # commits meanwhile: none may be left without a wake-up after it
        wakeup()
    sends.release.release()
    sends.wait_started()  # one more, after the five
    sends.release.release()
    assert not sends.started.acquire(timeout=0.3)  # and only one: the five shared it
    assert sends.count == 2


def test_the_committing_thread_does_not_wait_for_the_send():
    sends = HeldSends()
    wakeup = Wakeup(sends)
    wakeup()
    sends.wait_started()
    wakeup()  # returns although the send is held (else this test would hang)
    sends.release.release()
    sends.wait_started()
    sends.release.release()


def test_a_failing_send_does_not_stop_the_next_ones():
    calls: list[int] = []
    done = threading.Semaphore(0)

    def send() -> None:
        calls.append(1)
        done.release()
        if len(calls) == 1:
            raise ConnectionError("the broker is away")

    wakeup = Wakeup(send)
    wakeup()
    assert done.acquire(timeout=DEADLINE)
    wakeup()
    assert done.acquire(timeout=DEADLINE)
    assert len(calls) == 2


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_process_sends_its_own_wake_ups():
    """gunicorn and Celery fork their workers after the app is built: the parent's thread is
    not in the child, which starts its own."""
    read_end, write_end = os.pipe()

    def send() -> None:
        os.write(write_end, str(os.getpid()).encode() + b"\n")

    wakeup = Wakeup(send)
    wakeup()
    assert os.read(read_end, 64).strip() == str(os.getpid()).encode()
    pid = os.fork()
    if pid == 0:  # the child: wake, let the thread send, and leave without running pytest's exit
        try:
            wakeup()
            threading.Event().wait(DEADLINE)
        finally:
            os._exit(0)
    try:
        assert os.read(read_end, 64).strip() == str(pid).encode()
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(read_end)
        os.close(write_end)


# -- through Redis ---------------------------------------------------------------------------------
@pytest.fixture
def db(sqlite_settings: Settings, redis_url: str) -> Iterator[Database]:
    db = Database(sqlite_settings.with_(broker_url=redis_url), "intake")
    metadata.create_all(db.engine)
    yield db
    db.dispose()


def test_a_commit_that_wrote_a_message_wakes_the_relay_through_redis(db: Database, redis_url: str):
    install_wakeup(db, db.settings)
    client = redis_lib.Redis.from_url(redis_url)
    with db.unit_of_work() as uow:
        uow.emit(DeedsRecorded(unit="CAH-DM", month="2026-11", deed_ids=["a"]))
        uow.commit()
    # What the relay waits on (BLPOP): the wake-up arrives without any poll.
    assert client.blpop([wake_key("intake")], timeout=DEADLINE) is not None
    assert client.llen(wake_key("intake")) == 0
