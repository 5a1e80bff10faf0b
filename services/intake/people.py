"""People and their sessions (R24): intake owns them for the three services.

A person signs in with their officer code and a password (Argon2id hash, ``argon2-cffi``); the
session lives in this database, the browser holds only its random id. A session ends when its
person signs out, after ``SOVANG_SESSION_IDLE_MINUTES`` without a request, or for every browser
at once (an admin's **Đăng xuất mọi nơi**, ``sovang user signout``, a new password). The other
services learn of a session through the edge (``shared.sessions``), so an ended session stops
working everywhere at the next request.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from services.intake.orm import Password, PersonSession, SigninFailure
from shared import audit
from shared.db import utcnow
from shared.org import Organisation
from shared.problems import Problem
from shared.runtime import Runtime
from shared.sessions import Person, new_session_id, roles_of, session_digest, session_key, sign
from shared.text import text_problem

_hasher = PasswordHasher()
# Checked when the subject has no password, so that an unknown subject takes as long as a known
# one with a wrong password (the same 401 either way, R24).
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))

MIN_PASSWORD = 8
MAX_PASSWORD = 256
# last_seen_at is written at most this often per session: enough for an idle limit in minutes.
TOUCH_EVERY = dt.timedelta(seconds=15)

WRONG_PAIR = "Mã cán bộ hoặc mật khẩu không đúng."
TOO_MANY = "Đăng nhập sai quá nhiều lần; hãy đợi ít phút rồi thử lại."

# Why a session ended, as the sign-in page says it (UI.md).
ENDED = {
    "signed_out": "Bạn đã đăng xuất.",
    "idle": "Phiên làm việc đã hết hạn vì lâu không thao tác; hãy đăng nhập lại.",
    "everywhere": "Phiên làm việc đã bị kết thúc (đăng xuất mọi nơi); hãy đăng nhập lại.",
}


class PasswordRefused(ValueError):
    """A password that cannot be set, with the reason in Vietnamese."""


def _org(runtime: Runtime) -> Organisation:
    return runtime.orgs.require()


def _unit(runtime: Runtime, role: str, subject: str) -> str | None:
    org = runtime.orgs.get()
    return audit.unit_of(org, role, subject) if org is not None else None


def person_roles(runtime: Runtime, subject: str) -> tuple[str, ...]:
    return roles_of(_org(runtime), subject, runtime.settings.admins)


def password_problem(password: str) -> str | None:
    """Why a password cannot be set (R24, R4a), or None."""
    if len(password) < MIN_PASSWORD:
        return f"Mật khẩu cần ít nhất {MIN_PASSWORD} ký tự."
    if len(password) > MAX_PASSWORD:
        return f"Mật khẩu tối đa {MAX_PASSWORD} ký tự."
    return text_problem(password)


def set_password(runtime: Runtime, subject: str, password: str, by: str) -> None:
    """Set or reset a person's password; the sessions they had end (a reset after a lost phone)."""
    if not person_roles(runtime, subject):
        raise PasswordRefused(f"{subject} không phải cán bộ trong tổ chức đã nạp, cũng không là quản trị.")
    problem = password_problem(password)
    if problem:
        raise PasswordRefused(problem)
    digest = _hasher.hash(password)
    now = utcnow()
    with runtime.db.unit_of_work() as uow:
        s = uow.session
        row = s.get(Password, subject)
        if row is None:
            s.add(Password(subject=subject, hash=digest, set_at=now, set_by=by))
        else:
            row.hash, row.set_at, row.set_by = digest, now, by
        ended = _end_all(s, subject, "everywhere", now)
        audit.record(uow, _actor(by), "password.set", subject,
                     {"sessions_ended": ended}, unit=_unit(runtime, "officer", subject), at=now)
        uow.commit()


def has_password(runtime: Runtime, subject: str) -> bool:
    with runtime.db.reading() as s:
        return s.get(Password, subject) is not None


# -- signing in --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SignedIn:
    session_id: str  # for the cookie only: never stored
    person: Person


def _failures_since(s: Any, column: Any, value: str, since: dt.datetime) -> int:
    return int(s.execute(
        sa.select(sa.func.count()).select_from(SigninFailure).where(column == value, SigninFailure.at > since)
    ).scalar() or 0)


