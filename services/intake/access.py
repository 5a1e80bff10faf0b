"""Program tokens on the admin's page (R24): listed and revoked from intake's copy.

Every service keeps its own copy of the tokens (``sovang token issue`` writes each database), and
in the distributed deployment intake cannot write the others'. So a revocation made here revokes
intake's copy in the same transaction as its audit line (R23) and tells council and book by a
message each (``TokensRevoked``, through the outbox), whose consumers revoke their copy
(``shared.auth.revoke_copy``): the token stops at intake at once (in its other web processes
within ``shared.auth.TOKEN_FRESH_SECONDS``), at council and book when the message arrives
(seconds). ``sovang token revoke`` still stops it everywhere within that half second.

A token is named on the page by a handle, the first characters of its SHA-256: never the token.

Use cases ``fn(uow, ctx, …)`` over intake's unit of work (``uow.tokens``); the admin's page
commits.
"""

from __future__ import annotations

from typing import Any

from services.intake.repository import Work
from shared import audit
from shared.auth import token_unit
from shared.context import Context
from shared.messages import BookTokensRevoked, TokensRevoked
from shared.refusals import Conflict

HANDLE = 12  # hex digits of the SHA-256 shown on the page
GONE = "Mã này không còn hiệu lực (đã thu hồi hoặc hết hạn)."


class NotInForce(Conflict):
    """No token in force answers to what the admin chose."""


def handle_of(token_hash: str) -> str:
    return token_hash[:HANDLE]


def in_force(uow: Work, ctx: Context) -> list[dict[str, Any]]:
    """The tokens in force in intake's copy, by subject then issue; never a token, only a handle."""
    rows = uow.tokens.in_force(ctx.now)
    for row in rows:
        row["handle"] = handle_of(row.pop("token_hash"))
    return rows


def revoke(uow: Work, ctx: Context, actor: audit.Actor, *, handle: str | None = None,
           subject: str | None = None) -> tuple[str, int]:
    """R24: revoke one token (by its handle) or every token in force of ``subject``, tell council
    and book (R23's line beside it); returns the subject and how many were revoked. Refuses
    (``NotInForce``) when nothing matches."""
    if (handle is None) == (subject is None):
        raise ValueError("one of handle or subject")
    if handle is not None and (len(handle) != HANDLE or any(c not in "0123456789abcdef" for c in handle)):
        raise NotInForce(GONE)
    found = uow.tokens.matching(ctx.now, hash_prefix=handle, subject=subject)
    # A handle is a prefix: two tokens sharing one (never seen at 48 bits) are refused, not both revoked.
    if not found or (handle is not None and len(found) > 1):
        raise NotInForce(GONE)
    hashes = [token_hash for token_hash, _, _ in found]
    uow.tokens.revoke(hashes, ctx.now)
    role = found[0][1] if handle is not None else "*"
    who = found[0][2]
    details: dict[str, Any] = {"tokens": len(hashes)}
    if handle is not None:
        details["token"] = handle
    uow.audit([(actor, "token.revoked", f"{role}:{who}", token_unit(ctx.organisation, role, who), details)],
              at=ctx.now)
    for kind in (TokensRevoked, BookTokensRevoked):
        uow.emit(kind(token_hashes=hashes, role=role, subject=who, by=actor.subject))
    return who, len(hashes)
