"""Who is asking on an HTTP request (API.md "Common", R24): a bearer token (``shared.auth``) or
a person signed in (``shared.sessions``), required to hold one of an operation's roles."""

from __future__ import annotations

from flask import g, request
from sqlalchemy.orm import Session

from shared.auth import Principal, token_in_force
from shared.db import Database
from shared.problems import Problem
from shared.sessions import csrf_ok, person


def authenticate(db: Database, header: str | None, reader: Session | None = None) -> Principal:
    """The principal of an ``Authorization: Bearer`` header, or a 401 problem."""
    if not header or not header.startswith("Bearer "):
        raise Problem(401, "Thiếu mã xác thực (Authorization: Bearer …).", headers={"WWW-Authenticate": "Bearer"})
    found = token_in_force(db, header[len("Bearer "):].strip(), reader)
    if found is None:
        raise Problem(401, "Mã xác thực không hợp lệ, đã hết hạn hoặc đã bị thu hồi.",
                      headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    return found


NOT_SIGNED_IN = "Chưa đăng nhập hoặc phiên đã hết hạn; hãy đăng nhập lại."
BAD_CSRF = "Thiếu hoặc sai mã chống giả mạo (CSRF) của phiên; hãy tải lại trang rồi gửi lại."


def session_principal() -> Principal | None:
    """The principal of the person signed in on this request (R24), acting with their current
    role; None without a session. A state-changing request must carry the session's CSRF token."""
    who = person()
    if who is None:
        return None
    if not csrf_ok(who):
        raise Problem(403, BAD_CSRF)
    return Principal(who.role, who.subject, who.roles, who.session)


def principal(db: Database, *roles: str, reader: Session | None = None) -> Principal:
    """Authenticate the current request and require one of ``roles`` (all roles when none given).

    A bearer token names its role; a person signed in acts with the first of ``roles`` they hold
    (their current role when it is one of them), so a lead who sits on the council votes and
    introduces without switching."""
    p = getattr(g, "principal", None)
    if p is None:
        header = request.headers.get("Authorization")
        p = session_principal() if not header else None
        if p is None:
            if not header and request.cookies.get("sovang_session"):
                raise Problem(401, NOT_SIGNED_IN)
            p = authenticate(db, header, reader)
        g.principal = p
    if roles and p.role not in roles:
        held = next((r for r in roles if r in p.roles), None)
        if held is None:
            raise Problem(403, f"Vai trò {p.role} không được phép thực hiện thao tác này.")
        p = p.acting_as(held)
        g.principal = p
    return p