def _limited(runtime: Runtime, subject: str, address: str) -> bool:
    settings = runtime.settings
    since = utcnow() - dt.timedelta(minutes=settings.signin_window_minutes)
    with runtime.db.reading() as s:
        return (_failures_since(s, SigninFailure.subject, subject, since) >= settings.signin_failures_per_subject
                or _failures_since(s, SigninFailure.address, address, since) >= settings.signin_failures_per_address)


def _fail(runtime: Runtime, subject: str, address: str) -> None:
    now = utcnow()
    with runtime.db.unit_of_work() as uow:
        # Old failures go as new ones come: the table holds about one window's worth.
        keep = now - dt.timedelta(minutes=runtime.settings.signin_window_minutes)
        uow.session.execute(sa.delete(SigninFailure).where(SigninFailure.at <= keep))
        uow.session.add(SigninFailure(subject=subject[:64], address=address[:64], at=now))
        uow.commit()


def limited(runtime: Runtime, subject: str, address: str) -> bool:
    """Whether a subject or an address failed too often within the window (R24, 429)."""
    return _limited(runtime, subject, address)


def count_failure(runtime: Runtime, subject: str, address: str) -> None:
    """A failed sign-in of another kind (an ID token refused) counts towards the same limits."""
    _fail(runtime, subject, address)


def retry_after(runtime: Runtime) -> str:
    return str(runtime.settings.signin_window_minutes * 60)


def sign_in(runtime: Runtime, subject: str, password: str, address: str) -> SignedIn:
    """R24: a new session for the right pair; 401 alike for a wrong password and an unknown
    subject; 429 once a subject or an address failed too often within the window."""
    subject = subject.strip()
    if _limited(runtime, subject, address):
        raise Problem(429, TOO_MANY, headers={"Retry-After": retry_after(runtime)})
    with runtime.db.reading() as s:
        row = s.get(Password, subject)
        stored = row.hash if row is not None else _DUMMY_HASH
    try:
        ok = _hasher.verify(stored, password) and row is not None
    except (VerificationError, InvalidHashError):
        ok = False
    roles = person_roles(runtime, subject) if ok else ()
    if not roles:
        _fail(runtime, subject, address)
        raise Problem(401, WRONG_PAIR)
    rehash = _hasher.hash(password) if _hasher.check_needs_rehash(stored) else None
    return _open(runtime, subject, roles, "password", rehash)


def sign_in_vouched(runtime: Runtime, subject: str, address: str, method: str, unknown: str) -> SignedIn:
    """R24: a session for a person another system vouched for (the force's OpenID Connect
    provider, ``services.intake.oidc``): the same session, limits and audit line as with a
    password; 401 with ``unknown`` when the code is no one's in the organisation."""
    subject = subject.strip()
    if limited(runtime, subject, address):
        raise Problem(429, TOO_MANY, headers={"Retry-After": retry_after(runtime)})
    roles = person_roles(runtime, subject) if subject else ()
    if not roles:
        _fail(runtime, subject, address)
        raise Problem(401, unknown)
    return _open(runtime, subject, roles, method)


def _open(runtime: Runtime, subject: str, roles: tuple[str, ...], method: str, rehash: str | None = None) -> SignedIn:
    session_id, csrf = new_session_id(), secrets.token_urlsafe(32)
    now = utcnow()
    with runtime.db.unit_of_work() as uow:
        if rehash is not None:
            uow.session.get(Password, subject).hash = rehash
        uow.session.add(PersonSession(
            id_hash=session_digest(session_id), subject=subject, role=roles[0], csrf=csrf,
            created_at=now, last_seen_at=now,
        ))
        # A good pair clears the subject's count: a person who mistyped signs in afterwards.
        uow.session.execute(sa.delete(SigninFailure).where(SigninFailure.subject == subject))
        # R23: who signed in (never from where: the address is the person's, not the record's).
        audit.record(uow, audit.Named(roles[0], subject), "session.signed_in", subject,
                     {"roles": list(roles), "method": method},
                     unit=_unit(runtime, roles[0], subject), at=now)
        uow.commit()
    return SignedIn(session_id, Person(subject, roles, roles[0], csrf, session_digest(session_id)))


