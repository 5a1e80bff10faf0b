"""The admin's page of a service's parked messages, ``/admin/parked/{service}/``, served by each
service from its own ``parked_messages`` (in the distributed deployment no service reads another's
database): what is parked (id, type, when, why, how often delivered; never the body, which may
hold what is private, R2a), **Gửi lại** and **Xoá**, each recorded (R23). The same logic as
``sovang parked replay|drop`` (``shared.parked``)."""

from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, Response, current_app, redirect, request

from shared import clock, parked
from shared.problems import Problem
from shared.refusals import Refused
from shared.web import acting, page, problem_page
from shared.web.audit_page import NAMES

PAGE_SIZE = 200
CAUSE = 300  # characters of the cause shown


def blueprint(service: str) -> Blueprint:
    bp = Blueprint(f"{service}_parked_page", __name__)
    path = f"/admin/parked/{service}/"

    @bp.errorhandler(Problem)
    @bp.errorhandler(Refused)
    def _problem(exc: Problem | Refused) -> Response:
        return problem_page(exc, back="/admin/")

    def view(done: str | None = None, error: str | None = None, status: int = 200) -> Response:
        runtime = current_app.extensions["sovang"]
        rows = parked.listed(runtime.db)
        shown = [{"id": r["message_id"], "type": r["type"], "at": r["parked_at"], "deliveries": r["deliveries"],
                  "cause": r["error"][:CAUSE] + ("…" if len(r["error"]) > CAUSE else ""),
                  "unsigned": parked.signed(runtime.settings, r["envelope"]) is not None}
                 for r in rows[:PAGE_SIZE]]
        return page("parked.html", status, service=service, name=NAMES[service], rows=shown, total=len(rows),
                    done=done, error=error, others=[(s, n) for s, n in NAMES.items() if s != service],
                    when=lambda v: clock.local(v).strftime("%H:%M:%S %d/%m/%Y"))

    @bp.get(path)
    def parked_page() -> Response:
        who = acting("admin")
        if isinstance(who, Response):
            return who
        message_id = request.args.get("thu", "")
        done = {"replay": f"Đã gửi lại thư {message_id} tới hàng đợi {service}.",
                "drop": f"Đã xoá thư {message_id}."}.get(request.args.get("xong", ""))
        return view(done=done)

    @bp.post(path)
    def parked_action() -> Response:
        who = acting("admin")
        if isinstance(who, Response):
            return who
        runtime = current_app.extensions["sovang"]
        action, message_id = request.form.get("action", ""), request.form.get("message", "").strip()
        try:
            if action == "replay":
                parked.replay(runtime.settings, service, runtime.db, message_id, who)
            elif action == "drop":
                parked.drop(runtime.db, message_id, who)
            else:
                return view(error="Hãy chọn Gửi lại hoặc Xoá cho một thư.", status=422)
        except parked.Unsigned as exc:
            return view(error=f"Không gửi lại thư {message_id}: {exc.reason}. Thư không có chữ ký hợp lệ chỉ có "
                              "thể xoá.", status=409)
        except parked.NotParked:
            return view(error=f"Không còn thư bị giữ lại mang mã {message_id} (đã gửi lại hoặc đã xoá).", status=409)
        except parked.ParkedError as exc:
            return view(error=f"Không gửi lại được thư {message_id}: {exc.reason}.", status=503)
        return redirect(f"{path}?xong={action}&thu={quote(message_id)}", code=303)

    return bp
