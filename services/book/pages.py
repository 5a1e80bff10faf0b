"""The book's pages for people (UI.md): the press office's page ``/press/`` (public: the feeds
to subscribe to, the quarters' press releases, the honour rolls; nothing private, R16), the
secretary's revocation form ``/unit/revoke/`` (R15a), which calls ``services.revoke``, the use
case of ``POST /api/v1/books/{code}/revocations``, with the same refusals, and the province
secretary's press release before publication ``/province/press/`` (R16)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Response, redirect, request
from marshmallow import ValidationError

from services.book import queries, services
from services.book.api.common import runtime
from services.book.domain.entries import INSCRIPTION, Entry
from services.book.publication import pages as publication_pages
from services.book.publication.serving import context
from services.book.schemas import RevocationSchema
from shared import clock
from shared.clock import Quarter
from shared.cursors import MAX_LIMIT
from shared.endpoint import read
from shared.problems import Problem
from shared.refusals import Conflict, Forbidden, NotFound, Refused
from shared.sessions import person
from shared.web import SECURITY_HEADERS, acting, page, problem_page, signed_in_values

T = TypeVar("T")
bp = Blueprint("book_pages", __name__, template_folder="templates")
_revocation_in = RevocationSchema()

REVOKERS = ("unit_secretary", "province_secretary")
NOT_YOURS = "Chỉ thư ký của đơn vị sở hữu sổ vàng mới được thu hồi mục của sổ này (R15a)."


def _read(query: Callable[..., T], *args: Any) -> T:
    """A query of the book's, in the request's unit of work (``shared.endpoint.read``)."""
    return read(query, *args, context=context)


@bp.errorhandler(Problem)
@bp.errorhandler(Refused)
def _problem(exc: Problem | Refused) -> Response:
    return problem_page(exc, back="/press/" if request.path.startswith("/press") else "/")


def _quarters() -> list[str]:
    """Every quarter of the programme that has ended, newest first."""
    q = clock.Month.of(clock.today()).quarter
    out: list[str] = []
    index = q.year * 4 + q.q - 1
    while True:
        index -= 1
        quarter = Quarter(index // 4, index % 4 + 1)
        if not clock.in_programme(quarter, ended=True):
            return out
        out.append(str(quarter))


@bp.get("/press/")
def press_home() -> Response:
    """The press office's page: what to subscribe to and what was released (all public, R16)."""
    books = _read(queries.list_books, None, MAX_LIMIT)
    org = _read(lambda _uow, ctx: ctx.organisations())
    province = org.province_code if org else ""
    books = sorted(books, key=lambda b: (b.code != province, b.code))
    return page("book_pages/press_home.html", books=books, province=province, quarters=_quarters(),
                period_label=_period_label)


def _period_label(quarter: str) -> str:
    q = Quarter.parse(quarter)
    return f"quý {'I II III IV'.split()[q.q - 1]}/{q.year}"


# -- revoking an entry (R15a) -----------------------------------------------------------------------
def _book_of(who: Any) -> str:
    org = runtime().orgs.require()
    if who.role == "province_secretary":
        if who.subject != org.province_secretary:
            raise Problem(403, NOT_YOURS)
        return org.province_code
    unit = org.unit_led_by(who.subject)
    if unit is None:
        raise Problem(403, NOT_YOURS)
    return unit


def _entries(code: str) -> list[tuple[Entry, int | None]]:
    out: list[tuple[Entry, int | None]] = []
    after = 0
    while True:
        batch = _read(queries.entries_page, code, after, MAX_LIMIT) or []
        out.extend(batch)
        if len(batch) < MAX_LIMIT:
            return out
        after = batch[-1][0].seq


def _revoke_page(who: Any, values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                 done: str | None = None, status: int = 200) -> Response:
    code = _book_of(who)
    book = _read(queries.get_book, code)
    entries = _entries(code) if book is not None else []
    revocable = [e for e, revoked in entries if e.kind == INSCRIPTION and revoked is None]
    revoked = [(e, r) for e, r in entries if r is not None]
    return page("book_pages/revoke.html", status, code=code, book=book, revocable=revocable, revoked=revoked,
                values=values or {}, errors=errors or {}, done=done,
                back="/province/" if who.role == "province_secretary" else "/unit/")