def lookup(runtime: Runtime, session_id: str) -> Person | None:
    """The person of a live session, its idle time renewed; None for an ended, idle or unknown one."""
    digest = session_digest(session_id)
    now = utcnow()
    with runtime.db.reading() as s:
        row = s.get(PersonSession, digest)
        if row is None or row.ended_at is not None:
            return None
        subject, role, csrf, last_seen = row.subject, row.role, row.csrf, row.last_seen_at
    if now - last_seen > dt.timedelta(minutes=runtime.settings.session_idle_minutes):
        _end(runtime, digest, "idle", now)
        return None
    roles = person_roles(runtime, subject)
    if not roles:  # no longer in the organisation (R25)
        return None
    if now - last_seen > TOUCH_EVERY:
        with runtime.db.engine.begin() as conn:
            conn.execute(sa.update(PersonSession).where(PersonSession.id_hash == digest).values(last_seen_at=now))
    return Person(subject, roles, role if role in roles else roles[0], csrf, digest)


def why_ended(runtime: Runtime, session_id: str) -> str | None:
    """What the sign-in page tells a person whose session is over (UI.md), if it is."""
    digest = session_digest(session_id)
    with runtime.db.reading() as s:
        row = s.get(PersonSession, digest)
        if row is None:
            return None
        why, last_seen = row.ended_why, row.last_seen_at
    if why is None and utcnow() - last_seen > dt.timedelta(minutes=runtime.settings.session_idle_minutes):
        why = "idle"
    return ENDED.get(why or "")


def _end(runtime: Runtime, digest: str, why: str, now: dt.datetime) -> None:
    with runtime.db.unit_of_work() as uow:
        ended = uow.session.execute(sa.update(PersonSession).where(
            PersonSession.id_hash == digest, PersonSession.ended_at.is_(None)
        ).values(ended_at=now, ended_why=why).returning(PersonSession.subject, PersonSession.role)).first()
        if ended is not None:
            actor = audit.Named(ended.role, ended.subject) if why == "signed_out" else audit.system("intake")
            audit.record(uow, actor, "session.ended", ended.subject, {"why": why},
                         unit=_unit(runtime, ended.role, ended.subject), at=now)
        uow.commit()


def sign_out(runtime: Runtime, session_id: str) -> None:
    _end(runtime, session_digest(session_id), "signed_out", utcnow())


def _end_all(s: Any, subject: str, why: str, now: dt.datetime) -> int:
    result = s.execute(sa.update(PersonSession).where(
        PersonSession.subject == subject, PersonSession.ended_at.is_(None)
    ).values(ended_at=now, ended_why=why))
    return int(result.rowcount or 0)


def _actor(by: str) -> audit.Named:
    """R23's who: ``cli`` (the server's command line) or ``admin:CODE`` (an admin on their page)."""
    return audit.CLI if by == "cli" else audit.Named("admin", by.removeprefix("admin:"))


def sign_out_everywhere(runtime: Runtime, subject: str, by: str = "cli") -> int:
    """R24: every session of a person ends at once (a lost phone); how many were live. ``by`` as
    for ``set_password``."""
    with runtime.db.unit_of_work() as uow:
        n = _end_all(uow.session, subject, "everywhere", utcnow())
        audit.record(uow, _actor(by), "session.ended", subject, {"why": "everywhere", "sessions": n},
                     unit=_unit(runtime, "officer", subject))
        uow.commit()
    return n


def switch_role(runtime: Runtime, who: Person, role: str) -> Person:
    """The role a session acts with when a request asks none (a person with several roles)."""
    if role not in who.roles:
        raise Problem(422, "Bạn không giữ vai trò này.", errors={"role": [f"Một trong: {', '.join(who.roles)}."]})
    with runtime.db.unit_of_work() as uow:
        uow.session.execute(sa.update(PersonSession).where(PersonSession.id_hash == who.session).values(role=role))
        uow.commit()
    return Person(who.subject, who.roles, role, who.csrf, who.session)


def people(runtime: Runtime) -> list[dict[str, Any]]:
    """For the admin's page: every person with a password, and how many live sessions they have."""
    idle = utcnow() - dt.timedelta(minutes=runtime.settings.session_idle_minutes)
    with runtime.db.reading() as s:
        live = dict(s.execute(
            sa.select(PersonSession.subject, sa.func.count()).where(
                PersonSession.ended_at.is_(None), PersonSession.last_seen_at > idle
            ).group_by(PersonSession.subject)
        ).all())
        rows = s.execute(sa.select(Password.subject, Password.set_at).order_by(Password.subject)).all()
    return [{"subject": r.subject, "set_at": r.set_at, "sessions": live.get(r.subject, 0)} for r in rows]


def assertion(runtime: Runtime, session_id: str) -> str | None:
    """What the edge passes to the other services for this session (``shared.sessions``)."""
    who = lookup(runtime, session_id)
    return sign(who, session_key(runtime.settings)) if who is not None else None
