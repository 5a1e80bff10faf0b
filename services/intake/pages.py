"""intake's pages for people (UI.md): signing in (``/``), the officer's record form and deeds
(``/deeds/new``, ``/deeds/``), the lead's introductions (``/introduce/``) and the admin's people
and access (``/admin/``).

Every action goes through the use case the API calls (``services``, ``people``); a double press
of **Ghi việc tốt** makes one deed (the form carries its own key, kept like an Idempotency-Key).
"""

from __future__ import annotations

import json
import secrets
from collections import defaultdict
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, redirect, request
from marshmallow import ValidationError

from services.intake import access, oidc, people, schemas, services
from services.intake.api.session import clear_cookie, set_cookie
from services.intake.domain.scope import Actor
from services.intake.in_request import address, runtime, signing_in, write
from shared import clock
from shared.auth import Principal
from shared.endpoint import answer_once, read, request_work
from shared.idempotency import PLAIN, Keyed
from shared.problems import Problem, as_problem
from shared.refusals import Refused
from shared.sessions import COOKIE, csrf_ok, person
from shared.text import text_problem
from shared.web import acting, page, problem_page, safe_next, signin_page, start_page

bp = Blueprint("intake_pages", __name__, template_folder="templates")
_deed_in = schemas.DeedIn()
_batch_in = schemas.BatchIn()

KIND_LABELS = {"good_deed": "Việc tốt", "achievement": "Thành tích", "feat": "Chiến công", "exemplar": "Gương điển hình"}
RELATION_LABELS = {"direct": "Trực tiếp", "indirect": "Gián tiếp"}
STATUS_LABELS = {
    "recorded": "Đã ghi", "introduced": "Đã giới thiệu", "in_round": "Đang được hội đồng xét",
    "recognised": "Được công nhận", "not_selected": "Không được chọn", "proposed": "Được đề nghị lên tỉnh",
    "inscribed": "Đã ghi vào Sổ vàng", "referred": "Chuyển hội đồng tỉnh", "revoked": "Đã thu hồi",
}
ROLE_NAMES = {"officer": "Cán bộ", "subunit_lead": "Đội trưởng", "council_member": "Thành viên hội đồng",
              "unit_secretary": "Thư ký đơn vị", "province_secretary": "Thư ký tỉnh", "press": "Báo chí",
              "admin": "Quản trị"}
FIELDS = ("occurred_on", "kind", "relation", "title", "description", "place", "beneficiaries")


@bp.before_request
def _evidence_limit() -> None:
    if request.endpoint == "intake_pages.deed_record":
        # A photo may be larger than a JSON body (API.md: an evidence file up to 20 MiB).
        request.max_content_length = runtime().settings.max_evidence_bytes + 64 * 1024


@bp.errorhandler(Problem)
def _problem(exc: Problem) -> Response:
    return problem_page(exc)


@bp.errorhandler(Refused)
def _refused(exc: Refused) -> Response:
    return problem_page(Problem.of(exc))


def _actor(p: Principal) -> Actor:
    return Actor(p.role, p.subject)


# -- signing in ------------------------------------------------------------------------------------
def _signin(status: int = 200, **values: Any) -> Response:
    values.setdefault("next", safe_next(request.values.get("next")))
    values.setdefault("kept", "")
    values.setdefault("subject", "")
    values.setdefault("errors", {})
    values.setdefault("error", None)
    values.setdefault("reason", None)
    settings = runtime().settings
    return signin_page(status, settings, oidc.provider_origins(settings), **values)



@bp.get("/")
def home() -> Response:
    who = person()
    if who is None:
        cookie = request.cookies.get(COOKIE)
        reason = read(people.why_ended, cookie) if cookie else None
        if request.args.get("why") == "signed_out":
            reason = people.ENDED["signed_out"]
        resp = _signin(reason=reason)
        if cookie:
            clear_cookie(resp)
        return resp
    target = safe_next(request.args.get("next"))
    if target and target != "/":
        return redirect(target, code=303)
    return page("intake/start.html", waits=_waits(who.subject, who.roles))


