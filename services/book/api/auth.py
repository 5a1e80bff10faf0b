"""Who is asking: ``shared.auth.principal`` with one workaround.

SQLite gives a token's ``expires_at`` back without its offset (``shared/tables.py`` declares the
token columns ``DateTime(timezone=True)``, not ``Instant``), so ``shared.auth.authenticate``
compares a naive with an aware datetime and every SQLite request would be a 500. This module
authenticates the same way with the offset restored, then lets ``principal`` check the role.
Remove once the token columns are ``Instant``.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask import g, request

from shared.auth import Principal, principal, token_hash
from shared.db import Database, utcnow
from shared.http import Problem
from shared.org import ROLES
from shared.tables import tokens


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)


def who(db: Database, *roles: str) -> Principal:
    """The request's principal (401 without a valid token), holding one of ``roles`` (else 403)."""
    header = request.headers.get("Authorization")
    if getattr(g, "principal", None) is None and header and header.startswith("Bearer "):
        token = header[len("Bearer "):].strip()
        with db.reading() as s:
            row = s.execute(sa.select(tokens).where(tokens.c.token_hash == token_hash(token))).first()
        if row is not None:
            expires = _aware(row.expires_at)
            if row.revoked_at is not None or expires is None or expires <= utcnow() or row.role not in ROLES:
                raise Problem(401, "Mã xác thực không hợp lệ, đã hết hạn hoặc đã bị thu hồi.",
                              headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
            g.principal = Principal(row.role, row.subject)
    return principal(db, *roles)
