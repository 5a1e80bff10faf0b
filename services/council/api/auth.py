"""Who is asking: the request's principal, holding one of the roles a path allows."""

from __future__ import annotations

from shared.auth import Principal, principal
from shared.db import Database


def who(db: Database, *roles: str) -> Principal:
    """The request's principal (401 without a valid token), holding one of ``roles`` (else 403)."""
    return principal(db, *roles)
