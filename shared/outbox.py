"""The transactional outbox, its relay, and the consumer's inbox (ARCHITECTURE.md, "Delivery
guarantees").

A use case writes its messages into ``outbox`` in its own transaction; the relay publishes the
unsent rows to the broker and marks them sent only once the broker took them, so a broker that
is down delays messages and never loses one. A consumer records each message id in ``inbox`` in
the same transaction as its effect, so a message delivered twice takes effect once.

"Sent" is not "safe": a Redis that restarts without its data (no persistence, a lost disk, a
failover to a replica that had not caught up) forgets what was queued or being worked on. So
each sent row records the broker's *run* (Redis's ``run_id``, new at every start of the server),
read before publishing. When a relay sees another run than the one it last published to, every
row sent to an earlier run within ``replay_window`` is marked unsent again and goes out once
more; the consumers' inbox absorbs the copies of messages that had in fact arrived. A relay
also looks back over the last few minutes now and then, for rows that another relay marked
with the old run just after the change was seen (a relay that died right then).

"Taken off the queue" is not "received" either: a Celery worker takes a message with BRPOP, which
removes it from the list at once; if the answer is lost on the way (the connection reset at that
moment), the message is gone while the broker kept all its data. So the consumer confirms each
message it handled (a key in Redis, ``confirm_key``), and the relay looks, every little while, at
the rows it sent more than ``confirm_after`` ago that no confirmation covers: the confirmed ones
are marked ``confirmed_at``, the others are sent again if their queue is empty (so not merely
waiting behind others). Again the inbox absorbs the copies of those that had arrived after all.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared import clock
from shared.columns import utcnow
from shared.logs import REQUEST_ID
from shared.messages import CATALOGUE, Message, decode, envelope
from shared.tables import inbox, outbox

if TYPE_CHECKING:  # the unit of work writes through this module: imported for its types only
    from shared.db import Database, UnitOfWork

log = logging.getLogger(__name__)


def _traced(env: dict[str, Any]) -> dict[str, Any]:
    """The envelope with the id of the request that caused it, so that the consumer's logs carry
    it too (shared.logs)."""
    request_id = REQUEST_ID.get()
    if request_id:
        env["request_id"] = request_id
    return env


# Built once; ``inline``: nobody reads a written row's id back, so no RETURNING is added for it.
_INSERT = outbox.insert().inline()


def add_to_outbox(session: Session, msg: Message) -> str:
    """Write one message in the caller's transaction; returns its id."""
    return add_many_to_outbox(session, [msg])[0]


def outbox_rows(msgs: list[Message]) -> list[dict[str, Any]]:
    """The outbox rows of ``msgs`` (``message_id``, ``type``, ``queue``, ``envelope``,
    ``created_at``), for a caller that writes them in a statement of its own."""
    at = utcnow()
    occurred = clock.isoformat(at)
    rows = []
    for msg in msgs:
        env = _traced(envelope(msg, occurred))
        rows.append({"message_id": env["id"], "type": msg.TYPE, "queue": msg.queue, "envelope": env,
                     "created_at": at})
    return rows


def add_many_to_outbox(session: Session, msgs: list[Message]) -> list[str]:
    """Write several messages in the caller's transaction with one multi-row INSERT."""
    if not msgs:
        return []
    rows = outbox_rows(msgs)
    # On the connection: a Core INSERT gains nothing from the ORM's execution layers; one row as
    # one parameter set (a list of one would take the executemany path).
    session.connection().execute(_INSERT, rows[0] if len(rows) == 1 else rows)
    return [row["message_id"] for row in rows]


def wake_key(service: str) -> str:
    return f"sovang:outbox-wake:{service}"


def confirm_key(message_id: str) -> str:
    """Where a consumer confirms it handled a message (message ids are unique across services)."""
    return f"sovang:handled:{message_id}"


def covered_ids(env: Any) -> list[str]:
    """The ids of the outbox rows a received message stands for: its own, or those it merged."""
    if not isinstance(env, dict) or not isinstance(env.get("id"), str):
        return []
    covers = env.get("covers")
    if isinstance(covers, list) and all(isinstance(c, str) for c in covers):
        return [env["id"], *covers]
    return [env["id"]]


