"""Bearer tokens with the roles of API.md, and who holds one (``Principal``). Who is asking on
an HTTP request is ``shared.request_auth``'s.

A token names one role and one subject; only its SHA-256 is stored, in every service's own
database (``sovang token issue`` writes it to each), so each service authenticates alone.
Each service's copy of the organisation is ``shared.orgcopy``.
"""

from __future__ import annotations

import atexit
import datetime as dt
import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

from shared import audit
from shared.db import Database, UnitOfWork, utcnow
from shared.org import ROLES, Organisation
from shared.tables import tokens


@dataclass(frozen=True)
class Principal:
    role: str
    subject: str
    # A person signed in (R24) holds these roles and acts with ``role`` among them; a token names
    # one role and leaves this empty.
    roles: tuple[str, ...] = ()
    session: str | None = None

    def acting_as(self, role: str) -> Principal:
        return Principal(role, self.subject, self.roles, self.session)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return "sv_" + secrets.token_urlsafe(32)


def store_token(uow: UnitOfWork, token: str, role: str, subject: str, ttl_days: int) -> None:
    now = utcnow()
    uow.session.execute(
        tokens.insert().values(
            token_hash=token_hash(token), role=role, subject=subject, issued_at=now,
            expires_at=now + dt.timedelta(days=ttl_days),
        )
    )


def revoke_subject(uow: UnitOfWork, subject: str) -> int:
    """R24: every token of a subject stops working (in this process at once, in the others within
    ``TOKEN_FRESH_SECONDS``)."""
    result = uow.session.execute(
        tokens.update().where(tokens.c.subject == subject, tokens.c.revoked_at.is_(None)).values(revoked_at=utcnow())
    )
    forget_tokens_on_commit(uow)
    return int(result.rowcount or 0)


