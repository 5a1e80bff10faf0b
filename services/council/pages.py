"""Pages for people: the council member's ballot page (``/ballot/``) and the province's
dashboard (``/dashboard/``), server-rendered in Vietnamese from autoescaped Jinja templates with
everything they need shipped here (no CDN).

People sign in once on ``/`` (R24, ``shared.sessions``): no token is kept in the browser. Forms
carry the session's CSRF token, so another site cannot post a ballot in the member's name.
Ballots go through ``services.cast_ballot``, the same use case as the API (R17–R19).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, request

from services.council import page_queries as pq
from services.council import runs
from services.council.chart import Cell, bars_svg
from services.council.chart import Row as ChartRow
from services.council.domain.ballots import vote_receipt
from services.council.domain.rounds import CANCELLED, CLOSED, OPEN, OPENING, latest_ended_quarter
from shared import clock
from shared.auth import Principal
from shared.clock import Quarter
from shared.db import utcnow
from shared.endpoint import read, read_afresh
from shared.org import Organisation
from shared.problems import Problem, as_problem
from shared.refusals import Refused
from shared.runtime import Runtime
from shared.web import acting, page, problem_page

bp = Blueprint("council_pages", __name__, template_folder="templates")

CHOICES = ("approve", "reject", "abstain")

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


def _page(template: str, status: int = 200, **values: Any) -> Response:
    return page(template, status, **values)


def _member_name(org: Organisation, code: str) -> str:
    officer = org.officers.get(code)
    return f"{officer.rank} {officer.name}".strip() if officer else code


# -- the ballot page -----------------------------------------------------------------------------
@bp.get("/ballot/")
def ballot_home() -> Response:
    """The member's start page: the rounds of their councils, those waiting for their vote first."""
    who = acting("council_member")
    if isinstance(who, Response):
        return who
    org = _org()
    rounds = read(pq.member_rounds, who)
    waiting = sum(1 for r in rounds if r.status == OPEN and not r.voted and r.entitled_to)
    return _page("pages/ballot_home.html", who=who, name=_member_name(org, who.subject), rounds=rounds,
                 waiting=waiting, instant=pq.instant_label, period_label=pq.period_label)


def _round_view(who: Principal, round_id: str) -> pq.BallotRound:
    view = read(pq.ballot_round, who, round_id)
    if view is None:
        raise Problem(404, "Không có phiên bỏ phiếu này.")
    if not view.member:
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


def _render_round(who: Principal, view: pq.BallotRound, *, chosen: dict[str, str] | None = None,
                  errors: dict[str, str] | None = None, alert: str | None = None, status: int = 200) -> Response:
    org = _org()
    notice = alert or _state_notice(view)
    return _page(
        "pages/ballot_round.html", status, who=who, name=_member_name(org, who.subject), view=view,
        notice=notice, refused=alert is not None, chosen=chosen or {}, errors=errors or {},
        instant=pq.instant_label, date_label=pq.date_label,
        choice_labels=pq.CHOICE_LABELS, can_vote=notice is None,
    )


@bp.get("/ballot/rounds/<round_id>")
def ballot_round(round_id: str) -> Response:
    who = acting("council_member")
    if isinstance(who, Response):
        return who
    return _render_round(who, _round_view(who, round_id))


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
    who = acting("council_member")
    if isinstance(who, Response):
        return who
    view = _round_view(who, round_id)
    notice = _state_notice(view)
    if notice is not None:
        return _render_round(who, view, alert=notice, status=409)
    chosen, errors = _choices_from_form(view)
    step = request.form.get("step", "review")
    if step == "edit" or errors:
        return _render_round(who, view, chosen=chosen, errors=errors if step != "edit" else {},
                             status=422 if errors and step != "edit" else 200)
    if step != "confirm":
        return _page("pages/ballot_confirm.html", who=who, name=_member_name(_org(), who.subject), view=view,
                     chosen=chosen, choice_labels=pq.CHOICE_LABELS,
                     instant=pq.instant_label)
    try:
        receipt = runs.cast_ballot(_runtime(), who, round_id, chosen)["receipt"]
    except (Problem, Refused) as refused:
        exc = as_problem(refused)
        if exc.status not in (409, 422):
            raise
        read_afresh()  # the round as it stands now: what made the ballot refused
        fresh = _round_view(who, round_id)
        return _render_round(who, fresh, alert=_state_notice(fresh) or exc.detail, status=exc.status)
    # R19: the receipt page says nothing of the choices (its length is the same whatever they
    # were); it gives each vote's own receipt, by which the member finds it once published.
    return _page("pages/ballot_receipt.html", 201, who=who, name=_member_name(_org(), who.subject), view=view,
                 receipt=receipt, votes=[(c, vote_receipt(receipt, c.id)) for c in view.mine])


@bp.errorhandler(Refused)
def _refusal_page(exc: Refused) -> Response:
    return _problem_page(Problem.of(exc))


@bp.errorhandler(Problem)
def _problem_page(exc: Problem) -> Response:
    """Refusals on these pages are pages too, in the same words as the API's."""
    if not request.path.startswith(("/ballot", "/dashboard")):
        return exc.response()
    return problem_page(exc, back="/dashboard/" if request.path.startswith("/dashboard") else "/ballot/")


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
    who = acting(*DASHBOARD_ROLES)
    if isinstance(who, Response):
        return who
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
    board = read(pq.dashboard, quarter, units)
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
        previous=str(_neighbour(quarter, -1)), following=str(_neighbour(quarter, 1)),
    )
