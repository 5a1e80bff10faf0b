"""Pages for people: the council member's ballot page (``/ballot/``) and the province's
dashboard (``/dashboard/``), server-rendered in Vietnamese from autoescaped Jinja templates with
everything they need shipped here (no CDN).

Signing in takes a bearer token (``sovang token issue``), kept in an HttpOnly, SameSite=Strict
cookie scoped to the page's path; each request authenticates it like a Bearer header. Forms carry
a token derived from it, so another site cannot post a ballot in the member's name. Ballots go
through ``services.cast_ballot``, the same use case as the API (R17–R19).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, make_response, redirect, render_template, request

from services.council import page_queries as pq
from services.council import repository as repo
from services.council import services
from services.council.chart import Cell, bars_svg
from services.council.chart import Row as ChartRow
from services.council.domain.ballots import vote_receipt
from services.council.domain.rounds import CANCELLED, CLOSED, OPEN, OPENING, latest_ended_quarter
from shared import clock
from shared.auth import Principal, token_hash
from shared.clock import Quarter
from shared.db import utcnow
from shared.http import Problem
from shared.org import ROLES, Organisation
from shared.runtime import Runtime
from shared.tables import tokens

bp = Blueprint(
    "council_pages", __name__, template_folder="templates", static_folder="static",
    static_url_path="/ballot/static",
)

BALLOT_COOKIE = "sovang_ballot"
DASHBOARD_COOKIE = "sovang_dashboard"
CHOICES = ("approve", "reject", "abstain")
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

ALREADY_VOTED = "Bạn đã bỏ phiếu trong phiên này. Phiếu đã bỏ là cuối cùng: không thể bỏ phiếu lần nữa hay sửa phiếu (R18)."
CANCELLED_TEXT = ("Phiên đã bị huỷ: thư ký hội đồng huỷ phiên mở nhầm trước khi có phiếu nào (R20a). "
                  "Các việc tốt của phiên sẽ được xét ở phiên mở lại.")
OPENING_TEXT = "Phiên chưa mở: hội đồng đang chờ danh sách ứng viên. Hãy quay lại sau ít phút."
NOT_ENTITLED = ("Bạn không biểu quyết ứng viên nào của phiên này: bạn là tác giả hoặc thành viên tập thể tác giả "
                "của mọi việc tốt được xét (R17).")
NOT_MEMBER = "Bạn không phải thành viên của hội đồng này, nên không bỏ phiếu trong phiên này."


def _runtime() -> Runtime:
    return current_app.extensions["sovang"]


def _org() -> Organisation:
    return _runtime().orgs.require()


@bp.after_request
def _headers(resp: Response) -> Response:
    if request.path.startswith(("/ballot", "/dashboard")):
        for name, value in SECURITY_HEADERS.items():
            resp.headers.setdefault(name, value)
        if not request.path.startswith("/ballot/static/"):
            # Ballots, receipts and unpublished counts are never kept by a cache.
            resp.headers["Cache-Control"] = "no-store"
    return resp


# -- signing in ----------------------------------------------------------------------------------
def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)


def principal_of_token(token: str) -> Principal | None:
    """The principal of a token, as ``Authorization: Bearer`` would authenticate it; None if it is
    unknown, expired or revoked."""
    token = token.strip()
    if not token:
        return None
    with _runtime().db.reading() as s:
        row = s.execute(sa.select(tokens).where(tokens.c.token_hash == token_hash(token))).first()
    if row is None or row.revoked_at is not None or row.role not in ROLES:
        return None
    expires = _aware(row.expires_at)
    if expires is None or expires <= utcnow():
        return None
    return Principal(row.role, row.subject)


def form_token(token: str) -> str:
    """The anti-forgery value of a signed-in page: derived from the member's own token, which
    another site cannot read."""
    return hashlib.sha256(b"sovang-page-form\0" + token.encode("utf-8")).hexdigest()[:40]


def _signed_in(cookie: str) -> tuple[str, Principal] | None:
    token = request.cookies.get(cookie)
    if not token:
        return None
    who = principal_of_token(token)
    return (token, who) if who else None


def _check_form(token: str) -> None:
    sent = request.form.get("form_token", "")
    if not hmac.compare_digest(sent, form_token(token)):
        raise Problem(403, "Biểu mẫu đã hết hiệu lực hoặc không gửi từ trang này; hãy tải lại trang.")


def _set_cookie(resp: Response, cookie: str, path: str, token: str) -> None:
    resp.set_cookie(cookie, token, path=path, httponly=True, samesite="Strict", secure=request.is_secure,
                    max_age=12 * 3600)


def _page(template: str, status: int = 200, **values: Any) -> Response:
    resp = make_response(render_template(template, **values), status)
    resp.headers["Content-Type"] = "text/html; charset=utf-8"
    return resp


def _member_name(org: Organisation, code: str) -> str:
    officer = org.officers.get(code)
    return f"{officer.rank} {officer.name}".strip() if officer else code


# -- the ballot page -----------------------------------------------------------------------------
@bp.get("/ballot/")
def ballot_home() -> Response:
    signed = _signed_in(BALLOT_COOKIE)
    if signed is None or signed[1].role != "council_member":
        return _page("pages/signin.html", area="ballot", action="/ballot/sign-in", next=request.args.get("next", ""),
                     heading="Phiếu bầu của thành viên hội đồng",
                     intro="Đăng nhập bằng mã xác thực thành viên hội đồng (vai trò council_member) do thư ký cấp.")
    token, who = signed
    org = _org()
    with _runtime().db.reading() as s:
        rounds = pq.member_rounds(s, who.subject)
    return _page("pages/ballot_home.html", who=who, name=_member_name(org, who.subject), rounds=rounds,
                 form_token=form_token(token),
                 instant=pq.instant_label, period_label=pq.period_label)


@bp.post("/ballot/sign-in")
def ballot_sign_in() -> Response:
    return _sign_in(BALLOT_COOKIE, "/ballot", ("council_member",), "ballot")


@bp.post("/ballot/sign-out")
def ballot_sign_out() -> Response:
    return _sign_out(BALLOT_COOKIE, "/ballot")


def _sign_in(cookie: str, path: str, roles: tuple[str, ...], area: str) -> Response:
    token = request.form.get("token", "").strip()
    who = principal_of_token(token)
    error = None
    if who is None:
        error = "Mã xác thực không hợp lệ, đã hết hạn hoặc đã bị thu hồi."
    elif who.role not in roles:
        wanted = " hoặc ".join(roles)
        error = f"Mã này mang vai trò {who.role}; trang này cần vai trò {wanted}."
    if error:
        heading = "Phiếu bầu của thành viên hội đồng" if area == "ballot" else "Bảng theo dõi việc tốt toàn tỉnh"
        return _page("pages/signin.html", 401, area=area, action=f"{path}/sign-in", next=request.form.get("next", ""),
                     heading=heading, error=error, intro="")
    target = request.form.get("next", "")
    if not target.startswith(f"{path}/") or "//" in target:
        target = f"{path}/"
    resp = redirect(target, code=303)
    _set_cookie(resp, cookie, path, token)
    return resp


def _sign_out(cookie: str, path: str) -> Response:
    signed = _signed_in(cookie)
    if signed is not None:
        _check_form(signed[0])
    resp = redirect(f"{path}/", code=303)
    resp.delete_cookie(cookie, path=path)
    return resp


def _require_member(round_id: str) -> tuple[str, Principal] | Response:
    signed = _signed_in(BALLOT_COOKIE)
    if signed is None or signed[1].role != "council_member":
        return redirect(f"/ballot/?next=/ballot/rounds/{round_id}", code=303)
    return signed


def _round_view(who: Principal, round_id: str) -> pq.BallotRound:
    with _runtime().db.reading() as s:
        view = pq.ballot_round(s, _org(), round_id, who.subject)
        if view is None:
            raise Problem(404, "Không có phiên bỏ phiếu này.")
        member = bool(view.mine) or repo.is_member(s, view.council, who.subject)
    if not member:
        raise Problem(403, NOT_MEMBER)
    return view


def _state_notice(view: pq.BallotRound) -> str | None:
    """Why this member cannot vote on this round now, in words; None when they can."""
    if view.status == CLOSED:
        return f"Phiên đã đóng: không nhận phiếu nữa (R18, R20). Hạn bỏ phiếu là {pq.instant_label(view.closes_at)}."
    if view.status == OPENING:
        return OPENING_TEXT
    if view.status == CANCELLED:
        return CANCELLED_TEXT
    if view.has_voted:
        return ALREADY_VOTED
    if view.status == OPEN and utcnow() >= view.closes_at:
        return f"Đã quá hạn bỏ phiếu của phiên ({pq.instant_label(view.closes_at)}): không nhận phiếu nữa (R20)."
    if not view.mine:
        return NOT_ENTITLED
    return None


def _render_round(token: str, who: Principal, view: pq.BallotRound, *, chosen: dict[str, str] | None = None,
                  errors: dict[str, str] | None = None, alert: str | None = None, status: int = 200) -> Response:
    org = _org()
    notice = alert or _state_notice(view)
    return _page(
        "pages/ballot_round.html", status, who=who, name=_member_name(org, who.subject), view=view,
        notice=notice, refused=alert is not None, chosen=chosen or {}, errors=errors or {},
        form_token=form_token(token), instant=pq.instant_label, date_label=pq.date_label,
        choice_labels=pq.CHOICE_LABELS, can_vote=notice is None,
    )


@bp.get("/ballot/rounds/<round_id>")
def ballot_round(round_id: str) -> Response:
    signed = _require_member(round_id)
    if isinstance(signed, Response):
        return signed
    token, who = signed
    return _render_round(token, who, _round_view(who, round_id))


def _choices_from_form(view: pq.BallotRound) -> tuple[dict[str, str], dict[str, str]]:
    chosen: dict[str, str] = {}
    errors: dict[str, str] = {}
    for c in view.mine:
        value = request.form.get(f"choice-{c.id}", "").strip()
        if value in CHOICES:
            chosen[c.id] = value
        else:
            errors[c.id] = f"Hãy chọn Tán thành, Không tán thành hoặc Không biểu quyết cho “{c.title}”."
    return chosen, errors


@bp.post("/ballot/rounds/<round_id>")
def ballot_submit(round_id: str) -> Response:
    """Three steps on one address: ``review`` the choices, ``edit`` them again, ``confirm`` to cast."""
    signed = _require_member(round_id)
    if isinstance(signed, Response):
        return signed
    token, who = signed
    _check_form(token)
    view = _round_view(who, round_id)
    notice = _state_notice(view)
    if notice is not None:
        return _render_round(token, who, view, alert=notice, status=409)
    chosen, errors = _choices_from_form(view)
    step = request.form.get("step", "review")
    if step == "edit" or errors:
        return _render_round(token, who, view, chosen=chosen, errors=errors if step != "edit" else {},
                             status=422 if errors and step != "edit" else 200)
    if step != "confirm":
        return _page("pages/ballot_confirm.html", who=who, name=_member_name(_org(), who.subject), view=view,
                     chosen=chosen, form_token=form_token(token), choice_labels=pq.CHOICE_LABELS,
                     instant=pq.instant_label)
    try:
        receipt = services.cast_ballot(_runtime(), who, round_id, chosen)["receipt"]
    except Problem as exc:
        if exc.status not in (409, 422):
            raise
        fresh = _round_view(who, round_id)
        return _render_round(token, who, fresh, alert=_state_notice(fresh) or exc.detail, status=exc.status)
    # R19: the receipt page says nothing of the choices (its length is the same whatever they
    # were); it gives each vote's own receipt, by which the member finds it once published.
    return _page("pages/ballot_receipt.html", 201, who=who, name=_member_name(_org(), who.subject), view=view,
                 receipt=receipt, votes=[(c, vote_receipt(receipt, c.id)) for c in view.mine],
                 form_token=form_token(token))


@bp.errorhandler(Problem)
def _problem_page(exc: Problem) -> Response:
    """Refusals on these pages are pages too, in the same words as the API's."""
    if not request.path.startswith(("/ballot", "/dashboard")):
        return exc.response()
    return _page("pages/problem.html", exc.status, detail=exc.detail, title=exc.title,
                 back="/dashboard/" if request.path.startswith("/dashboard") else "/ballot/")


