"""Program tokens on the admin's page (R24): listed and revoked from intake's copy.

Every service keeps its own copy of the tokens (``sovang token issue`` writes each database), and
in the distributed deployment intake cannot write the others'. So a revocation made here revokes
intake's copy in the same transaction as its audit line (R23) and tells council and book by a
message each (``TokensRevoked``, through the outbox), whose consumers revoke their copy
(``shared.auth.revoke_copy``): the token stops at intake at once (in its other web processes
within ``shared.auth.TOKEN_FRESH_SECONDS``), at council and book when the message arrives
(seconds). ``sovang token revoke`` still stops it everywhere within that half second.

A token is named on the page by a handle, the first characters of its SHA-256: never the token.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from shared import audit
from shared.auth import forget_tokens_on_commit, token_unit
from shared.db import utcnow
from shared.messages import BookTokensRevoked, TokensRevoked
from shared.runtime import Runtime
from shared.tables import tokens

HANDLE = 12  # hex digits of the SHA-256 shown on the page


class NotInForce(LookupError):
    """No token in force answers to what the admin chose."""


def handle_of(token_hash: str) -> str:
    return token_hash[:HANDLE]


def in_force(runtime: Runtime) -> list[dict[str, Any]]:
    """The tokens in force in intake's copy, by subject then issue; never a token, only a handle."""
    query = (sa.select(tokens.c.token_hash, tokens.c.role, tokens.c.subject, tokens.c.issued_at,
                       tokens.c.expires_at, tokens.c.last_used_at)
             .where(tokens.c.revoked_at.is_(None), tokens.c.expires_at > utcnow())
             .order_by(tokens.c.subject, tokens.c.issued_at))
    with runtime.db.reading() as s:
        rows = [dict(r) for r in s.execute(query).mappings()]
    for row in rows:
        row["handle"] = handle_of(row.pop("token_hash"))
    return rows


def revoke(runtime: Runtime, actor: audit.Actor, *, handle: str | None = None,
           subject: str | None = None) -> tuple[str, int]:
    """Revoke one token (by its handle) or every token in force of ``subject``; returns the
    subject and how many were revoked. Raises ``NotInForce`` when nothing matches."""
    if (handle is None) == (subject is None):
        raise ValueError("one of handle or subject")
    now = utcnow()
    query = sa.select(tokens.c.token_hash, tokens.c.role, tokens.c.subject).where(
        tokens.c.revoked_at.is_(None), tokens.c.expires_at > now)
    if handle is not None:
        if len(handle) != HANDLE or any(c not in "0123456789abcdef" for c in handle):
            raise NotInForce(handle)
        query = query.where(tokens.c.token_hash.like(handle + "%"))
    else:
        query = query.where(tokens.c.subject == subject)
    with runtime.db.unit_of_work() as uow:
        found = uow.session.execute(query).all()
        # A handle is a prefix: two tokens sharing one (never seen at 48 bits) are refused, not both revoked.
        if not found or (handle is not None and len(found) > 1):
            raise NotInForce(handle or subject)
        hashes = [r.token_hash for r in found]
        uow.session.execute(tokens.update().where(tokens.c.token_hash.in_(hashes), tokens.c.revoked_at.is_(None))
                            .values(revoked_at=now))
        forget_tokens_on_commit(uow)
        role = found[0].role if handle is not None else "*"
        who = found[0].subject
        details: dict[str, Any] = {"tokens": len(hashes)}
        if handle is not None:
            details["token"] = handle
        org = runtime.orgs.get()
        audit.record(uow, actor, "token.revoked", f"{role}:{who}", details, unit=token_unit(org, role, who))
        for kind in (TokensRevoked, BookTokensRevoked):
            uow.emit(kind(token_hashes=hashes, role=role, subject=who, by=actor.subject))
        uow.commit()
    return who, len(hashes)