def _waits(subject: str, roles: tuple[str, ...]) -> dict[str, int]:
    """What waits for the person on intake's side: deeds to introduce, their deeds recorded."""
    waits: dict[str, int] = {}
    if "subunit_lead" in roles:
        waits["introduce"] = sum(len(v) for v in _to_introduce(Principal("subunit_lead", subject)).values())
    return waits


@bp.post("/")
def sign_in() -> Response:
    subject = request.form.get("subject", "")
    password = request.form.get("password", "")
    errors: dict[str, str] = {}
    for field, value in (("subject", subject), ("password", password)):
        if not value.strip():
            errors[field] = "Hãy nhập " + ("mã cán bộ." if field == "subject" else "mật khẩu.")
        elif text_problem(value):
            errors[field] = text_problem(value) or ""
    kept = request.form.get("kept", "")
    target = safe_next(request.form.get("next"))
    if errors:
        return _signin(422, subject=subject if "subject" not in errors else "", errors=errors, kept=kept, next=target)
    try:
        done = signing_in(people.sign_in, subject, password, address())
    except (Problem, Refused) as exc:  # a wrong pair, too many tries, no organisation yet
        problem = as_problem(exc)
        resp = _signin(problem.status, subject=subject, error=problem.detail, kept=kept, next=target)
        for k, v in problem.headers.items():
            resp.headers[k] = v
        return resp
    return signed_in_response(done, target, kept)


def signed_in_response(done: people.SignedIn, target: str, kept: str) -> Response:
    """After signing in (a password or the force's provider): the page asked for, or the form
    kept across an expired session sent again, with the new session's cookie."""
    who = done.person
    fields = _kept_fields(kept)
    if fields and target:
        resp = page("resend.html", person=who, action=target, fields=fields, person_name=who.subject,
                    role_pages=[], has_file=False)
    else:
        resp = redirect(target or start_page(who), code=303)
    set_cookie(resp, done.session_id)
    return resp


def _kept_fields(kept: str) -> list[tuple[str, str]]:
    try:
        pairs = json.loads(kept) if kept else []
        return [(str(k), str(v)) for k, v in pairs]
    except (ValueError, TypeError):
        return []


@bp.post("/session/sign-out")
def sign_out() -> Response:
    who = person()
    if who is not None:
        if not csrf_ok(who):
            raise Problem(403, "Thiếu hoặc sai mã chống giả mạo (CSRF); hãy tải lại trang.")
        write(people.sign_out, request.cookies[COOKIE])
    resp = redirect("/?why=signed_out", code=303)
    clear_cookie(resp)
    return resp


# -- the officer's record form -----------------------------------------------------------------------
def _form_values() -> dict[str, str]:
    return {f: request.form.get(f, "") for f in FIELDS}


def _deed_input(values: dict[str, str], subject: str) -> dict[str, Any]:
    data: dict[str, Any] = {"author": {"officer": subject}}
    for f in FIELDS:
        v = values[f]
        if f in ("place", "beneficiaries"):
            if v.strip():
                data[f] = v
        else:
            data[f] = v
    return data


def _messages(errors: Any) -> dict[str, str]:
    """Errors per field, one sentence each, for the page."""
    out: dict[str, str] = {}
    for field, value in (errors or {}).items():
        if isinstance(value, dict):
            value = next(iter(value.values()), "")
        if isinstance(value, list):
            value = " ".join(str(x) for x in value)
        out[str(field).split(".")[0]] = str(value)
    return out


def _record_form(values: dict[str, str], errors: dict[str, str] | None = None, alert: str | None = None,
                 status: int = 200) -> Response:
    return page("intake/deed_new.html", status, values=values, errors=errors or {}, alert=alert,
                form_key=secrets.token_urlsafe(16), kinds=KIND_LABELS, relations=RELATION_LABELS,
                today=clock.today().isoformat())


@bp.get("/deeds/new")
def deed_new() -> Response:
    who = acting("officer")
    if isinstance(who, Response):
        return who
    return _record_form({f: "" for f in FIELDS} | {"occurred_on": clock.today().isoformat()})


