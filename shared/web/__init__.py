"""The pages for people (UI.md), one look for the three services: one base template
(``templates/layout.html``), one stylesheet and one small script (``static/``, served at ``/static/``
by intake), the signed-in person in every page, and what a page does when nobody is signed in.

A page calls the same use case as the API (each service's ``services.py``); this module only
decides who is asking (R24, ``shared.sessions``) and renders.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, urlsplit

from flask import Blueprint, Response, current_app, make_response, redirect, render_template, request

from shared.auth import Principal
from shared.config import Settings
from shared.problems import Problem, as_problem
from shared.refusals import Refused
from shared.request_auth import BAD_CSRF
from shared.sessions import CSRF_FIELD, SAFE_METHODS, Person, csrf_ok, person

bp = Blueprint("sovang_web", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static")

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

# The start page of each role (UI.md), in the order of the navigation.
ROLE_PAGES: tuple[tuple[str, str, str], ...] = (
    ("officer", "/deeds/new", "Ghi việc tốt"),
    ("officer", "/deeds/", "Việc tốt của tôi"),
    ("subunit_lead", "/introduce/", "Giới thiệu"),
    ("council_member", "/ballot/", "Bỏ phiếu"),
    ("unit_secretary", "/unit/", "Đơn vị"),
    ("unit_secretary", "/rounds/", "Phiên xét"),
    ("province_secretary", "/province/", "Toàn tỉnh"),
    ("province_secretary", "/dashboard/", "Bảng theo dõi"),
    ("province_secretary", "/rounds/", "Phiên xét"),
    ("admin", "/admin/", "Quản trị"),
)
START = {"officer": "/deeds/", "subunit_lead": "/introduce/", "council_member": "/ballot/",
         "unit_secretary": "/unit/", "province_secretary": "/province/", "admin": "/admin/"}

SIGNED_OUT = "Phiên làm việc đã hết hạn hoặc đã kết thúc; hãy đăng nhập lại. Những gì bạn đã nhập được giữ lại."
NOT_YOURS = "Trang này dành cho vai trò bạn không giữ."
# The most of a kept form (bytes) that rides through the force's provider in a cookie (~4 KB).
OIDC_KEPT_MAX = 2000


def role_pages(who: Person) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    for role, href, label in ROLE_PAGES:
        if role in who.roles and href not in [h for h, _ in seen]:
            seen.append((href, label))
    return seen


def start_page(who: Person) -> str:
    """Where signing in leads: the page of a person's one role, or the start page listing their
    roles and what waits in each when they hold several."""
    pages = {START[r] for r in who.roles if r in START}
    return pages.pop() if len(pages) == 1 else "/"


def _name(subject: str) -> str:
    runtime = current_app.extensions["sovang"]
    org = runtime.orgs.get()
    officer = org.officers.get(subject) if org else None
    return f"{officer.rank} {officer.name}".strip() if officer else subject


def force_name() -> str:
    """The force the pages belong to, as the organisation loaded names it (R25 may rename it)."""
    org = current_app.extensions["sovang"].orgs.get()
    return org.province_name if org and org.province_name else ""


def signed_in_values(who: Person) -> dict[str, Any]:
    """What the layout shows of a signed-in person (``templates/_signed_in.html``)."""
    return {"person": who, "person_name": _name(who.subject), "role_pages": role_pages(who)}


def page(template: str, status: int = 200, **values: Any) -> Response:
    resp = make_response(render_template(template, **values), status)
    resp.headers["Content-Type"] = "text/html; charset=utf-8"
    for name, value in SECURITY_HEADERS.items():
        resp.headers.setdefault(name, value)
    # Pages hold what only this person may see, and forms with their CSRF token.
    resp.headers["Cache-Control"] = "no-store"
    return resp


def problem_page(exc: Problem | Refused, back: str = "/") -> Response:
    """A problem, or a use case's refusal (its status, ``shared.problems.STATUS_OF``), as a page."""
    exc = as_problem(exc)
    return page("problem.html", exc.status, title=exc.title, detail=exc.detail, back=back)


def safe_next(target: str | None) -> str:
    """A path of this origin to go to after signing in, never another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return ""
    return target


def kept_form() -> str:
    """What the person had typed in the form their expired session could not send (UI.md)."""
    pairs = [(k, v) for k, v in request.form.items(multi=True) if k != CSRF_FIELD]
    return json.dumps(pairs, ensure_ascii=False) if pairs else ""


def oidc_offered(settings: Settings, kept: str = "") -> bool:
    """Whether the sign-in page offers **Đăng nhập bằng tài khoản ngành** (R24, the force's
    provider, ``services/intake/oidc.py``): a kept form rides through the provider in a cookie, so
    one too long for it is sent with the password form instead."""
    return settings.oidc and len(kept.encode("utf-8")) <= OIDC_KEPT_MAX


def signin_page(status: int, settings: Settings, provider_origins: Iterable[str] = (), **values: Any) -> Response:
    """The sign-in page, with the provider's button when it is offered. That button posts here and
    is sent on to the provider: the page's ``form-action`` must allow the provider's origin, or a
    browser stops the redirect."""
    values["oidc"] = oidc_offered(settings, values.get("kept") or "")
    resp = page("signin.html", status, **values)
    if values["oidc"]:
        origins = sorted({_origin(settings.oidc_issuer or ""), *provider_origins})
        resp.headers["Content-Security-Policy"] = resp.headers["Content-Security-Policy"].replace(
            "form-action 'self'", "form-action 'self' " + " ".join(origins))
    return resp


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def sign_in_again() -> Response:
    """Nobody signed in: a page asked for is shown after signing in; a form sent is kept and sent
    again after signing in."""
    if request.method in SAFE_METHODS:
        return redirect("/?next=" + quote(request.full_path.rstrip("?"), safe="/?=&"), code=303)
    return signin_page(401, current_app.extensions["sovang"].settings, next=request.path, kept=kept_form(),
                       reason=SIGNED_OUT, error=None, subject="", errors={})


def acting(*roles: str) -> Principal | Response:
    """The signed-in person acting with the first of ``roles`` they hold; the sign-in page when
    nobody is signed in; a 403 page for a role they do not hold or a form without its CSRF token."""
    who = person()
    if who is None:
        return sign_in_again()
    role = next((r for r in roles if r in who.roles), None) if roles else who.role
    if role is None:
        raise Problem(403, NOT_YOURS)
    if not csrf_ok(who):
        raise Problem(403, BAD_CSRF)
    return Principal(role, who.subject, who.roles, who.session)