@dataclass(frozen=True)
class Outgoing:
    """One message to publish, and the outbox rows it carries."""

    type: str
    queue: str
    envelope: dict[str, Any]
    message_id: str
    row_ids: list[int]


# Merged ids are derived from the ids they cover: the same rows merged again (a relay that died
# before marking them sent) make the same message, which the consumer's inbox then absorbs.
_MERGED_NAMESPACE = uuid.UUID("6f1c3a52-8f0e-4d0b-9a57-5d2b7c1e4a90")


def coalesce(rows: Sequence[Any]) -> list[Outgoing]:
    """Rows of one batch as the messages to publish: each row alone, except rows of a mergeable
    type (``Message.MERGE_LIMIT``) with equal ``merge_key``, which go as one message at the place
    of the first (up to the limit). The merged envelope lists the rows' ids under ``covers``, so
    its consumer confirms every one of them (``covered_ids``)."""
    out: list[Outgoing | list[Any]] = []
    groups: dict[tuple[str, str, Any], list[Any]] = {}  # the group still open for each key
    sizes: dict[tuple[str, str, Any], int] = {}  # and the items it carries
    for row in rows:
        if not mergeable(row.type) or not isinstance(row.envelope, dict):
            out.append(Outgoing(row.type, row.queue, row.envelope, row.message_id, [row.id]))
            continue
        cls = CATALOGUE[row.type]
        payload = row.envelope["payload"]
        key = (row.type, row.queue, cls.merge_key(payload))
        size = cls.merge_size(payload)
        if key not in groups or sizes[key] + size > cls.MERGE_LIMIT:
            groups[key], sizes[key] = [], 0
            out.append(groups[key])
        groups[key].append(row)
        sizes[key] += size
    return [item if isinstance(item, Outgoing) else _merge(item) for item in out]


def mergeable(message_type: str) -> bool:
    """Whether rows of this type may go out merged (``coalesce``)."""
    cls = CATALOGUE.get(message_type)
    return cls is not None and cls.MERGE_LIMIT > 0


def _merge(group: list[Any]) -> Outgoing:
    first = group[0]
    if len(group) == 1:
        return Outgoing(first.type, first.queue, first.envelope, first.message_id, [first.id])
    cls = CATALOGUE[first.type]
    ids = [r.message_id for r in group]
    message_id = str(uuid.uuid5(_MERGED_NAMESPACE, "\n".join(ids)))
    env = {"id": message_id, "type": first.type, "occurred_at": first.envelope.get("occurred_at"),
           "payload": cls.merged([r.envelope["payload"] for r in group]), "covers": ids}
    return Outgoing(first.type, first.queue, env, message_id, [r.id for r in group])


class Confirmations(Protocol):
    """What the relay asks the broker about the messages it sent."""

    def confirmed(self, message_ids: list[str]) -> list[bool]:
        """For each message, whether its consumer confirmed it."""

    def idle(self, queue: str) -> bool:
        """Whether nothing waits in that queue now."""


