"""R23 for people: ``/audit/{service}/``, each service's audit record as a page, for the unit
secretary (their unit's lines) and the province secretary (every unit's, or one's). It reads the
record as ``GET /api/v1/audit/{service}`` does (``shared.audit.scope``, ``read``): the same
lines, the same refusals. Nothing in it says how anyone voted (R19)."""

from __future__ import annotations

import datetime as dt
import json

from flask import Blueprint, Response, current_app, request

from shared import audit, clock
from shared.problems import Problem
from shared.refusals import Invalid, Refused
from shared.web import acting, page, problem_page

NAMES = {"intake": "Tiếp nhận việc tốt", "council": "Hội đồng", "book": "Sổ vàng"}
PAGE_SIZE = 100


def blueprint(service: str) -> Blueprint:
    bp = Blueprint(f"{service}_audit_page", __name__)

    @bp.errorhandler(Problem)
    @bp.errorhandler(Refused)
    def _problem(exc: Problem | Refused) -> Response:
        return problem_page(exc)

    @bp.get(f"/audit/{service}/")
    def audit_page() -> Response:
        who = acting(*audit.READERS)
        if isinstance(who, Response):
            return who
        runtime = current_app.extensions["sovang"]
        org = runtime.orgs.require()
        values = {k: request.args.get(k, "").strip() for k in ("unit", "from", "to")}
        unit = audit.scope(org, who, values["unit"] or None)
        errors: dict[str, str] = {}
        bounds = {}
        for name in ("from", "to"):
            try:
                bounds[name] = audit.bound(name, values[name] or None, end=name == "to")
            except Invalid:
                errors[name] = "Hãy nhập một ngày (ví dụ 07/08/2026)."
        after = request.args.get("sau", "")
        lines = [] if errors else audit.read(runtime.db, unit, bounds.get("from"), bounds.get("to"), PAGE_SIZE,
                                             int(after) if after.isdigit() and len(after) < 10 else None)
        more = len(lines) > PAGE_SIZE
        lines = lines[:PAGE_SIZE]
        return page("audit.html", 422 if errors else 200, service=service, name=NAMES[service], lines=lines,
                    more=more, last=lines[-1]["_id"] if lines else None, values=values, errors=errors,
                    units=list(org.units) if who.role == "province_secretary" else [], unit_name=org.unit_name,
                    others=[(s, n) for s, n in NAMES.items() if s != service],
                    when=lambda text: clock.local(dt.datetime.fromisoformat(text)).strftime("%H:%M:%S %d/%m/%Y"),
                    details=lambda d: json.dumps(d, ensure_ascii=False, sort_keys=True) if d else "")

    return bp

