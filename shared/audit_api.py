"""R23 for programs: ``GET /api/v1/audit/{service}`` (API.md, Common), each service serving its
own record. Who may read which lines, and the lines themselves, are ``shared.audit``'s."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from shared import audit
from shared.bodies import page_params
from shared.cursors import page
from shared.request_auth import principal


def blueprint(service: str) -> Blueprint:
    """``GET /api/v1/audit/{service}?unit=&from=&to=`` for one service (API.md, Common)."""
    bp = Blueprint(f"{service}_audit", __name__)

    @bp.get(f"/api/v1/audit/{service}", endpoint="audit")
    def audit_lines() -> Response:
        runtime = current_app.extensions["sovang"]
        who = principal(runtime.db, *audit.READERS)
        unit = audit.scope(runtime.orgs.require(), who, request.args.get("unit"))
        limit, after = page_params(kind=int)
        start = audit.bound("from", request.args.get("from"), end=False)
        end = audit.bound("to", request.args.get("to"), end=True)
        items = audit.read(runtime.db, unit, start, end, limit, after)
        body = page(items, limit, key=lambda line: line["_id"])
        for line in body["items"]:
            del line["_id"]
        return jsonify(body)

    return bp