# -- the province's dashboard (R10) --------------------------------------------------------------
DASHBOARD_ROLES = ("province_secretary", "unit_secretary")


def _quarter_arg(default: Quarter) -> Quarter:
    raw = request.args.get("quarter")
    if not raw:
        return default
    try:
        return Quarter.parse(raw)
    except ValueError:
        raise Problem(422, "quarter phải có dạng YYYY-Qn (ví dụ 2026-Q3).") from None


def _neighbour(q: Quarter, step: int) -> Quarter:
    index = q.year * 4 + (q.q - 1) + step
    return Quarter(index // 4, index % 4 + 1)


@bp.get("/dashboard/")
def dashboard() -> Response:
    signed = _signed_in(DASHBOARD_COOKIE)
    if signed is None or signed[1].role not in DASHBOARD_ROLES:
        return _page("pages/signin.html", area="dashboard", action="/dashboard/sign-in", next=request.full_path,
                     heading="Bảng theo dõi việc tốt toàn tỉnh",
                     intro="Đăng nhập bằng mã xác thực của thư ký Công an tỉnh (province_secretary); thư ký "
                           "đơn vị (unit_secretary) xem được đơn vị mình.")
    token, who = signed
    org = _org()
    if who.role == "province_secretary":
        if who.subject != org.province_secretary:
            raise Problem(403, "Mã này không phải của thư ký Công an tỉnh.")
        units = list(org.units)
    else:
        unit = org.unit_led_by(who.subject)
        if unit is None:
            raise Problem(403, "Không phải thư ký của đơn vị nào.")
        units = [unit]
    quarter = _quarter_arg(latest_ended_quarter(clock.now()))
    with _runtime().db.reading() as s:
        board = pq.dashboard(s, org, quarter, units)
    months = [pq.period_label(m) for m in board.months]
    chart = bars_svg(
        f"Việc tốt từng tháng của từng đơn vị, {pq.period_label(board.quarter)}",
        [m[0].upper() + m[1:] for m in months],
        [ChartRow(label=r.name.removeprefix("Công an "), title=r.name,
                  cells=[Cell(c.recorded, c.introduced, c.recognised, c.quota_met) for c in r.months])
         for r in board.rows],
    )
    return _page(
        "pages/dashboard.html", who=who, name=_member_name(org, who.subject), board=board, months=months,
        chart=chart, quarter_label=pq.period_label(board.quarter), province_name=org.province_name,
        previous=str(_neighbour(quarter, -1)), following=str(_neighbour(quarter, 1)), form_token=form_token(token),
    )


@bp.post("/dashboard/sign-in")
def dashboard_sign_in() -> Response:
    return _sign_in(DASHBOARD_COOKIE, "/dashboard", DASHBOARD_ROLES, "dashboard")


@bp.post("/dashboard/sign-out")
def dashboard_sign_out() -> Response:
    return _sign_out(DASHBOARD_COOKIE, "/dashboard")
