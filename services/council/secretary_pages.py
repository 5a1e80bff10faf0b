"""The secretaries' pages (UI.md): ``/rounds/``, where a unit secretary runs their council's rounds
and the province secretary the provincial, runoff and referral rounds (R20a); ``/unit/``, the
unit's month (R10), its dossiers (R11), its report and audit record (R23); ``/province/``, the
province secretary's overview.

Every action calls the use case the API calls (``services.open_round``, ``move_deadline``,
``cancel_round``, ``enter_paper_ballots``, ``close_round``): the rules live there, and a refusal
(409, 422) comes back next to the field or button it concerns, in the use case's own words.
After a change the page redirects (303) to the round, so that a reload sends nothing twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Blueprint, Response, current_app, redirect, request
from marshmallow import ValidationError

from services.council import page_queries as pq
from services.council import records, runs, services
from services.council import repository as repo
from services.council.api.reports import CSV, XLSX, csv_report, xlsx_report
from services.council.domain.rounds import CLOSED, MONTHLY, OPEN, OPENABLE, PROVINCIAL, latest_ended_quarter
from services.council.schemas import OpenRoundIn
from shared import clock
from shared.auth import Principal
from shared.clock import Month, Quarter, in_programme
from shared.context import Context
from shared.cursors import MAX_LIMIT
from shared.db import UnitOfWork
from shared.endpoint import read, read_afresh
from shared.org import Organisation
from shared.problems import Problem, as_problem
from shared.refusals import Refused
from shared.runtime import Runtime
from shared.web import acting, page, problem_page

T = TypeVar("T")
bp = Blueprint("council_secretary_pages", __name__, template_folder="templates")
_open_round_in = OpenRoundIn()

SECRETARIES = ("unit_secretary", "province_secretary")
# A round's name, before its period ("Phiên xét" + "tháng 8/2026"); the opening form's choices.
KIND_NAMES = {
    "monthly": "Phiên xét", "supplementary": "Phiên xét bổ sung", "quarterly": "Phiên chọn việc tốt tiêu biểu",
    "provincial": "Phiên xét cấp tỉnh", "runoff": "Phiên bỏ phiếu lại", "referral": "Phiên xét chuyển lên tỉnh",
}
KIND_CHOICES = {
    "monthly": "Phiên xét tháng", "supplementary": "Phiên xét bổ sung của tháng (R9)",
    "quarterly": "Phiên chọn việc tốt tiêu biểu của quý (R11)", "provincial": "Phiên xét cấp tỉnh của quý (R12)",
}
STATUS_NAMES = {"opening": "Đang chờ danh sách ứng viên", "open": "Đang mở", "closed": "Đã đóng",
                "cancelled": "Đã huỷ"}
DONE = {
    "mo": "Đã mở phiên xét.", "gia-han": "Đã gia hạn phiên.", "huy": "Đã huỷ phiên (R20a).",
    "phieu-giay": "Đã nhập phiếu giấy (R19a); nhập lại trước khi đóng sẽ thay toàn bộ lần nhập này.",
    "dong": "Đã đóng phiên và kiểm phiếu (R20).",
}
PAPER_CHOICES = (("", "Để trống"), ("approve", "Tán thành"), ("reject", "Không tán thành"),
                 ("abstain", "Không biểu quyết"))
MAX_PAPER_BALLOTS = 200


def _runtime() -> Runtime:
    return current_app.extensions["sovang"]


def _org() -> Organisation:
    return _runtime().orgs.require()


def _write(action: Callable[..., T], *args: Any) -> T:
    """A secretary's action in transactions of its own (``runs``: with the waits and retries its
    rules need); what the page reads next, whether it was done or refused, sees it."""
    try:
        return action(_runtime(), *args)
    finally:
        read_afresh()


@bp.errorhandler(Refused)
def _refusal_page(exc: Refused) -> Response:
    return _problem(Problem.of(exc))


@bp.errorhandler(Problem)
def _problem(exc: Problem) -> Response:
    back = "/rounds/" if request.path.startswith("/rounds") else request.path.split("?")[0]
    return problem_page(exc, back=back if back != request.path else "/")


# -- who is asking ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Council:
    code: str
    name: str
    provincial: bool

    def as_secretary(self, who: Principal) -> Principal:
        """The role the use cases expect of this council's secretary (services._is_secretary)."""
        return who.acting_as("province_secretary" if self.provincial else "unit_secretary")