@bp.post("/deeds/new")
def deed_record() -> Response:
    """R2 through ``services.record_deed`` and, with a photo, ``services.add_evidence``: one
    transaction, kept under the form's key so that a second press replays the first."""
    who = acting("officer")
    if isinstance(who, Response):
        return who
    values = _form_values()
    try:
        data = _deed_in.load(_deed_input(values, who.subject))
    except ValidationError as exc:
        return _record_form(values, _messages(exc.messages), status=422)
    upload = request.files.get("file")
    content = upload.stream.read(runtime().settings.max_evidence_bytes + 1) if upload and upload.filename else b""
    if len(content) > runtime().settings.max_evidence_bytes:
        return _record_form(values, {"file": "Tệp minh chứng tối đa 20 MiB."}, status=413)
    key = request.form.get("form_key", "")[:100] or secrets.token_urlsafe(16)
    actor = _actor(who)
    work = request_work(runtime().db)
    ctx = runtime().context(work)

    def run() -> Response:
        # One transaction: a refused photo leaves no deed without it.
        view = services.record_deed(work, ctx, actor, data)
        if content:
            services.add_evidence(work, ctx, actor, view["id"], content)
        return Response(view["id"], 201, content_type="text/plain")

    resp = answer_once(work, PLAIN, Keyed(f"page:{who.subject}", key, b"deeds/new"), run)
    if resp.status_code == 201:
        return redirect(f"/deeds/{resp.get_data(as_text=True)}?ghi=1", code=303)
    problem = json.loads(resp.get_data(as_text=True) or "{}")
    errors = _messages(problem.get("errors"))
    if resp.status_code in (413, 415):
        errors.setdefault("file", problem.get("detail", ""))
    return _record_form(values, errors, alert=None if errors else problem.get("detail"), status=resp.status_code)


# -- the officer's deeds -----------------------------------------------------------------------------
def _month_label(month: str) -> str:
    y, m = month.split("-")
    return f"Tháng {int(m)}/{y}"


