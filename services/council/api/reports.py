"""``/api/v1/reports/monthly``: R10, one row per unit, JSON or CSV."""

from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, current_app, jsonify, request

from services.council import services
from shared.auth import principal
from shared.clock import Month
from shared.http import Problem
from shared.runtime import Runtime

bp = Blueprint("council_reports", __name__, url_prefix="/api/v1/reports")

COLUMNS = ("unit", "month", "recorded", "introduced", "candidates", "recognised", "quota_met")


def _runtime() -> Runtime:
    return current_app.extensions["sovang"]


@bp.get("/monthly")
def monthly() -> Response:
    who = principal(_runtime().db, "province_secretary", "unit_secretary")
    month = request.args.get("month", "")
    try:
        Month.parse(month)
    except ValueError:
        raise Problem(422, "month phải có dạng YYYY-MM.", errors={"month": ["Phải có dạng YYYY-MM."]}) from None
    rows = services.monthly_report(_runtime(), who, month)
    if request.accept_mimetypes.best_match(["application/json", "text/csv"]) == "text/csv":
        return Response(_csv(rows), mimetype="text/csv", headers={
            "Content-Disposition": f'attachment; filename="bao-cao-thang-{month}.csv"',
        })
    return jsonify({"items": rows, "next": None})


def _csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        q = row["quota_met"]
        writer.writerow([*(row[c] for c in COLUMNS[:-1]), "" if q is None else str(q).lower()])
    return out.getvalue()
