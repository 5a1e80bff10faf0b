"""Bearer tokens with the roles of API.md, and each service's copy of the organisation.

A token names one role and one subject; only its SHA-256 is stored, in every service's own
database (``sovang token issue`` writes it to each), so each service authenticates alone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import threading
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import g, request

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


def authenticate(db: Database, header: str | None) -> Principal:
    """The principal of an ``Authorization: Bearer`` header, or a 401 problem."""
    if not header or not header.startswith("Bearer "):
        raise Problem(401, "Thiếu mã xác thực (Authorization: Bearer …).", headers={"WWW-Authenticate": "Bearer"})
    token = header[len("Bearer "):].strip()
    with db.reading() as s:
        row = s.execute(sa.select(tokens).where(tokens.c.token_hash == token_hash(token))).first()
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
def store_org(uow: UnitOfWork, doc: dict[str, Any]) -> bool:
    """Keep a copy of the organisation; returns False when this very document is already loaded."""
    Organisation.from_document(doc)  # refuse a malformed document before storing it
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
    return True


class OrgCache:
    """The current organisation of one service, parsed once per loaded document."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._id: int | None = None
        self._org: Organisation | None = None

    def get(self) -> Organisation | None:
        with self.db.reading() as s:
            latest = s.execute(sa.select(org_documents.c.id).order_by(org_documents.c.id.desc()).limit(1)).scalar()
            if latest is None:
                return None
            if latest == self._id and self._org is not None:
                return self._org
            doc = s.execute(sa.select(org_documents.c.document).where(org_documents.c.id == latest)).scalar()
        with self._lock:
            self._org, self._id = Organisation.from_document(doc), latest
            return self._org

    def require(self) -> Organisation:
        org = self.get()
        if org is None:
            raise Problem(503, "Chưa nạp tổ chức (sovang org load).")
        return org
