"""R19a: the counting minutes (biên bản kiểm phiếu) of a closed round, as a PDF (fpdf2 with the
DejaVu Sans font shipped in ``assets/``, which covers Vietnamese; licence beside it)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.fonts import FontFace

ASSETS = Path(__file__).parent / "assets"
KIND_NAMES = {
    "monthly": "Phiên xét tháng",
    "supplementary": "Phiên xét bổ sung",
    "quarterly": "Phiên xét quý",
    "provincial": "Phiên xét cấp tỉnh",
    "runoff": "Phiên bỏ phiếu lại",
    "referral": "Phiên xét việc do đơn vị chuyển lên",
}
CHOICE_NAMES = {"approve": "Tán thành", "reject": "Không tán thành", "abstain": "Không biểu quyết"}
BASE_NAMES = {"entitled": "số thành viên có quyền biểu quyết", "cast": "số phiếu đã bỏ"}
CLOSERS = {"secretary": "thư ký hội đồng", "schedule": "hệ thống, khi hết hạn", "empty": "hệ thống (không có ứng viên)"}


def render(data: dict[str, Any]) -> bytes:
    """The minutes of one closed round from ``services.minutes_data``."""
    rnd, result = data["round"], data["result"]
    pdf = FPDF(format="A4")
    pdf.set_title(f"Biên bản kiểm phiếu {rnd['id']}")
    pdf.set_author(data["council_name"])
    if data.get("closed_at"):
        pdf.set_creation_date(dt.datetime.fromisoformat(data["closed_at"]))
    pdf.add_font("DejaVu", "", str(ASSETS / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(ASSETS / "DejaVuSans-Bold.ttf"))
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    width = pdf.epw

    pdf.set_font("DejaVu", "B", 11)
    pdf.cell(width, 6, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(width, 6, "Độc lập - Tự do - Hạnh phúc", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("DejaVu", "B", 15)
    pdf.cell(width, 9, "BIÊN BẢN KIỂM PHIẾU", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 10)
    pdf.cell(width, 6, f"{KIND_NAMES.get(rnd['kind'], rnd['kind'])} kỳ {rnd['period']}", align="C",
             new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)

    mode = "phiếu giấy" if data["paper"] else "phiếu điện tử"
    if data["paper"]:
        mode += f" ({data['paper_voters']} thành viên nhận phiếu)"
    lines = [
        f"Hội đồng: {data['council_name']} ({rnd['council']})",
        f"Mã phiên: {rnd['id']}",
        f"Mở phiên: {rnd['opens_at']}; hạn đóng: {rnd['closes_at']}",
        f"Đóng phiên: {data.get('closed_at') or ''}, bởi {CLOSERS.get(data.get('closed_by') or '', data.get('closed_by') or '')}",
        f"Hình thức bỏ phiếu: {mode}",
        f"Số thành viên có quyền bỏ phiếu: {rnd['entitled']}; số phiếu thu về: {rnd['voted']}",
        f"Tiêu chuẩn: tán thành từ {data['threshold_percent']}% {BASE_NAMES.get(data['base'], data['base'])} trở lên",
    ]
    if rnd.get("runoff_of"):
        lines.append(f"Bỏ phiếu lại cho phiên: {rnd['runoff_of']}")
    for line in lines:
        pdf.multi_cell(width, 5.5, line, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)

    titles = {c["id"]: c for c in rnd["candidates"]}
    pdf.set_font("DejaVu", "", 8)
    headings = ("STT", "Việc tốt", "Tác giả", "Tán thành", "Không tán thành", "Không biểu quyết",
                "Có quyền", "Tỉ lệ", "Đạt", "Được chọn")
    with pdf.table(col_widths=(8, 46, 30, 14, 16, 16, 13, 13, 15, 15), text_align="CENTER", line_height=4.5,
                   headings_style=FontFace(emphasis="BOLD")) as table:
        table.row(headings)
        for i, c in enumerate(result["candidates"], 1):
            cand = titles.get(c["id"], {})
            author = (cand.get("author") or {}).get("name", "")
            table.row((
                str(i), cand.get("title", c["deed_id"]), author, str(c["approve"]), str(c["reject"]),
                str(c["abstain"]), str(c["entitled"]), c["ratio"] or "", _yes(c["passed"]), _yes(c["selected"]),
            ))
    pdf.ln(3)
    pdf.set_font("DejaVu", "", 10)
    decision = result.get("decision")
    if decision:
        pdf.multi_cell(width, 5.5, f"Quyết định công nhận số {decision['number']} ngày {decision['date']}.",
                       new_x="LMARGIN", new_y="NEXT")
    if result.get("runoff"):
        pdf.multi_cell(width, 5.5, f"Các việc tốt bằng phiếu ở vị trí cuối được đưa ra phiên bỏ phiếu lại {result['runoff']}.",
                       new_x="LMARGIN", new_y="NEXT")
    if result.get("quota_met") is not None:
        pdf.multi_cell(width, 5.5, "Chỉ tiêu tháng: " + ("đạt." if result["quota_met"] else "không đạt."),
                       new_x="LMARGIN", new_y="NEXT")

    pdf.ln(3)
    pdf.set_font("DejaVu", "B", 10)
    pdf.cell(width, 6, "Danh sách phiếu (theo mã biên nhận; ai cũng có thể kiểm lại kết quả)", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 8)
    order = [c["id"] for c in result["candidates"]]
    for b in result["ballots"]:
        parts = [f"{order.index(cid) + 1}: {CHOICE_NAMES.get(ch, ch)}" for cid, ch in sorted(
            b["choices"].items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order))]
        pdf.multi_cell(width, 4.5, f"{b['receipt']} — " + "; ".join(parts), new_x="LMARGIN", new_y="NEXT")
    if not result["ballots"]:
        pdf.cell(width, 5, "(không có phiếu)", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _yes(value: bool | None) -> str:
    return "" if value is None else ("Có" if value else "Không")
