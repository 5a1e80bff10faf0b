"""The transactional outbox, its relay, and the consumer's inbox (ARCHITECTURE.md, "Delivery
guarantees").

A use case writes its messages into ``outbox`` in its own transaction; the relay publishes the
unsent rows to the broker and marks them sent only once the broker took them, so a broker that
is down delays messages and never loses one. A consumer records each message id in ``inbox`` in
the same transaction as its effect, so a message delivered twice takes effect once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared import clock
from shared.db import Database, UnitOfWork, utcnow
from shared.messages import Message, decode, envelope
from shared.tables import inbox, outbox

log = logging.getLogger(__name__)


def add_to_outbox(session: Session, msg: Message) -> str:
    """Write one message in the caller's transaction; returns its id."""
    env = envelope(msg, clock.isoformat(utcnow()))
    session.execute(
        outbox.insert().values(
            message_id=env["id"], type=msg.TYPE, queue=msg.queue, envelope=env, created_at=utcnow()
        )
    )
    return env["id"]


def wake_key(service: str) -> str:
    return f"sovang:outbox-wake:{service}"


class Relay:
    """Publishes one service's outbox to the broker, in order, until stopped."""

    def __init__(
        self,
        db: Database,
        publish: Callable[[str, str, dict[str, Any], str], None],
        wait: Callable[[float], None] | None = None,
        batch: int = 200,
    ) -> None:
        self.db = db
        self.publish = publish  # (task name, queue, envelope, message id)
        self.wait = wait
        self.batch = batch
        self._stop = threading.Event()

    def relay_once(self) -> int:
        """Publish one batch of unsent messages; returns how many were sent."""
        with self.db.unit_of_work() as uow:
            query = sa.select(outbox.c.id, outbox.c.type, outbox.c.queue, outbox.c.envelope, outbox.c.message_id)
            query = query.where(outbox.c.sent_at.is_(None)).order_by(outbox.c.id).limit(self.batch)
            if self.db.is_postgres:
                # Several relays of one service share the work without sending a row twice.
                query = query.with_for_update(skip_locked=True)
            rows = uow.session.execute(query).all()
            if not rows:
                return 0
            sent: list[int] = []
            try:
                for row in rows:
                    self.publish(row.type, row.queue, row.envelope, row.message_id)
                    sent.append(row.id)
            finally:
                # What the broker took is marked sent even if a later publish failed.
                if sent:
                    uow.session.execute(outbox.update().where(outbox.c.id.in_(sent)).values(sent_at=utcnow()))
                    uow.commit()
            return len(sent)

    def run(self, idle_seconds: float = 0.5) -> None:
        backoff = idle_seconds
        while not self._stop.is_set():
            try:
                sent = self.relay_once()
                backoff = idle_seconds
            except Exception as exc:  # broker or database away: keep the rows, try again later
                log.warning("outbox relay of %s: %s; retrying in %.1fs", self.db.service, exc, backoff)
                sent = 0
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            if sent:
                continue
            if self.wait is not None:
                try:
                    self.wait(idle_seconds)
                except Exception:
                    self._stop.wait(idle_seconds)
            else:
                self._stop.wait(idle_seconds)

    def stop(self) -> None:
        self._stop.set()

    def start_thread(self, idle_seconds: float = 0.5) -> threading.Thread:
        thread = threading.Thread(
            target=self.run, args=(idle_seconds,), name=f"outbox-relay-{self.db.service}", daemon=True
        )
        thread.start()
        return thread


def consume(db: Database, env: dict[str, Any], handle: Callable[[UnitOfWork, Message], None]) -> bool:
    """Apply one received message exactly once: returns False when it was already processed."""
    message_id, msg = decode(env)
    with db.unit_of_work() as uow:
        seen = uow.session.execute(sa.select(inbox.c.message_id).where(inbox.c.message_id == message_id)).first()
        if seen:
            return False
        try:
            uow.session.execute(
                inbox.insert().values(message_id=message_id, type=msg.TYPE, processed_at=utcnow())
            )
            handle(uow, msg)
            uow.commit()
        except IntegrityError:
            # Another worker processed the same message at the same moment: its commit won.
            uow.session.rollback()
            with db.reading() as s:
                if s.execute(sa.select(inbox.c.message_id).where(inbox.c.message_id == message_id)).first():
                    return False
            raise
    return True