def councils_of(uow: UnitOfWork, ctx: Context, who: Principal) -> list[Council]:
    """The councils whose secretary ``who`` is, for each secretary role they hold."""
    s = uow.reader
    out = []
    for code in repo.councils_of_secretary(s, who.subject):
        row = repo.council(s, code)
        provincial = row.cap is not None
        role = "province_secretary" if provincial else "unit_secretary"
        if role in who.roles:
            out.append(Council(code, pq.council_name(ctx.organisation, code, row.unit), provincial))
    return out


def _councils(who: Principal) -> list[Council]:
    return read(councils_of, who)


def _secretary() -> Principal | Response:
    who = acting(*SECRETARIES)
    if isinstance(who, Response):
        return who
    if not _councils(who):
        raise Problem(403, "Bạn không phải thư ký của hội đồng nào.")
    return who


def _round_for(who: Principal, round_id: str) -> tuple[dict[str, Any], Council]:
    view = read(lambda uow, _ctx: services.round_view(uow, round_id))
    council = next((c for c in _councils(who) if c.code == view["council"]), None)
    if council is None:
        raise Problem(403, f"Chỉ thư ký của {view['council']} được điều hành phiên này.")
    return view, council


def _label(view: dict[str, Any]) -> str:
    return f"{KIND_NAMES.get(view['kind'], view['kind'])} {pq.period_label(view['period'])}"


def _instant(value: str | dt.datetime | None) -> str:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return pq.instant_label(value)


# -- /rounds/ ----------------------------------------------------------------------------------------
def _rounds_of(who: Principal, councils: list[Council]) -> list[tuple[Council, list[dict[str, Any]]]]:
    out = []
    for c in councils:
        items = read(services.list_rounds, c.as_secretary(who), {"council": c.code}, 500, None)
        out.append((c, sorted(items[:500], key=lambda r: r["opens_at"], reverse=True)))
    return out


def _rounds_page(who: Principal, values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                 status: int = 200) -> Response:
    councils = _councils(who)
    kinds = [(k, KIND_CHOICES[k]) for k in OPENABLE
             if any((k == PROVINCIAL) == c.provincial for c in councils)]
    return page("pages/rounds.html", status, councils=councils, rounds=_rounds_of(who, councils), kinds=kinds,
                values=values or {"period": str(Month.of(clock.today()))}, errors=errors or {},
                label=_label, instant=_instant, statuses=STATUS_NAMES)


@bp.get("/rounds/")
def rounds_home() -> Response:
    who = _secretary()
    if isinstance(who, Response):
        return who
    return _rounds_page(who)


