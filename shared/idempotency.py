"""Idempotency-Key (API.md, Common): where the first answer to a key is kept, and how a key is
claimed, answered, replayed and forgotten. No web framework here: the edge
(``shared.endpoint``) runs the use case between the claim and the answer.

Two ways to keep answers, one contract: the same key and body replay the first answer byte for
byte, another body is refused (422), a key in use by a request still running makes the next
one wait, then 409.

- ``PLAIN``: filed under the caller's subject in clear (``idempotency_records``).
- ``Sealed(table)``: for ballots (R19). Filing the answer under the member would pair a member
  with their receipt, and the receipt with their choices once the ballots are published; here
  the record is filed under a keyed hash of (subject, key), its body fingerprint is an HMAC
  under the key, and the answer is enciphered with a keystream derived from the key: only a
  client holding its own Idempotency-Key can find or read its record.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from shared.columns import utcnow
from shared.refusals import Conflict, Invalid
from shared.tables import idempotency_records

PENDING = 0
# A claim whose request never finished (its process died) is taken over after this long.
PENDING_EXPIRES_SECONDS = 60
# How long a request waits for another one holding its key before it is refused (409).
WAIT_SECONDS = 30.0

IDEMPOTENCY_KEY_MAX = 255
IDEMPOTENCY_KEY_PATTERN = r"^[\x20-\x7e]{1,255}$"

def reused() -> Invalid:
    return Invalid("Idempotency-Key này đã được dùng cho một yêu cầu khác.",
                   {"Idempotency-Key": ["Đã dùng cho nội dung khác."]})


def in_use() -> Conflict:
    return Conflict("Một yêu cầu với cùng Idempotency-Key đang được xử lý.")


def check_key(key: str) -> None:
    """At most 255 visible ASCII characters (and spaces): refused naming ``Idempotency-Key`` else."""
    if len(key) > IDEMPOTENCY_KEY_MAX:
        raise Invalid("Idempotency-Key quá dài.", {"Idempotency-Key": ["Tối đa 255 ký tự."]})
    if not re.fullmatch(IDEMPOTENCY_KEY_PATTERN[1:-1], key):
        raise Invalid("Idempotency-Key không hợp lệ.",
                      {"Idempotency-Key": ["Chỉ gồm ký tự ASCII in được (tối đa 255)."]})


@dataclass(frozen=True)
class Keyed:
    """One keyed request: whose (``subject``), its ``key``, and the bytes that make it this
    request (method, path and body); two requests with one key and other bytes are not one."""

    subject: str
    key: str
    request: bytes


@dataclass(frozen=True)
class Answer:
    """A response as it is kept and replayed."""

    status: int
    content_type: str
    body: bytes


class Wait:
    """Another request holds the key and has not answered yet."""


WAIT = Wait()


class Answers(Protocol):
    """Where the answers to keyed requests are kept."""

    def claim(self, session: Session, keyed: Keyed, ttl_hours: float) -> Answer | Wait | None:
        """Claim the key in ``session``'s transaction: None when claimed; the answer to replay;
        ``WAIT`` while another request holds it. Refuses another request's bytes (``reused``)."""

    def keep(self, session: Session, keyed: Keyed, answer: Answer) -> None:
        """The answer to a key this transaction claimed."""

    def keep_alone(self, session: Session, keyed: Keyed, answer: Answer) -> None:
        """The answer, claimed and kept at once (the claim went with a use case rolled back)."""

    def keep_first(self, session: Session, keyed: Keyed, answer: Answer) -> bool:
        """Claim the key with its answer in one statement, after the use case ran: True when this
        transaction's answer is the key's; False when the key was taken (the caller rolls back and
        looks with ``claim``). On PostgreSQL it waits for a concurrent transaction holding the key."""

    def release(self, session: Session, keyed: Keyed) -> None:
        """Forget a claim whose request failed, so that the key is free again."""


def _execute(session: Session, stmt: Any, params: dict[str, Any]) -> Any:
    """A Core statement on the session's connection (in its transaction), without the ORM's
    layers, which a Core statement does not need."""
    return session.connection().execute(stmt, params)


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