@bp.get("/unit/revoke/")
def revoke_form() -> Response:
    who = acting(*REVOKERS)
    if isinstance(who, Response):
        return who
    try:
        done = f"Đã ghi mục thu hồi số {int(request.args['xong'])}." if request.args.get("xong", "").isdigit() else None
        return _revoke_page(who, done=done)
    except Problem as exc:
        return problem_page(exc)


@bp.post("/unit/revoke/")
def revoke_submit() -> Response:
    """**Thu hồi**: ``services.revoke`` (R15a); the entry and its reason are checked by the API's
    own schema, a second revocation is the use case's 409, shown next to the entry chosen."""
    who = acting(*REVOKERS)
    if isinstance(who, Response):
        return who
    values = {"seq": request.form.get("seq", "").strip(), "reason": request.form.get("reason", "")}
    try:
        code = _book_of(who)
        try:
            data = _revocation_in.load({"seq": int(values["seq"]) if values["seq"].isdigit() else values["seq"],
                                            "reason": values["reason"].strip()})
        except ValidationError as exc:
            errors = {k: " ".join(v) if isinstance(v, list) else str(v) for k, v in exc.messages.items()}
            if "seq" in errors:
                errors["seq"] = "Hãy chọn mục cần thu hồi."
            if "reason" in errors:
                errors["reason"] = "Hãy ghi lý do thu hồi (1–2000 ký tự)."
            return _revoke_page(who, values, errors, status=422)
        done = _revoke(who, code, data["seq"], data["reason"])
        if isinstance(done, tuple):
            status, why = done
            return _revoke_page(who, values, {"seq": why}, status=status)
    except Problem as exc:
        return problem_page(exc)
    return redirect(f"/unit/revoke/?xong={done}", code=303)


def _revoke(who: Any, code: str, seq: int, reason: str) -> int | tuple[int, str]:
    """The use cases of the API's revocation in a unit of work of their own: the new entry's seq,
    or the status and the reason to show next to the entry chosen (what was written rolled back)."""
    with runtime().db.unit_of_work() as uow:
        ctx = runtime().context(uow)
        try:
            book = services.revocable(uow, ctx, who, code)
        except Forbidden:
            raise Problem(403, NOT_YOURS) from None
        except NotFound:
            raise Problem(404, f"Không có sổ vàng {code}.") from None
        except Conflict as exc:
            return 409, exc.detail
        try:
            created = services.revoke(uow, ctx, who, book, seq, reason)
        except NotFound:
            return 422, "Không có mục này trong sổ."
        except Conflict as exc:
            return 409, exc.detail
        uow.commit()
    return created.seq


# -- the press release before publication (R16) -------------------------------------------------------
NOT_PROVINCE = "Chỉ thư ký Công an tỉnh mới xem được thông cáo báo chí trước khi công bố."


@bp.get("/province/press/")
@bp.get("/province/press/<quarter>.html")
def press_draft(quarter: str | None = None) -> Response:
    """The quarter's press release as it stands now, before its quarter ends and it is published
    at ``/press/{quarter}.html``: the same renderer as the published one (``Publisher.press``),
    marked as a draft, for the province secretary alone and never cached. The current quarter
    without ``quarter``; a quarter already over leads to its published release."""
    who = acting("province_secretary")
    if isinstance(who, Response):
        return who
    org = runtime().orgs.require()
    if who.subject != org.province_secretary:
        raise Problem(403, NOT_PROVINCE)
    try:
        chosen = Quarter.parse(quarter) if quarter else clock.Month.of(clock.today()).quarter
    except ValueError:
        raise Problem(404, f"Quý {quarter!r} không hợp lệ: dùng YYYY-Qn.") from None
    if clock.in_programme(chosen, ended=True):
        return redirect(f"/press/{chosen}.html", code=303)
    if not clock.in_programme(chosen):
        raise Problem(404, f"Quý {chosen} chưa bắt đầu hoặc trước khi phong trào bắt đầu (09/2021).")
    at = clock.isoformat(clock.now())
    made = _read(queries.rendered, lambda p: p.press(str(chosen), "html", draft=at))
    if made is None:
        raise Problem(404, "Chưa có Sổ vàng cấp tỉnh.")
    values = signed_in_values(person())
    body = publication_pages.signed_in(made.body, values["person"], values["person_name"], values["role_pages"],
                                       request.path)
    resp = Response(body, 200, content_type=made.content_type)
    for name, value in SECURITY_HEADERS.items():
        resp.headers[name] = value
    resp.headers["Cache-Control"] = "no-store"
    return resp