def _field_errors(errors: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for field, value in (errors or {}).items():
        if isinstance(value, dict):
            value = " ".join(str(v) for vs in value.values() for v in (vs if isinstance(vs, list) else [vs]))
        if isinstance(value, list):
            value = " ".join(str(v) for v in value)
        out[str(field).split(".")[0]] = str(value)
    return out


@bp.post("/rounds/")
def rounds_open() -> Response:
    """**Mở phiên xét**: ``services.open_round``, as ``POST /api/v1/rounds``."""
    who = _secretary()
    if isinstance(who, Response):
        return who
    councils = _councils(who)
    values = {k: request.form.get(k, "").strip() for k in ("council", "kind", "period")}
    if not values["council"] and len(councils) == 1:
        values["council"] = councils[0].code
    council = next((c for c in councils if c.code == values["council"]), None)
    if council is None:
        return _rounds_page(who, values, {"council": "Hãy chọn hội đồng mà bạn là thư ký."}, 422)
    try:
        data = _open_round_in.load(values)
    except ValidationError as exc:
        return _rounds_page(who, values, _field_errors(exc.messages), 422)
    try:
        view = _write(runs.open_round, council.as_secretary(who), data)
    except (Problem, Refused) as refused:
        exc = as_problem(refused)
        if exc.status not in (409, 422):
            raise
        errors = _field_errors(exc.errors) or {"period": exc.detail}
        return _rounds_page(who, values, errors, exc.status)
    return redirect(f"/rounds/{view['id']}?xong=mo", code=303)


def _round_page(who: Principal, round_id: str, errors: dict[str, str] | None = None,
                values: dict[str, Any] | None = None, status: int = 200) -> Response:
    view, council = _round_for(who, round_id)
    result = None
    if view["status"] == CLOSED:
        result = read(services.read_result, lambda: council.as_secretary(who), round_id)
    titles = {c["id"]: c["title"] for c in view["candidates"]}
    local_deadline = clock.local(dt.datetime.fromisoformat(view["closes_at"]))
    return page("pages/round_secretary.html", status, view=view, council=council, result=result, titles=titles,
                label=_label(view), instant=_instant, statuses=STATUS_NAMES, errors=errors or {},
                values=values or {}, done=DONE.get(request.args.get("xong", "")),
                deadline_value=local_deadline.strftime("%Y-%m-%dT%H:%M"), is_open=view["status"] == OPEN,
                cancellable=view["status"] == OPEN and view["kind"] in OPENABLE and view["voted"] == 0,
                paper_choices=PAPER_CHOICES, date_label=pq.date_label)


@bp.get("/rounds/<round_id>")
def round_page(round_id: str) -> Response:
    who = _secretary()
    if isinstance(who, Response):
        return who
    return _round_page(who, round_id)


def _refused(who: Principal, round_id: str, exc: Problem, field: str, values: dict[str, Any] | None = None) -> Response:
    if exc.status not in (409, 422):
        raise exc
    errors = {field: exc.detail}
    for name, text in _field_errors(exc.errors).items():
        errors[field if name in ("closes_at",) else name] = text
    return _round_page(who, round_id, errors, values, exc.status)


def _local_instant(text: str) -> dt.datetime | None:
    """A ``datetime-local`` value (``2026-08-07T17:00``), read in Asia/Ho_Chi_Minh (R21)."""
    try:
        naive = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if naive.tzinfo is not None:
        return naive
    return naive.replace(tzinfo=clock.TZ)


@bp.post("/rounds/<round_id>/deadline")
def round_deadline(round_id: str) -> Response:
    """**Gia hạn** (R20a): ``services.move_deadline``, as ``PATCH /api/v1/rounds/{id}``."""
    who = _secretary()
    if isinstance(who, Response):
        return who
    _, council = _round_for(who, round_id)
    text = request.form.get("closes_at", "")
    closes_at = _local_instant(text)
    if closes_at is None:
        return _round_page(who, round_id, {"closes_at": "Hãy nhập ngày và giờ của hạn mới (ví dụ 07/08/2026 17:00)."},
                           {"closes_at": text}, 422)
    try:
        _write(runs.move_deadline, council.as_secretary(who), round_id, closes_at)
    except (Problem, Refused) as refused:
        exc = as_problem(refused)
        return _refused(who, round_id, exc, "closes_at", {"closes_at": text})
    return redirect(f"/rounds/{round_id}?xong=gia-han", code=303)


@bp.post("/rounds/<round_id>/cancel")
def round_cancel(round_id: str) -> Response:
    """**Huỷ phiên** (R20a): ``services.cancel_round``."""
    who = _secretary()
    if isinstance(who, Response):
        return who
    _, council = _round_for(who, round_id)
    try:
        _write(runs.cancel_round, council.as_secretary(who), round_id)
    except (Problem, Refused) as refused:
        exc = as_problem(refused)
        return _refused(who, round_id, exc, "cancel")
    return redirect(f"/rounds/{round_id}?xong=huy", code=303)


@bp.post("/rounds/<round_id>/close")
def round_close(round_id: str) -> Response:
    """**Đóng phiên** (R20): ``services.close_round``."""
    who = _secretary()
    if isinstance(who, Response):
        return who
    _, council = _round_for(who, round_id)
    try:
        _write(runs.close_round, council.as_secretary(who), round_id)
    except (Problem, Refused) as refused:
        exc = as_problem(refused)
        return _refused(who, round_id, exc, "close")
    return redirect(f"/rounds/{round_id}?xong=dong", code=303)


def _count(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() and len(text) <= 4 else None


@bp.get("/rounds/<round_id>/paper")
def round_paper(round_id: str) -> Response:
    """**Nhập phiếu giấy** (R19a): how many members took a ballot and how many ballots were
    counted; then one row of choices per counted ballot."""
    who = _secretary()
    if isinstance(who, Response):
        return who
    return _paper_page(who, round_id, request.args.get("voters", ""), request.args.get("ballots", ""), {}, {})


def _paper_page(who: Principal, round_id: str, voters: str, ballots: str, chosen: dict[str, str],
                errors: dict[str, str], status: int = 200) -> Response:
    view, council = _round_for(who, round_id)
    n = _count(ballots)
    if ballots and (n is None or n > MAX_PAPER_BALLOTS):
        errors = {**errors, "ballots": f"Số phiếu là một số nguyên từ 0 đến {MAX_PAPER_BALLOTS}."}
        n = None
    if voters and _count(voters) is None:
        errors = {**errors, "voters": "Số thành viên nhận phiếu là một số nguyên không âm."}
    if status == 200 and errors:
        status = 422
    return page("pages/round_paper.html", status, view=view, council=council, label=_label(view),
                voters=voters, ballots=ballots, n=n, chosen=chosen, errors=errors, choices=PAPER_CHOICES,
                instant=_instant)


@bp.post("/rounds/<round_id>/paper")
def round_paper_submit(round_id: str) -> Response:
    """The counted paper ballots, to ``services.enter_paper_ballots`` (R19a): the rules (ballots
    no more than members, members no more than the entitled) are the use case's."""
    who = _secretary()
    if isinstance(who, Response):
        return who
    view, council = _round_for(who, round_id)
    voters, ballots = request.form.get("voters", ""), request.form.get("ballots", "")
    n, count = _count(ballots), _count(voters)
    chosen = {k: v for k, v in request.form.items() if k.startswith("b") and "-" in k}
    if n is None or count is None or n > MAX_PAPER_BALLOTS:
        return _paper_page(who, round_id, voters, ballots, chosen, {})
    papers: list[dict[str, str]] = []
    for i in range(n):
        choices = {}
        for c in view["candidates"]:
            value = request.form.get(f"b{i}-{c['id']}", "")
            if value:
                choices[c["id"]] = value
        papers.append(choices)
    try:
        _write(runs.enter_paper_ballots, council.as_secretary(who), round_id, count, papers)
    except (Problem, Refused) as refused:
        exc = as_problem(refused)
        if exc.status not in (409, 422):
            raise
        errors = _field_errors(exc.errors)
        if not errors:
            errors = {"voters": exc.detail}
        named = {c["id"]: c["title"] for c in view["candidates"]}
        for field, text in list(errors.items()):
            for cid, title in named.items():
                text = text.replace(f"Ứng viên {cid}", f"Việc tốt “{title}”")
            errors[field] = text
        return _paper_page(who, round_id, voters, ballots, chosen, errors, exc.status)
    return redirect(f"/rounds/{round_id}?xong=phieu-giay", code=303)


# -- /unit/ --------------------------------------------------------------------------------------------
def _month_arg() -> Month:
    raw = request.args.get("month")
    if not raw:
        return Month.of(clock.today())
    try:
        month = Month.parse(raw)
    except ValueError:
        raise Problem(422, "month phải có dạng YYYY-MM (ví dụ 2026-08).") from None
    if not in_programme(month):
        raise Problem(404, f"Tháng {raw} chưa bắt đầu hoặc trước khi phong trào bắt đầu (09/2021).")
    return month


def _all_dossiers(who: Principal, quarter: str | None, unit: str | None) -> list[dict[str, Any]]:
    """Every dossier ``who`` may read, a page (``MAX_LIMIT``) at a time, as the API lists them."""
    out: list[dict[str, Any]] = []
    after = None
    while True:
        batch = read(records.list_dossiers, who, quarter, unit, MAX_LIMIT, after)
        out.extend(batch[:MAX_LIMIT])
        if len(batch) <= MAX_LIMIT:
            return out
        after = records.dossier_key(batch[MAX_LIMIT - 1])


def _unit_secretary() -> tuple[Principal, str] | Response:
    who = acting("unit_secretary")
    if isinstance(who, Response):
        return who
    unit = _org().unit_led_by(who.subject)
    if unit is None:
        raise Problem(403, "Không phải thư ký của đơn vị nào.")
    return who, unit


@bp.get("/unit/")
def unit_page() -> Response:
    found = _unit_secretary()
    if isinstance(found, Response):
        return found
    who, unit = found
    month = _month_arg()
    row = read(services.monthly_report, who, str(month))[0]
    dossiers = sorted(_all_dossiers(who, None, None), key=lambda d: (d["quarter"], d["id"]), reverse=True)
    org = _org()
    return page("pages/unit.html", who=who, unit=unit, unit_name=org.unit_name(unit), month=str(month),
                month_label=pq.period_label(str(month)), row=row, dossiers=dossiers,
                previous=str(_step(month, -1)), following=str(_step(month, 1)), period_label=pq.period_label)


def _step(month: Month, n: int) -> Month:
    index = month.year * 12 + month.month - 1 + n
    return Month(index // 12, index % 12 + 1)


@bp.get("/unit/report-<month>.<fmt>")
def unit_report(month: str, fmt: str) -> Response:
    """The R10 report as a file a spreadsheet opens: the same rows as ``GET /api/v1/reports/monthly``
    with ``Accept: text/csv`` or the XLSX media type (a link cannot send that header)."""
    who = acting(*SECRETARIES)
    if isinstance(who, Response):
        return who
    if fmt not in ("csv", "xlsx"):
        raise Problem(404, "Báo cáo có dạng .csv hoặc .xlsx.")
    try:
        if not in_programme(Month.parse(month)):
            raise ValueError(month)
    except ValueError:
        raise Problem(404, f"Không có báo cáo tháng {month}.") from None
    rows = read(services.monthly_report, who, month)
    name = f"bao-cao-thang-{month}.{fmt}"
    body, mimetype = (csv_report(rows), CSV) if fmt == "csv" else (xlsx_report(rows, month, _org().unit_name), XLSX)
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{name}"',
                                                       "Cache-Control": "no-store"})


# -- /province/ ----------------------------------------------------------------------------------------
@bp.get("/province/")
def province_page() -> Response:
    who = acting("province_secretary")
    if isinstance(who, Response):
        return who
    org = _org()
    if who.subject != org.province_secretary:
        raise Problem(403, "Mã này không phải của thư ký Công an tỉnh.")
    raw = request.args.get("quarter")
    try:
        quarter = Quarter.parse(raw) if raw else latest_ended_quarter(clock.now())
    except ValueError:
        raise Problem(422, "quarter phải có dạng YYYY-Qn (ví dụ 2026-Q3).") from None
    dossiers = _all_dossiers(who, str(quarter), None)
    councils = _councils(who)
    rounds = [(c, items[:10]) for c, items in _rounds_of(who, councils)]
    index = quarter.year * 4 + quarter.q - 1
    return page("pages/province.html", who=who, quarter=str(quarter), quarter_label=pq.period_label(str(quarter)),
                dossiers=dossiers, unit_name=org.unit_name, rounds=rounds, label=_label, statuses=STATUS_NAMES,
                instant=_instant, previous=str(Quarter((index - 1) // 4, (index - 1) % 4 + 1)),
                following=str(Quarter((index + 1) // 4, (index + 1) % 4 + 1)), monthly=MONTHLY,
                published=in_programme(quarter, ended=True), begun=in_programme(quarter),
                current=str(Month.of(clock.today()).quarter))