def revoke_token(uow: UnitOfWork, token: str) -> bool:
    result = uow.session.execute(
        tokens.update()
        .where(tokens.c.token_hash == token_hash(token), tokens.c.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    forget_tokens_on_commit(uow)
    return bool(result.rowcount)


def token_unit(org: Organisation | None, role: str, subject: str) -> str | None:
    """The unit an audit line about a subject's tokens belongs to (R23); ``*`` is every role."""
    if org is None:
        return None
    return audit.unit_of(org, "officer" if role == "*" else role, subject)


def revoke_copy(uow: UnitOfWork, org: Organisation | None, msg: Any) -> int:
    """R24: a revocation an admin made on intake's page (``TokensRevoked``), applied to this
    service's copy of the tokens. Tokens already revoked here (an earlier delivery, ``sovang token
    revoke``) change nothing and write no line, so a message delivered again changes nothing."""
    result = uow.session.execute(
        tokens.update()
        .where(tokens.c.token_hash.in_(msg.token_hashes), tokens.c.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    forget_tokens_on_commit(uow)
    done = int(result.rowcount or 0)
    if done:
        audit.record(uow, audit.Named("admin", msg.by), "token.revoked", f"{msg.role}:{msg.subject}",
                     {"tokens": done, "from": "intake"}, unit=token_unit(org, msg.role, msg.subject))
    return done


# Built once: every request of every service looks its token up with it (a statement built per
# request costs more Python than its round trip), and run on the session's connection, without
# the ORM's layers.
_TOKEN = sa.select(tokens.c.role, tokens.c.subject, tokens.c.expires_at, tokens.c.revoked_at).where(
    tokens.c.token_hash == sa.bindparam("h")
)
_USED = tokens.update().where(tokens.c.token_hash == sa.bindparam("h")).values(last_used_at=sa.bindparam("at"))
# ``sovang token list`` says when a token was last used (R24), to the minute: noted in memory and
# written by a timer once a minute, off every request's path (a request makes the same SQL
# whether or not its token's note is due).
LAST_USED_EVERY = dt.timedelta(minutes=1)


class _UseNotes:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[Database, dict[str, dt.datetime]] = {}
        self._noted: dict[tuple[Database, str], dt.datetime] = {}
        self._timer: threading.Timer | None = None

    def note(self, db: Database, digest: str) -> None:
        now = utcnow()
        last = self._noted.get((db, digest))
        if last is not None and last > now - LAST_USED_EVERY:
            return
        with self._lock:
            self._noted[(db, digest)] = now
            self._pending.setdefault(db, {})[digest] = now
            if self._timer is None:
                self._timer = threading.Timer(LAST_USED_EVERY.total_seconds(), self.flush)
                self._timer.daemon = True
                self._timer.start()

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
            old = utcnow() - LAST_USED_EVERY
            self._noted = {k: at for k, at in self._noted.items() if at > old}
            if self._timer is not None:
                self._timer.cancel()
            self._timer = None
        for db, stamps in pending.items():
            try:
                with db.engine.begin() as conn:
                    conn.execute(_USED, [{"h": h, "at": at} for h, at in stamps.items()])
            except Exception:  # a note of use is worth no error: the database may be gone
                pass


_use_notes = _UseNotes()
flush_use_notes = _use_notes.flush
atexit.register(flush_use_notes)


# A token's row is read from the database at most once in this long by each process: a token
# revoked by another process (``sovang token revoke``, another web worker) stops working within
# it, one revoked by this process at once (R24). Well below the second promised; a busy
# program's requests then cost no round trip for their token.
TOKEN_FRESH_SECONDS = 0.5


class _TokenRows:
    """The rows of the tokens in use, each kept for ``fresh_seconds`` from the moment its read
    began (a revocation committed after that moment is seen at the next read). Only tokens found
    are kept: one issued in another process works at its first request."""

    LIMIT = 4096  # tokens kept at once; past it the oldest half is forgotten

    def __init__(self, fresh_seconds: float = TOKEN_FRESH_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.fresh_seconds = fresh_seconds
        self._clock = clock
        self._rows: dict[tuple[str, str | None, str], tuple[float, Any]] = {}
        self._epoch = 0  # bumped by every forget(): a read begun before it is not kept
        self._lock = threading.Lock()  # a row is kept, or all forgotten, one at a time (never on a hit)

    def get(self, db: Database, digest: str, reader: Session | None = None) -> Any:
        now = self._clock()
        key = (db.url, db.schema, digest)  # one database's row, whichever Database object reads it
        kept = self._rows.get(key)
        if kept is not None and now - kept[0] < self.fresh_seconds:
            return kept[1]
        epoch = self._epoch
        with nullcontext(reader) if reader is not None else db.reading() as s:
            row = s.connection().execute(_TOKEN, {"h": digest}).first()
        with self._lock:
            if row is None:
                self._rows.pop(key, None)
            elif epoch == self._epoch:
                if len(self._rows) >= self.LIMIT:
                    oldest = sorted(self._rows.items(), key=lambda kv: kv[1][0])[: self.LIMIT // 2]
                    for k, _v in oldest:
                        self._rows.pop(k, None)
                self._rows[key] = (now, row)
        return row

    def forget(self, _session: object = None) -> None:
        with self._lock:
            self._epoch += 1
            self._rows = {}


_token_rows = _TokenRows()


def forget_tokens_on_commit(uow: UnitOfWork) -> None:
    """Whoever revokes tokens in ``uow`` calls this: this process reads every token's row afresh
    from now on and again once the revocation is committed (a read in between still sees the
    token in force, and must not be kept past the commit)."""
    _token_rows.forget()
    event.listen(uow.session, "after_commit", _token_rows.forget, once=True)


def token_in_force(db: Database, token: str, reader: Session | None = None) -> Principal | None:
    """The principal of a bearer token still in force, or None (unknown, expired, revoked); its
    row, when read, is read on ``reader`` if given (the request's unit of work), else on a session
    of its own."""
    digest = token_hash(token)
    row = _token_rows.get(db, digest, reader)
    if row is None or row.revoked_at is not None or row.expires_at <= utcnow() or row.role not in ROLES:
        return None
    _use_notes.note(db, digest)
    return Principal(row.role, row.subject)