def _by_month(deeds: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    months: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for d in deeds:
        months[str(d["occurred_on"])[:7]].append(d)
    return [(_month_label(m), months[m]) for m in sorted(months, reverse=True)]


def _all_deeds(actor: Actor, filters: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        batch = read(services.list_deeds, actor, filters, 500, after)
        out.extend(batch[:500])
        if len(batch) <= 500:
            return out
        after = batch[499]["id"]


@bp.get("/deeds/")
def deeds_mine() -> Response:
    who = acting("officer")
    if isinstance(who, Response):
        return who
    mine = [d for d in _all_deeds(_actor(who), {}) if d["author"].get("officer") == who.subject]
    return page("intake/deeds.html", months=_by_month(mine), statuses=STATUS_LABELS)


@bp.get("/deeds/<deed_id>")
def deed_page(deed_id: str) -> Response:
    who = acting("officer", "subunit_lead", "unit_secretary", "council_member", "province_secretary")
    if isinstance(who, Response):
        return who
    deed = read(services.get_deed, _actor(who), deed_id)
    return page("intake/deed.html", deed=deed, statuses=STATUS_LABELS, kinds=KIND_LABELS,
                relations=RELATION_LABELS, just_recorded=request.args.get("ghi") == "1")


# -- the lead's introductions (R5) ---------------------------------------------------------------------
def _to_introduce(who: Principal) -> dict[str, list[dict[str, Any]]]:
    org = runtime().orgs.require()
    sub = org.subunit_led_by(who.subject)
    deeds = [d for d in _all_deeds(Actor("subunit_lead", who.subject), {"status": "recorded"})
             if sub is not None and org.author_unit(d["author"]) is not None
             and org.author_unit(d["author"])[1] == sub]
    return dict(_by_month(deeds))


@bp.get("/introduce/")
def introduce_page() -> Response:
    who = acting("subunit_lead")
    if isinstance(who, Response):
        return who
    n, m = request.args.get("da_gioi_thieu", ""), request.args.get("da_ghi", "")
    done = f"Đã giới thiệu {int(n)} việc tốt lên đơn vị." if n.isdigit() else None
    if m.isdigit():
        done = f"Đã ghi {int(m)} việc tốt cho đội; chúng chờ giới thiệu dưới đây."
    return _introduce_view(who, done=done)


BATCH_ROWS = 3
BATCH_FIELDS = ("officer", "occurred_on", "kind", "relation", "title", "description")


def _introduce_view(who: Principal, done: str | None = None, alert: str | None = None, status: int = 200,
                    rows: list[dict[str, str]] | None = None, row_errors: dict[int, str] | None = None) -> Response:
    months = _to_introduce(who)
    org = runtime().orgs.require()
    sub = org.subunit_led_by(who.subject)
    team = sorted((o for o in org.officers.values() if sub is not None and o.subunit == sub), key=lambda o: o.code)
    today = clock.today().isoformat()
    blank = {"officer": "", "occurred_on": today, "kind": "good_deed", "relation": "direct", "title": "",
             "description": ""}
    return page("intake/introduce.html", status, months=list(months.items()), done=done, alert=alert,
                subunit=org.subunits[sub].name if sub else "", kinds=KIND_LABELS, relations=RELATION_LABELS,
                team=team, rows=rows or [dict(blank) for _ in range(BATCH_ROWS)], row_errors=row_errors or {},
                form_key=secrets.token_urlsafe(16), today=today)


@bp.post("/introduce/batch")
def introduce_batch() -> Response:
    """R2 for the team at once (``services.record_batch``, all or nothing): the rows left empty
    are skipped; a refused row keeps every row as typed, its reason beside it."""
    who = acting("subunit_lead")
    if isinstance(who, Response):
        return who
    rows = [{f: request.form.get(f"{f}-{i}", "") for f in BATCH_FIELDS} for i in range(1, BATCH_ROWS + 1)]
    used = [i for i, r in enumerate(rows) if r["title"].strip() or r["description"].strip()]
    if not used:
        return _introduce_view(who, alert="Hãy điền ít nhất một việc tốt.", status=422, rows=rows)
    items = [{"author": {"officer": rows[i]["officer"]}, **{f: rows[i][f] for f in BATCH_FIELDS if f != "officer"}}
             for i in used]
    try:
        data = _batch_in.load({"deeds": items})["deeds"]
    except ValidationError as exc:
        return _batch_refused(who, rows, used, schemas.batch_errors(exc.messages))
    key = request.form.get("form_key", "")[:100] or secrets.token_urlsafe(16)
    work = request_work(runtime().db)
    ctx = runtime().context(work)

    def run() -> Response:
        views = services.record_batch(work, ctx, Actor("subunit_lead", who.subject), data)
        return Response(str(len(views)), 201, content_type="text/plain")

    resp = answer_once(work, PLAIN, Keyed(f"page:{who.subject}", key, b"introduce/batch"), run)
    if resp.status_code == 201:
        return redirect(f"/introduce/?da_ghi={resp.get_data(as_text=True)}", code=303)
    problem = json.loads(resp.get_data(as_text=True) or "{}")
    return _batch_refused(who, rows, used, problem.get("errors") or {"_": [problem.get("detail", "")]})


def _batch_refused(who: Principal, rows: list[dict[str, str]], used: list[int], errors: dict[str, Any]) -> Response:
    by_row: dict[int, str] = {}
    for k, v in errors.items():
        messages = " ".join(str(x) for x in v) if isinstance(v, list) else " ".join(_messages({"": v}).values())
        index = str(k).split(".")[0].split("[")[0]
        row = used[int(index)] + 1 if index.isdigit() and int(index) < len(used) else used[0] + 1
        by_row[row] = f"{by_row[row]} {messages}" if row in by_row else messages
    return _introduce_view(who, alert="Chưa ghi việc nào: hãy sửa các việc có lỗi bên dưới.", status=422,
                           rows=rows, row_errors=by_row)


@bp.post("/introduce/")
def introduce_submit() -> Response:
    who = acting("subunit_lead")
    if isinstance(who, Response):
        return who
    ids = request.form.getlist("deed")
    if not ids:
        return _introduce_view(who, alert="Hãy chọn một việc tốt để giới thiệu.", status=422)
    for deed_id in ids:
        try:
            # Each its own transaction: those introduced before a refusal stay introduced.
            runtime().run(services.introduce, _actor(who), deed_id)
        except Refused as exc:
            return _introduce_view(who, alert=exc.detail, status=Problem.of(exc).status)
    # Shown by a new request (post, redirect, get): its reads see what this one wrote.
    return redirect(f"/introduce/?da_gioi_thieu={len(ids)}", code=303)


# -- the admin's people and access (R24) --------------------------------------------------------------
@bp.get("/admin/")
def admin_page() -> Response:
    who = acting("admin")
    if isinstance(who, Response):
        return who
    subject, done = request.args.get("ma", ""), None
    if request.args.get("xong") == "signout":
        done = f"Đã kết thúc {request.args.get('n', '0')} phiên của {subject}."
    elif request.args.get("xong") == "password":
        done = f"Đã đặt mật khẩu cho {subject}; các phiên cũ của người này đã kết thúc."
    elif request.args.get("xong") == "token":
        done = (f"Đã thu hồi {request.args.get('n', '0')} mã truy cập của {subject}: hết hiệu lực ở bộ phận tiếp "
                "nhận ngay, ở hội đồng và sổ vàng sau vài giây.")
    return _admin_view(done=done)


def _admin_view(done: str | None = None, errors: dict[str, str] | None = None, values: dict[str, str] | None = None,
                status: int = 200, token_error: str | None = None) -> Response:
    held = read(access.in_force)
    return page("intake/admin.html", status, people=read(people.people), done=done, errors=errors or {},
                values=values or {}, tokens=held, token_subjects=sorted({t["subject"] for t in held}),
                token_error=token_error, role_names=ROLE_NAMES,
                instant=lambda v: clock.local(v).strftime("%H:%M %d/%m/%Y") if v is not None else "—")


@bp.post("/admin/tokens/")
def admin_tokens() -> Response:
    """R24: revoke a program's token (by its handle) or every token of a subject."""
    who = acting("admin")
    if isinstance(who, Response):
        return who
    handle = request.form.get("token", "").strip() or None
    subject = None if handle else request.form.get("subject", "").strip()
    if not handle and not subject:
        return _admin_view(token_error="Hãy chọn mã hoặc chủ thể cần thu hồi.", status=422)
    try:
        subject, n = write(access.revoke, who, handle=handle, subject=subject)
    except access.NotInForce:
        return _admin_view(token_error="Mã này không còn hiệu lực (đã thu hồi hoặc hết hạn).", status=409)
    return redirect(f"/admin/?xong=token&ma={quote(subject)}&n={n}#ma-truy-cap", code=303)


@bp.post("/admin/")
def admin_submit() -> Response:
    who = acting("admin")
    if isinstance(who, Response):
        return who
    action = request.form.get("action")
    subject = request.form.get("subject", "").strip()
    if action == "signout":
        n = write(people.sign_out_everywhere, f"admin:{who.subject}", subject)
        return redirect(f"/admin/?xong=signout&ma={quote(subject)}&n={n}", code=303)
    password = request.form.get("password", "")
    errors: dict[str, str] = {}
    if not subject:
        errors["subject"] = "Hãy nhập mã cán bộ."
    if password != request.form.get("password2", ""):
        errors["password2"] = "Hai lần nhập mật khẩu không khớp."
    if not errors:
        try:
            write(people.set_password, f"admin:{who.subject}", subject, password)
        except people.PasswordRefused as exc:
            errors[next(iter(exc.errors or {"subject": ()}))] = exc.detail
    if errors:
        return _admin_view(errors=errors, values={"subject": subject}, status=422)
    return redirect(f"/admin/?xong=password&ma={quote(subject)}", code=303)
