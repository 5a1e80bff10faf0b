"""The admin's page for loading a new organisation (UI.md, admin; R25): ``/admin/organisation/``
lists the recent loads and takes a file, ``/admin/organisation/{id}`` shows where a load stands
in each service and refreshes itself while it runs. The work is ``organisation``'s."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, redirect, request

from services.intake import organisation
from services.intake.in_request import write
from shared import clock
from shared.db import utcnow
from shared.endpoint import read
from shared.problems import Problem
from shared.refusals import Refused
from shared.web import acting, page, problem_page

bp = Blueprint("intake_organisation_pages", __name__, template_folder="templates")

SERVICE_NAMES = {"council": "Hội đồng (council)", "book": "Sổ vàng (book)", "intake": "Tiếp nhận (intake)"}
STATES = {
    "checking": "Đang kiểm tra",
    "loading": "Đang nạp",
    "refused": "Bị từ chối: không dịch vụ nào thay đổi",
    "stopped": "Dừng giữa chừng",
    "loaded": "Đã nạp vào mọi dịch vụ",
}
# Seconds between two refreshes of a load still running (a meta refresh: no script needed).
REFRESH_SECONDS = 3


@bp.before_request
def _file_limit() -> None:
    if request.endpoint == "intake_organisation_pages.upload":
        # An organisation file may be larger than a JSON body.
        request.max_content_length = organisation.MAX_FILE_BYTES + 64 * 1024


@bp.errorhandler(Problem)
@bp.errorhandler(Refused)
def _problem(exc: Problem | Refused) -> Response:
    return problem_page(exc, back="/admin/organisation/")


def _instant(value: Any) -> str:
    return clock.local(value).strftime("%H:%M:%S %d/%m/%Y") if value else ""


def _list(error: str | None = None, status: int = 200) -> Response:
    return page("intake/organisation.html", status, loads=read(organisation.recent), error=error,
                states=STATES, instant=_instant, max_mib=organisation.MAX_FILE_BYTES // (1024 * 1024))


@bp.get("/admin/organisation/")
def loads() -> Response:
    who = acting("admin")
    if isinstance(who, Response):
        return who
    return _list()


@bp.post("/admin/organisation/")
def upload() -> Response:
    who = acting("admin")
    if isinstance(who, Response):
        return who
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _list("Hãy chọn tệp tổ chức (.json) để nạp.", 422)
    content = upload.stream.read(organisation.MAX_FILE_BYTES + 1)
    try:
        doc = organisation.read_file(content)
        started = write(organisation.start, who.subject, upload.filename, doc)
    except organisation.BadFile as exc:
        return _list(exc.detail, 422)
    return redirect(f"/admin/organisation/{started.load_id}", code=303)


def _steps(load: dict[str, Any]) -> list[dict[str, Any]]:
    """Each service's line: what it said, in the words of UI.md (đang chờ / từ chối / đã nạp)."""
    lines = []
    for name in organisation.ORDER:
        step = load["steps"][name]
        state = step["state"]
        if state == "loaded":
            label = "Đã nạp" if step.get("changed") else "Đã nạp (đã có tệp này, không thay đổi)"
        elif state == "refused":
            label = "Từ chối khi kiểm tra"
        elif state == "load_refused":
            label = "Từ chối khi nạp"
        elif load["state"] in ("refused", "stopped"):
            label = "Không nạp"
        elif state == "checking":
            label = "Đang chờ: đang kiểm tra"
        elif state == "loading":
            label = "Đang chờ: đang nạp"
        else:
            label = "Đang chờ: đã kiểm tra, chờ lượt nạp"
        lines.append({"service": SERVICE_NAMES[name], "state": state, "label": label,
                      "problems": step.get("problems") or []})
    return lines


@bp.get("/admin/organisation/<id:load_id>")
def load_page(load_id: str) -> Response:
    who = acting("admin")
    if isinstance(who, Response):
        return who
    load = read(organisation.get, load_id)
    if load is None:
        raise Problem(404, "Không có lần nạp tổ chức này.")
    running = load["state"] in organisation.RUNNING
    # Past that time a message has most likely been parked: refreshing would only wait in vain.
    stuck = running and utcnow() - load["requested_at"] > dt.timedelta(minutes=organisation.BUSY_MINUTES)
    return page("intake/organisation_load.html", load=load, steps=_steps(load), states=STATES,
                running=running and not stuck, stuck=stuck, busy_minutes=organisation.BUSY_MINUTES,
                refresh=REFRESH_SECONDS, instant=_instant)
