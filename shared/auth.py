"""Bearer tokens with the roles of API.md, and each service's copy of the organisation.

A token names one role and one subject; only its SHA-256 is stored, in every service's own
database (``sovang token issue`` writes it to each), so each service authenticates alone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import g, request
from sqlalchemy import event

from shared.db import Database, UnitOfWork, utcnow
from shared.http import Problem
from shared.org import ROLES, Organisation
from shared.tables import org_documents, tokens


@dataclass(frozen=True)
class Principal:
    role: str
    subject: str


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


def revoke_token(uow: UnitOfWork, token: str) -> bool:
    result = uow.session.execute(
        tokens.update()
        .where(tokens.c.token_hash == token_hash(token), tokens.c.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return bool(result.rowcount)


# Built once: every request of every service looks its token up with it (a statement built per
# request costs more Python than its round trip), and run on the session's connection, without
# the ORM's layers.
_TOKEN = sa.select(tokens.c.role, tokens.c.subject, tokens.c.expires_at, tokens.c.revoked_at).where(
    tokens.c.token_hash == sa.bindparam("h")
)


def authenticate(db: Database, header: str | None) -> Principal:
    """The principal of an ``Authorization: Bearer`` header, or a 401 problem."""
    if not header or not header.startswith("Bearer "):
        raise Problem(401, "Thiếu mã xác thực (Authorization: Bearer …).", headers={"WWW-Authenticate": "Bearer"})
    token = header[len("Bearer "):].strip()
    with db.reading() as s:
        row = s.connection().execute(_TOKEN, {"h": token_hash(token)}).first()
    if row is None or row.revoked_at is not None or row.expires_at <= utcnow() or row.role not in ROLES:
        raise Problem(401, "Mã xác thực không hợp lệ, đã hết hạn hoặc đã bị thu hồi.",
                      headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    return Principal(row.role, row.subject)


def principal(db: Database, *roles: str) -> Principal:
    """Authenticate the current request and require one of ``roles`` (all roles when none given)."""
    p = getattr(g, "principal", None)
    if p is None:
        p = authenticate(db, request.headers.get("Authorization"))
        g.principal = p
    if roles and p.role not in roles:
        raise Problem(403, f"Vai trò {p.role} không được phép thực hiện thao tác này.")
    return p


# -- the organisation --------------------------------------------------------------------------
# Bumped whenever this process commits a new organisation document, so that every OrgCache of
# the process looks again at once instead of at its next periodic check.
_generations = itertools.count(1)
_generation = 0


def _org_committed(_session: object) -> None:
    global _generation
    _generation = next(_generations)


def store_org(uow: UnitOfWork, doc: dict[str, Any]) -> bool:
    """Keep a copy of the organisation; returns False when this very document is already loaded."""
    Organisation.loadable(doc)  # refuse a malformed document before storing it
    digest = Organisation.digest(doc)
    latest = uow.session.execute(
        sa.select(org_documents.c.digest).order_by(org_documents.c.id.desc()).limit(1)
    ).scalar()
    if latest == digest:
        return False
    exists = uow.session.execute(sa.select(org_documents.c.id).where(org_documents.c.digest == digest)).scalar()
    if exists:
        # An older document loaded again becomes current once more.
        uow.session.execute(org_documents.delete().where(org_documents.c.id == exists))
    uow.session.execute(org_documents.insert().values(digest=digest, document=doc, loaded_at=utcnow()))
    # Once committed, not before: a cache looking in between would keep the old document.
    event.listen(uow.session, "after_commit", _org_committed, once=True)
    return True


class OrgCache:
    """The current organisation of one service, parsed once per loaded document.

    Whether a newer document was loaded is asked of the database at most once every
    ``check_seconds`` (a request would otherwise pay a query to learn that nothing changed):
    ``sovang org load`` from another process is seen within that time, a load committed by this
    process at once.
    """

    def __init__(self, db: Database, check_seconds: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.db = db
        self.check_seconds = check_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._id: int | None = None
        self._org: Organisation | None = None
        self._checked_at = 0.0
        self._generation = -1

    def get(self) -> Organisation | None:
        now = self._clock()
        generation = _generation  # read before looking: a load committed meanwhile bumps it again
        org = self._org
        if org is not None and generation == self._generation and now - self._checked_at < self.check_seconds:
            return org
        with self.db.reading() as s:
            latest = s.execute(sa.select(org_documents.c.id).order_by(org_documents.c.id.desc()).limit(1)).scalar()
            if latest is None:
                return None
            if latest == self._id and org is not None:
                with self._lock:
                    self._checked_at, self._generation = now, generation
                return org
            doc = s.execute(sa.select(org_documents.c.document).where(org_documents.c.id == latest)).scalar()
        parsed = Organisation.from_document(doc)
        with self._lock:
            self._org, self._id, self._checked_at, self._generation = parsed, latest, now, generation
            return parsed

    def require(self) -> Organisation:
        org = self.get()
        if org is None:
            raise Problem(503, "Chưa nạp tổ chức (sovang org load).")
        return org
