"""People and their sessions (R24): intake owns them for the three services.

A person signs in with their officer code and a password (Argon2id hash, ``argon2-cffi``); the
session lives in this database, the browser holds only its random id. A session ends when its
person signs out, after ``SOVANG_SESSION_IDLE_MINUTES`` without a request, or for every browser
at once (an admin's **Đăng xuất mọi nơi**, ``sovang user signout``, a new password). The other
services learn of a session through the edge (``shared.sessions``), so an ended session stops
working everywhere at the next request.

Use cases ``fn(uow, ctx, …)`` over intake's unit of work (``repository.Work``: ``uow.people``);
the rules are ``domain.signin``'s. They never commit: the page, the API, the provider's callback
(``api.session.signing_in``) or the command line that opened the unit of work does, once.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, replace
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from services.intake.domain.signin import (
    ENDED,
    MAX_PASSWORD,
    MIN_PASSWORD,
    NOT_YOUR_ROLE,
    TOO_MANY,
    WRONG_PAIR,
    Limits,
    StoredSession,
    due_a_touch,
    idle,
    password_problem,
)
from services.intake.repository import Work
from shared import audit
from shared.context import Context
from shared.refusals import Invalid, TooMany, Unauthenticated, Unavailable
from shared.sessions import Person, new_session_id, roles_of, session_digest, session_key, sign

__all__ = ["ENDED", "MAX_PASSWORD", "MIN_PASSWORD", "NotSignedIn", "PasswordRefused", "SignedIn", "assertion",
           "count_failure", "limited", "lookup", "password_problem", "people", "person_roles", "set_password",
           "sign_in", "sign_in_vouched", "sign_out", "sign_out_everywhere", "switch_role", "why_ended"]

_hasher = PasswordHasher()
# Checked when the subject has no password, so that an unknown subject takes as long as a known
# one with a wrong password (the same 401 either way, R24).
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


class PasswordRefused(Invalid):
    """A password that cannot be set, with the reason in Vietnamese beside its field."""


class NotSignedIn(Unauthenticated):
    """R24: a wrong pair, or a person the organisation does not know (401 alike). It counts
    towards the sign-in limits: the entrypoint counts it (``count_failure``) once the attempt's
    own writes are rolled back, and commits the count."""

    def __init__(self, detail: str, subject: str) -> None:
        super().__init__(detail)
        self.subject = subject


@dataclass(frozen=True)
class SignedIn:
    session_id: str  # for the cookie only: never stored
    person: Person


def _limits(ctx: Context) -> Limits:
    s = ctx.settings
    return Limits(s.signin_window_minutes, s.signin_failures_per_subject, s.signin_failures_per_address)


def _unit(ctx: Context, role: str, subject: str) -> str | None:
    """R23: the unit a line about a person belongs to; none before any organisation is loaded
    (``sovang user signout`` may end a person's sessions then)."""
    try:
        org = ctx.organisation
    except Unavailable:
        return None
    return audit.unit_of(org, role, subject)


def _actor(by: str) -> audit.Named:
    """R23's who: ``cli`` (the server's command line) or ``admin:CODE`` (an admin on their page)."""
    return audit.CLI if by == "cli" else audit.Named("admin", by.removeprefix("admin:"))


def person_roles(ctx: Context, subject: str) -> tuple[str, ...]:
    return roles_of(ctx.organisation, subject, ctx.settings.admins)


# -- passwords ---------------------------------------------------------------------------------------
def set_password(uow: Work, ctx: Context, by: str, subject: str, password: str) -> None:
    """R24: set or reset a person's password; the sessions they had end (a reset after a lost
    phone). ``by``: ``cli`` or ``admin:CODE``, who set it (R23)."""
    if not person_roles(ctx, subject):
        unknown = f"{subject} không phải cán bộ trong tổ chức đã nạp, cũng không là quản trị."
        raise PasswordRefused(unknown, {"subject": [unknown]})
    problem = password_problem(password)
    if problem:
        raise PasswordRefused(problem, {"password": [problem]})
    uow.people.set_password(subject, _hasher.hash(password), ctx.now, by)
    ended = uow.people.end_all(subject, "everywhere", ctx.now)
    uow.audit([(_actor(by), "password.set", subject, _unit(ctx, "officer", subject), {"sessions_ended": ended})],
              at=ctx.now)


# -- signing in --------------------------------------------------------------------------------------
def limited(uow: Work, ctx: Context, subject: str, address: str) -> bool:
    """R24: whether a subject or an address failed too often within the window (429)."""
    limits = _limits(ctx)
    return limits.exceeded(*uow.people.failures_since(subject, address, limits.since(ctx.now)))


def count_failure(uow: Work, ctx: Context, subject: str, address: str) -> None:
    """R24: a failed sign-in (a wrong pair, a person unknown, an ID token refused) counts towards
    the limits of its subject and its address."""
    uow.people.add_failure(subject, address, ctx.now, forget_before=_limits(ctx).since(ctx.now))


def _refuse_if_limited(uow: Work, ctx: Context, subject: str, address: str) -> None:
    if limited(uow, ctx, subject, address):
        raise TooMany(TOO_MANY, retry_after=_limits(ctx).retry_after)


def sign_in(uow: Work, ctx: Context, subject: str, password: str, address: str) -> SignedIn:
    """R24: a new session for the right pair; ``NotSignedIn`` (401) alike for a wrong password and
    an unknown subject; ``TooMany`` (429) once a subject or an address failed too often within
    the window."""
    subject = subject.strip()
    _refuse_if_limited(uow, ctx, subject, address)
    known = uow.people.password_hash(subject)
    stored = known if known is not None else _DUMMY_HASH
    try:
        ok = _hasher.verify(stored, password) and known is not None
    except (VerificationError, InvalidHashError):
        ok = False
    roles = person_roles(ctx, subject) if ok else ()
    if not roles:
        raise NotSignedIn(WRONG_PAIR, subject)
    if _hasher.check_needs_rehash(stored):
        uow.people.rehash(subject, _hasher.hash(password))
    return _open(uow, ctx, subject, roles, "password")


def sign_in_vouched(uow: Work, ctx: Context, subject: str, address: str, method: str, unknown: str) -> SignedIn:
    """R24: a session for a person another system vouched for (the force's OpenID Connect
    provider, ``services.intake.oidc``): the same session, limits and audit line as with a
    password; ``NotSignedIn`` (401) with ``unknown`` when the code is no one's in the organisation."""
    subject = subject.strip()
    _refuse_if_limited(uow, ctx, subject, address)
    roles = person_roles(ctx, subject) if subject else ()
    if not roles:
        raise NotSignedIn(unknown, subject)
    return _open(uow, ctx, subject, roles, method)


def _open(uow: Work, ctx: Context, subject: str, roles: tuple[str, ...], method: str) -> SignedIn:
    session_id = new_session_id()
    stored = StoredSession(session_digest(session_id), subject, roles[0], secrets.token_urlsafe(32), ctx.now, ctx.now)
    uow.people.add_session(stored)
    # A good pair clears the subject's count: a person who mistyped signs in afterwards.
    uow.people.clear_failures(subject)
    # R23: who signed in (never from where: the address is the person's, not the record's).
    uow.audit([(audit.Named(roles[0], subject), "session.signed_in", subject, _unit(ctx, roles[0], subject),
                {"roles": list(roles), "method": method})], at=ctx.now)
    return SignedIn(session_id, Person(subject, roles, roles[0], stored.csrf, stored.digest))


# -- a session ---------------------------------------------------------------------------------------
def lookup(uow: Work, ctx: Context, session_id: str) -> Person | None:
    """The person of a live session, its idle time renewed; None for an ended, idle or unknown
    one (an idle one is ended here, R24)."""
    digest = session_digest(session_id)
    found = uow.people.session(digest)
    if found is None or found.ended_at is not None:
        return None
    if idle(found.last_seen_at, ctx.now, ctx.settings.session_idle_minutes):
        _end(uow, ctx, digest, "idle")
        return None
    roles = person_roles(ctx, found.subject)
    if not roles:  # no longer in the organisation (R25)
        return None
    if due_a_touch(found.last_seen_at, ctx.now):
        uow.people.touch(digest, ctx.now)
    return Person(found.subject, roles, found.role if found.role in roles else roles[0], found.csrf, digest)


def why_ended(uow: Work, ctx: Context, session_id: str) -> str | None:
    """What the sign-in page tells a person whose session is over (UI.md), if it is."""
    found = uow.people.session(session_digest(session_id))
    if found is None:
        return None
    why = found.ended_why
    if why is None and idle(found.last_seen_at, ctx.now, ctx.settings.session_idle_minutes):
        why = "idle"
    return ENDED.get(why or "")


def _end(uow: Work, ctx: Context, digest: str, why: str) -> None:
    ended = uow.people.end(digest, why, ctx.now)
    if ended is not None:
        actor = audit.Named(ended.role, ended.subject) if why == "signed_out" else audit.system("intake")
        uow.audit([(actor, "session.ended", ended.subject, _unit(ctx, ended.role, ended.subject), {"why": why})],
                  at=ctx.now)


def sign_out(uow: Work, ctx: Context, session_id: str) -> None:
    _end(uow, ctx, session_digest(session_id), "signed_out")


def sign_out_everywhere(uow: Work, ctx: Context, by: str, subject: str) -> int:
    """R24: every session of a person ends at once (a lost phone); how many were live. ``by`` as
    for ``set_password``."""
    n = uow.people.end_all(subject, "everywhere", ctx.now)
    uow.audit([(_actor(by), "session.ended", subject, _unit(ctx, "officer", subject),
                {"why": "everywhere", "sessions": n})], at=ctx.now)
    return n


def switch_role(uow: Work, ctx: Context, who: Person, role: str) -> Person:
    """The role a session acts with when a request asks none (a person with several roles)."""
    if role not in who.roles:
        raise Invalid(NOT_YOUR_ROLE, {"role": [f"Một trong: {', '.join(who.roles)}."]})
    uow.people.set_role(who.session, role)
    return replace(who, role=role)


def people(uow: Work, ctx: Context) -> list[dict[str, Any]]:
    """For the admin's page: every person with a password, and how many live sessions they have."""
    return uow.people.with_passwords(live_since=ctx.now - dt.timedelta(minutes=ctx.settings.session_idle_minutes))


def assertion(uow: Work, ctx: Context, session_id: str) -> str | None:
    """What the edge passes to the other services for this session (``shared.sessions``)."""
    who = lookup(uow, ctx, session_id)
    return sign(who, session_key(ctx.settings)) if who is not None else None