class Plain:
    """Answers filed under the subject in clear (``idempotency_records``)."""

    t = idempotency_records
    # Built once with bound parameters: building them per request (``.values(...)``, ``where(...)``)
    # was a measurable share of a request's CPU, and a statement of constant shape is compiled
    # once (SQLAlchemy's compiled cache). ``INSERT … ON CONFLICT DO NOTHING`` claims a key in one
    # statement, and on PostgreSQL waits for a concurrent claim of the same key to end.
    _insert_ignoring = {
        True: postgresql.insert(idempotency_records).on_conflict_do_nothing(),
        False: sqlite.insert(idempotency_records).on_conflict_do_nothing(),
    }
    _claim = {pg: stmt.returning(idempotency_records.c.key) for pg, stmt in _insert_ignoring.items()}
    _record = sa.select(idempotency_records).where(
        idempotency_records.c.subject == sa.bindparam("w_subject"),
        idempotency_records.c.key == sa.bindparam("w_key"),
    )
    # Executed with the SET values (status, content_type, body) beside the key's w_subject, w_key.
    _answer = idempotency_records.update().where(
        idempotency_records.c.subject == sa.bindparam("w_subject"),
        idempotency_records.c.key == sa.bindparam("w_key"),
    )

    @staticmethod
    def digest(keyed: Keyed) -> str:
        return hashlib.sha256(keyed.request).hexdigest()

    def claim(self, session: Session, keyed: Keyed, ttl_hours: float) -> Answer | Wait | None:
        t, digest = self.t, self.digest(keyed)
        while True:
            claimed = _execute(session, self._claim[_is_postgres(session)], {
                "subject": keyed.subject, "key": keyed.key, "request_hash": digest, "status": PENDING,
                "content_type": "", "body": b"", "created_at": utcnow(),
            }).first()
            if claimed is not None:
                return None
            row = _execute(session, self._record, {"w_subject": keyed.subject, "w_key": keyed.key}).first()
            if row is None:
                continue  # forgotten in between (purged, released): claim it now
            if _stale(row.status, row.created_at, ttl_hours):
                session.execute(t.delete().where(
                    t.c.subject == keyed.subject, t.c.key == keyed.key, t.c.created_at == row.created_at))
                continue
            if row.request_hash != digest:
                raise reused()
            if row.status != PENDING:
                return Answer(row.status, row.content_type, row.body)
            return WAIT

    def keep(self, session: Session, keyed: Keyed, answer: Answer) -> None:
        _execute(session, self._answer, {
            "w_subject": keyed.subject, "w_key": keyed.key,
            "status": answer.status, "content_type": answer.content_type, "body": answer.body,
        })

    def keep_alone(self, session: Session, keyed: Keyed, answer: Answer) -> None:
        _execute(session, self._insert_ignoring[_is_postgres(session)], {
            "subject": keyed.subject, "key": keyed.key, "request_hash": self.digest(keyed),
            "status": answer.status, "content_type": answer.content_type, "body": answer.body,
            "created_at": utcnow(),
        })

    def keep_first(self, session: Session, keyed: Keyed, answer: Answer) -> bool:
        return _execute(session, self._claim[_is_postgres(session)], {
            "subject": keyed.subject, "key": keyed.key, "request_hash": self.digest(keyed),
            "status": answer.status, "content_type": answer.content_type, "body": answer.body,
            "created_at": utcnow(),
        }).first() is not None

    def release(self, session: Session, keyed: Keyed) -> None:
        t = self.t
        session.execute(t.delete().where(t.c.subject == keyed.subject, t.c.key == keyed.key,
                                         t.c.status == PENDING))


def _stale(status: int, created_at: dt.datetime, ttl_hours: float) -> bool:
    """An expired record (older than the TTL), or a pending claim abandoned by a dead process."""
    age = (utcnow() - created_at).total_seconds()
    if status == PENDING:
        return age > PENDING_EXPIRES_SECONDS
    return age > ttl_hours * 3600


def purge(session: Session, now: dt.datetime, ttl_hours: float) -> int:
    """Forget the answers older than ``ttl_hours`` (API.md: kept at least 24 h)."""
    t = idempotency_records
    cutoff = now - dt.timedelta(hours=ttl_hours)
    return int(session.execute(t.delete().where(t.c.created_at < cutoff, t.c.status != PENDING)).rowcount or 0)


