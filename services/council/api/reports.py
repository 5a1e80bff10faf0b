"""``/api/v1/reports/monthly``: R10, one row per unit, as JSON, CSV or an XLSX spreadsheet."""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import Blueprint, Response, jsonify, request
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from services.council import services
from services.council.schemas import ReportQuery
from shared.auth import Principal
from shared.bodies import load
from shared.clock import Month, in_programme
from shared.context import Context
from shared.db import UnitOfWork
from shared.endpoint import endpoint
from shared.problems import Problem

bp = Blueprint("council_reports", __name__, url_prefix="/api/v1/reports")
_report_query = ReportQuery()

CSV = "text/csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
COLUMNS = ("unit", "month", "recorded", "introduced", "candidates", "recognised", "revoked", "quota_met")
# The spreadsheet is for people: Vietnamese headings, the unit's name beside its code.
HEADINGS = {
    "unit": "Mã đơn vị", "name": "Đơn vị", "month": "Tháng", "recorded": "Việc tốt đã ghi",
    "introduced": "Đã giới thiệu", "candidates": "Đưa ra biểu quyết", "recognised": "Được công nhận",
    "revoked": "Bị thu hồi", "quota_met": "Chỉ tiêu tháng",
}
QUOTA = {True: "Đạt", False: "Không đạt", None: "Chưa xét"}


@bp.get("/monthly")
@endpoint("province_secretary", "unit_secretary", read_only=True)
def monthly(uow: UnitOfWork, ctx: Context, who: Principal) -> Response:
    given = request.args.get("month")
    month = load(_report_query, {} if given is None else {"month": given})["month"]
    if not in_programme(Month.parse(month)):
        raise Problem(404, f"Tháng {month} chưa bắt đầu: chưa có báo cáo.")
    rows = services.monthly_report(uow, ctx, who, month)
    wanted = request.accept_mimetypes.best_match(["application/json", CSV, XLSX])
    if wanted == CSV:
        return Response(csv_report(rows), mimetype=CSV, headers={
            "Content-Disposition": f'attachment; filename="bao-cao-thang-{month}.csv"',
        })
    if wanted == XLSX:
        return Response(xlsx_report(rows, month, ctx.organisation.unit_name), mimetype=XLSX, headers={
            "Content-Disposition": f'attachment; filename="bao-cao-thang-{month}.xlsx"',
        })
    return jsonify({"items": rows, "next": None})


def csv_report(rows: list[dict]) -> bytes:
    """UTF-8 with a byte order mark: a spreadsheet opening the file then reads its diacritics
    as UTF-8 instead of the machine's legacy code page."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        q = row["quota_met"]
        writer.writerow([*(row[c] for c in COLUMNS[:-1]), "" if q is None else str(q).lower()])
    return "\ufeff".encode() + out.getvalue().encode("utf-8")


def xlsx_report(rows: list[dict[str, Any]], month: str, unit_name: Any) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = f"Tháng {month}"
    names = ("unit", "name", "month", "recorded", "introduced", "candidates", "recognised", "revoked", "quota_met")
    sheet.append([HEADINGS[n] for n in names])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    for row in rows:
        sheet.append([
            row["unit"], unit_name(row["unit"]), row["month"], row["recorded"], row["introduced"],
            row["candidates"], row["recognised"], row["revoked"], QUOTA[row["quota_met"]],
        ])
    widths = (12, 48, 10, 14, 14, 16, 15, 12, 14)
    for i, width in enumerate(widths, 1):
        sheet.column_dimensions[get_column_letter(i)].width = width
    sheet.freeze_panes = "C2"
    book.properties.creator = "Sổ vàng lập công"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
