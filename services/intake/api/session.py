"""People sign in (R24, API.md Common): ``/api/v1/session``.

``POST`` ``{"subject", "password"}`` → 204 and the ``sovang_session`` cookie (a random id, HttpOnly,
SameSite=Strict, Secure behind TLS); ``DELETE`` signs out; ``GET`` says who is signed in and the
session's CSRF token; ``POST /role`` changes the role the session acts with by default;
``GET /check`` is what the edge asks on every request that carries the cookie (shared.sessions).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from services.intake import people
from services.intake.in_request import address, runtime, signing_in, write
from shared.bodies import json_body
from shared.problems import Problem
from shared.sessions import COOKIE, HEADER, Person, csrf_ok, person
from shared.text import text_problem

bp = Blueprint("intake_session", __name__, url_prefix="/api/v1/session")

__all__ = ["address", "bp", "clear_cookie", "credentials", "set_cookie"]


def set_cookie(resp: Response, session_id: str) -> None:
    # No Max-Age: the browser forgets it when closed; the server ends it after inactivity anyway.
    resp.set_cookie(COOKIE, session_id, path="/", httponly=True, samesite="Strict", secure=request.is_secure)


def clear_cookie(resp: Response) -> None:
    resp.delete_cookie(COOKIE, path="/", httponly=True, samesite="Strict", secure=request.is_secure)


def credentials(data: dict[str, Any]) -> tuple[str, str]:
    """``subject`` and ``password`` of a sign-in, or a 422 with the field's error (R4a)."""
    errors: dict[str, list[str]] = {}
    values = {}
    for field in ("subject", "password"):
        value = data.get(field)
        if not isinstance(value, str) or not value.strip():
            errors[field] = ["Trường này là bắt buộc."]
            continue
        problem = text_problem(value)
        if problem:
            errors[field] = [problem]
        elif len(value) > (64 if field == "subject" else people.MAX_PASSWORD):
            errors[field] = ["Quá dài."]
        values[field] = value
    extra = [k for k in data if k not in ("subject", "password")]
    for k in extra:
        errors[k] = ["Trường không được phép."]
    if errors:
        raise Problem(422, "Một số trường không hợp lệ.", errors=errors)
    return values["subject"].strip(), values["password"]


def who_body(who: Person) -> dict[str, Any]:
    return {"subject": who.subject, "roles": list(who.roles), "role": who.role, "csrf_token": who.csrf,
            "idle_minutes": runtime().settings.session_idle_minutes}


def signed_in() -> Person:
    who = person()
    if who is None:
        raise Problem(401, "Chưa đăng nhập hoặc phiên đã hết hạn.")
    return who


@bp.post("")
def sign_in() -> Response:
    subject, password = credentials(json_body())
    done = signing_in(people.sign_in, subject, password, address())
    resp = Response(status=204)
    set_cookie(resp, done.session_id)
    return resp


@bp.delete("")
def sign_out() -> Response:
    who = person()
    if who is None:
        resp = Problem(401, "Chưa đăng nhập hoặc phiên đã hết hạn.").response()
        clear_cookie(resp)
        return resp
    if not csrf_ok(who):
        raise Problem(403, "Thiếu hoặc sai mã chống giả mạo (CSRF) của phiên.")
    write(people.sign_out, request.cookies[COOKIE])
    resp = Response(status=204)
    clear_cookie(resp)
    return resp


@bp.get("")
def current() -> Response:
    resp = jsonify(who_body(signed_in()))
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.post("/role")
def switch_role() -> Response:
    who = signed_in()
    if not csrf_ok(who):
        raise Problem(403, "Thiếu hoặc sai mã chống giả mạo (CSRF) của phiên.")
    role = json_body().get("role")
    if not isinstance(role, str):
        raise Problem(422, "Thiếu vai trò.", errors={"role": ["Trường này là bắt buộc."]})
    resp = jsonify(who_body(write(people.switch_role, who, role)))
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/check")
def check() -> Response:
    """For the edge only: 204 always, with ``X-Sovang-Person`` when the cookie is a live session
    (nginx's ``auth_request`` lets the request through on any 2xx)."""
    resp = Response(status=204)
    resp.headers["Cache-Control"] = "no-store"
    cookie = request.cookies.get(COOKIE)
    if cookie:
        value = write(people.assertion, cookie)
        if value:
            resp.headers[HEADER] = value
    return resp