PLAIN = Plain()


# -- sealed answers (ballots, R19) ---------------------------------------------------------------
def _secret(subject: str, key: str, purpose: bytes) -> bytes:
    return hashlib.sha256(purpose + b"\0" + subject.encode() + b"\0" + key.encode()).digest()


def _keystream(seed: bytes, length: int) -> bytes:
    out = bytearray()
    counter = 0
    while len(out) < length:
        out += hashlib.sha256(seed + counter.to_bytes(8, "big")).digest()
        counter += 1
    return bytes(out[:length])


def seal(subject: str, key: str, data: bytes) -> bytes:
    """Encipher (and, applied again, decipher) an answer under the client's key."""
    stream = _keystream(_secret(subject, key, b"seal"), len(data))
    return bytes(a ^ b for a, b in zip(data, stream, strict=True))


class Sealed:
    """Answers no one can file under a member or read without the member's own key (R19):
    ``table`` has ``lookup`` (its key), ``fingerprint``, ``status``, ``sealed``, ``created_at``."""

    def __init__(self, table: sa.Table) -> None:
        self.t = table
        self._insert_ignoring = {
            True: postgresql.insert(table).on_conflict_do_nothing(),
            False: sqlite.insert(table).on_conflict_do_nothing(),
        }

    @staticmethod
    def lookup(keyed: Keyed) -> str:
        return hmac.new(_secret(keyed.subject, keyed.key, b"lookup"), b"ballot", hashlib.sha256).hexdigest()

    @staticmethod
    def fingerprint(keyed: Keyed) -> str:
        return hmac.new(_secret(keyed.subject, keyed.key, b"fingerprint"), keyed.request, hashlib.sha256).hexdigest()

    def _row(self, keyed: Keyed, status: int, sealed: bytes) -> dict[str, Any]:
        return {"lookup": self.lookup(keyed), "fingerprint": self.fingerprint(keyed), "status": status,
                "sealed": sealed,
                # To the hour: the record needs only to expire, not to say when a ballot came.
                "created_at": utcnow().replace(minute=0, second=0, microsecond=0)}

    def claim(self, session: Session, keyed: Keyed, ttl_hours: float) -> Answer | Wait | None:
        t = self.t
        lookup = self.lookup(keyed)
        while True:
            claimed = session.execute(
                self._insert_ignoring[_is_postgres(session)].returning(t.c.lookup), self._row(keyed, PENDING, b"")
            ).first()
            if claimed is not None:
                return None
            row = session.execute(sa.select(t).where(t.c.lookup == lookup)).first()
            if row is not None:
                break  # else released in between: claim it now
        if not hmac.compare_digest(row.fingerprint, self.fingerprint(keyed)):
            raise reused()
        if row.status == PENDING:
            return WAIT
        content_type, _, body = seal(keyed.subject, keyed.key, row.sealed).partition(b"\n")
        return Answer(row.status, content_type.decode(), body)

    def _sealed(self, keyed: Keyed, answer: Answer) -> bytes:
        return seal(keyed.subject, keyed.key, answer.content_type.encode() + b"\n" + answer.body)

    def keep(self, session: Session, keyed: Keyed, answer: Answer) -> None:
        session.execute(self.t.update().where(self.t.c.lookup == self.lookup(keyed)).values(
            status=answer.status, sealed=self._sealed(keyed, answer)))

    def keep_alone(self, session: Session, keyed: Keyed, answer: Answer) -> None:
        session.execute(self._insert_ignoring[_is_postgres(session)],
                        self._row(keyed, answer.status, self._sealed(keyed, answer)))

    def keep_first(self, session: Session, keyed: Keyed, answer: Answer) -> bool:
        return session.execute(
            self._insert_ignoring[_is_postgres(session)].returning(self.t.c.lookup),
            self._row(keyed, answer.status, self._sealed(keyed, answer)),
        ).first() is not None

    def release(self, session: Session, keyed: Keyed) -> None:
        session.execute(self.t.delete().where(self.t.c.lookup == self.lookup(keyed), self.t.c.status == PENDING))