class Relay:
    """Publishes one service's outbox to the broker, in order, until stopped."""

    def __init__(
        self,
        db: Database,
        publish: Callable[[str, str, dict[str, Any], str], None],
        wait: Callable[[float], None] | None = None,
        batch: int = 200,
        broker_run: Callable[[], str] | None = None,
        replay_window: dt.timedelta = dt.timedelta(hours=24),
        recheck_seconds: float = 30.0,
        keep_sent: dt.timedelta = dt.timedelta(days=7),
        confirmations: Confirmations | None = None,
        confirm_after: dt.timedelta = dt.timedelta(seconds=60),
        linger: float = 0.0,
        merge_linger: float | None = None,
    ) -> None:
        self.db = db
        self.publish = publish  # (task name, queue, envelope, message id)
        self.wait = wait
        self.batch = batch
        # The broker's current run (Redis ``run_id``); None: a broker that never loses data.
        self.broker_run = broker_run
        self.replay_window = replay_window
        self.recheck_seconds = recheck_seconds
        self.keep_sent = max(keep_sent, replay_window)
        self.republished = 0  # rows marked unsent again because their broker lost its data
        # Whether consumers confirmed what was sent; None: trust "sent" (no such check).
        self.confirmations = confirmations
        self.confirm_after = confirm_after
        self.confirm_every = max(0.5, min(30.0, confirm_after.total_seconds() / 2))
        self.resent = 0  # rows sent again because no consumer confirmed them
        self._run: str | None = None  # the run this relay last published to
        self._recheck_at = 0.0
        self._confirm_at = 0.0
        self._prune_at = 0.0
        self._stop = threading.Event()
        # Woken while messages keep coming (the last batch went out less than this long ago),
        # wait this long before the next: the batch then carries several rows, merged where they
        # can be (``coalesce``). Without it, a relay that kept up sent every deed of a stream of
        # single deeds alone, and council spent a task on each: more CPU for council, less for
        # the web processes, fewer deeds per batch, a state a busy machine did not leave.
        # ``merge_linger`` after a batch of several rows some of which merge (such a stream):
        # each merged message saves council a task. After a batch of one row (a deed introduced
        # just after it was recorded) a message waits only ``linger``.
        self.linger = linger
        self.merge_linger = linger if merge_linger is None else merge_linger
        self._last_sent = -1e9
        self._merging = False  # whether the last batch found several rows, mergeable ones among them

    def check_broker(self) -> str | None:
        """The broker's run now; rows sent to an earlier run are queued again (module docstring)."""
        if self.broker_run is None:
            return None
        run = self.broker_run()
        now = time.monotonic()
        if run != self._run:
            self.requeue_lost(run, self.replay_window)
            self._run = run
            self._recheck_at = now + self.recheck_seconds
        elif now >= self._recheck_at:
            self.requeue_lost(run, dt.timedelta(seconds=4 * self.recheck_seconds))
            self._recheck_at = now + self.recheck_seconds
        return run

    def requeue_lost(self, run: str, window: dt.timedelta) -> int:
        """Mark unsent the rows sent within ``window`` to another broker run than ``run`` (and not
        confirmed by their consumer: those arrived, whatever the broker forgot since)."""
        with self.db.unit_of_work() as uow:
            lost = outbox.update().where(
                outbox.c.sent_at >= utcnow() - window,
                outbox.c.confirmed_at.is_(None),
                sa.or_(outbox.c.broker_run.is_(None), outbox.c.broker_run != run),
            ).values(sent_at=None, broker_run=None)
            n = uow.session.execute(lost).rowcount or 0
            uow.commit()
        if n:
            log.warning("outbox of %s: the broker (run %s) lost its data; %d message(s) sent before will go out again",
                        self.db.service, run, n)
            self.republished += n
        return n

    def check_confirmations(self, force: bool = False) -> int:
        """Every ``confirm_every`` seconds: mark the rows their consumer confirmed, send again those
        it never had (module docstring). Returns how many go out again."""
        if self.confirmations is None:
            return 0
        clock_now = time.monotonic()
        if not force and clock_now < self._confirm_at:
            return 0
        self._confirm_at = clock_now + self.confirm_every
        now = utcnow()
        due = now - self.confirm_after
        with self.db.reading() as s:
            rows = s.execute(
                sa.select(outbox.c.id, outbox.c.message_id, outbox.c.queue).where(
                    outbox.c.confirmed_at.is_(None), outbox.c.sent_at <= due,
                    outbox.c.sent_at >= now - self.replay_window,
                ).order_by(outbox.c.id).limit(1000)
            ).all()
        if not rows:
            return 0
        done = self.confirmations.confirmed([r.message_id for r in rows])
        confirmed = [r.id for r, ok in zip(rows, done, strict=True) if ok]
        pending = [r for r, ok in zip(rows, done, strict=True) if not ok]
        idle = {q: self.confirmations.idle(q) for q in {r.queue for r in pending}}
        lost = [r.id for r in pending if idle[r.queue]]
        n = 0
        with self.db.unit_of_work() as uow:
            if confirmed:
                uow.session.execute(outbox.update().where(outbox.c.id.in_(confirmed)).values(confirmed_at=now))
            if lost:
                n = uow.session.execute(outbox.update().where(
                    outbox.c.id.in_(lost), outbox.c.confirmed_at.is_(None), outbox.c.sent_at <= due,
                ).values(sent_at=None, broker_run=None)).rowcount or 0
            uow.commit()
        if n:
            log.warning("outbox of %s: %d message(s) sent over %ds ago never reached a consumer; sending them again",
                        self.db.service, n, self.confirm_after.total_seconds())
            self.resent += n
        return n

    def relay_once(self) -> int:
        """Publish one batch of unsent messages; returns how many were sent."""
        # Read before publishing: a row is never marked with a run newer than the one it went to.
        run = self.check_broker()
        self.check_confirmations()
        with self.db.unit_of_work() as uow:
            query = sa.select(outbox.c.id, outbox.c.type, outbox.c.queue, outbox.c.envelope, outbox.c.message_id)
            query = query.where(outbox.c.sent_at.is_(None)).order_by(outbox.c.id).limit(self.batch)
            if self.db.is_postgres:
                # Several relays of one service share the work without sending a row twice.
                query = query.with_for_update(skip_locked=True)
            rows = uow.session.execute(query).all()
            if not rows:
                uow.session.rollback()
                self._prune()
                return 0
            self._merging = len(rows) > 1 and any(mergeable(row.type) for row in rows)
            sent: list[int] = []
            try:
                for msg in coalesce(rows):
                    self.publish(msg.type, msg.queue, msg.envelope, msg.message_id)
                    sent.extend(msg.row_ids)
            finally:
                # What the broker took is marked sent even if a later publish failed.
                if sent:
                    uow.session.execute(
                        outbox.update().where(outbox.c.id.in_(sent)).values(sent_at=utcnow(), broker_run=run)
                    )
                    uow.commit()
                    self._last_sent = time.monotonic()
            return len(sent)

    def _prune(self) -> None:
        """Now and then, forget rows sent long ago (beyond any replay): the outbox stays small."""
        now = time.monotonic()
        if now < self._prune_at:
            return
        self._prune_at = now + 3600.0
        with self.db.unit_of_work() as uow:
            uow.session.execute(outbox.delete().where(outbox.c.sent_at < utcnow() - self.keep_sent))
            uow.commit()

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
            # A full batch may leave more behind: go on at once. After a partial one, rows written
            # since were each followed by a wake-up, which the wait returns on at once; looking
            # again now would cost a query (and a broker round trip) that finds nothing.
            if sent >= self.batch or (sent and self.wait is None):
                continue
            if self.wait is not None:
                try:
                    self.wait(idle_seconds)
                except Exception:
                    self._stop.wait(idle_seconds)
            else:
                self._stop.wait(idle_seconds)
            self.linger_if_streaming()

    def linger_if_streaming(self) -> bool:
        """Wait ``linger`` seconds if the last batch went out less than that long ago
        (``merge_linger`` after a batch that found several rows, mergeable ones among them)."""
        linger = self.merge_linger if self._merging else self.linger
        if linger > 0 and time.monotonic() - self._last_sent < linger:
            self._stop.wait(linger)
            return True
        return False

    def stop(self) -> None:
        self._stop.set()

    def start_thread(self, idle_seconds: float = 0.5) -> threading.Thread:
        thread = threading.Thread(
            target=self.run, args=(idle_seconds,), name=f"outbox-relay-{self.db.service}", daemon=True
        )
        thread.start()
        return thread


def already_processed(db: Database, env: Any) -> bool:
    """Whether this message took effect here already (its id is in the inbox)."""
    message_id = env.get("id") if isinstance(env, dict) else None
    if not isinstance(message_id, str):
        return False
    with db.reading() as s:
        return s.execute(sa.select(inbox.c.message_id).where(inbox.c.message_id == message_id)).first() is not None


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
