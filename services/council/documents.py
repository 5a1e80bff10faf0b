"""R8, R11: the council's administrative documents as A4 PDFs (fpdf2): the recognition decision
(quyết định công nhận) of a round and the proposal dossier (hồ sơ đề nghị) a unit sends the
provincial council. Both follow the layout of Decree 30/2020/NĐ-CP: the issuing body and the
number top-left, the national motto with place and date top-right, the title, the body, then
"Nơi nhận" bottom-left and the signatory's title bottom-right.

Fonts are the DejaVu Serif TTFs in ``assets/`` (the book service's subset: every Vietnamese
letter of NFC text is one glyph). Only text and lines are drawn: a URL in a deed is text.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace

from services.council.domain.decisions import date_line, issuing_body, place_of, signatory

ASSETS = Path(__file__).parent / "assets"
KIND_LABELS = {"good_deed": "Việc tốt", "achievement": "Thành tích", "feat": "Chiến công", "exemplar": "Gương người tốt"}
RELATION_LABELS = {"direct": "trực tiếp vì Nhân dân", "indirect": "gián tiếp vì Nhân dân"}
ROUND_LABELS = {
    "monthly": "phiên xét tháng", "supplementary": "phiên xét bổ sung", "quarterly": "phiên xét quý",
    "provincial": "phiên xét cấp tỉnh", "runoff": "phiên bỏ phiếu lại", "referral": "phiên xét chuyển lên",
}
ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV"}
LEFT_W = 78  # the issuing body's column; the motto's takes the rest
NEXT = {"new_x": XPos.LMARGIN, "new_y": YPos.NEXT}


def period_label(period: str) -> str:
    """``2025-05`` → ``tháng 5/2025``; ``2025-Q2`` → ``quý II/2025``."""
    if "-Q" in period:
        year, q = period.split("-Q")
        return f"quý {ROMAN.get(int(q), q)}/{year}"
    year, month = period.split("-")
    return f"tháng {int(month)}/{year}"


def date_vi(iso: str | None) -> str:
    if not iso:
        return ""
    try:
        return dt.date.fromisoformat(iso[:10]).strftime("%d/%m/%Y")
    except ValueError:
        return iso


class _Document(FPDF):
    def __init__(self, title: str, author: str, created: dt.datetime) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.add_font("Serif", "", str(ASSETS / "DejaVuSerif.ttf"))
        self.add_font("Serif", "B", str(ASSETS / "DejaVuSerif-Bold.ttf"))
        self.set_title(title)
        self.set_author(author)
        self.set_creator("Sổ vàng lập công")
        self.set_lang("vi")
        # The same document generated again is the same bytes.
        self.set_creation_date(created)
        # Decree 30/2020: margins top 20–25, bottom 20–25, left 30–35, right 15–20 mm.
        self.set_margins(30, 20, 15)
        self.set_auto_page_break(True, margin=20)
        self.add_page()

    def text(self, body: str, size: float = 12, style: str = "", align: str = "J", height: float | None = None,
             width: float = 0) -> None:
        self.set_font("Serif", style, size)
        self.multi_cell(width, height or size * 0.5, body, align=align, **NEXT)

    def rule(self, x_mid: float, y: float, length: float) -> None:
        self.set_line_width(0.3)
        self.line(x_mid - length / 2, y, x_mid + length / 2, y)

    def heading(self, body: str, place: str, day: dt.date, superior: str, issuer: str) -> None:
        """The top of the document: issuing body and number | motto, place and date."""
        top = self.get_y()
        left_mid = self.l_margin + LEFT_W / 2 - 8
        right_x = self.l_margin + LEFT_W - 16
        right_w = self.w - self.r_margin - right_x
        right_mid = right_x + right_w / 2
        self.set_xy(self.l_margin - 8, top)
        self.set_font("Serif", "", 11)
        self.multi_cell(LEFT_W, 5, superior, align="C", new_x=XPos.LEFT, new_y=YPos.NEXT)
        self.set_font("Serif", "B", 11)
        self.multi_cell(LEFT_W, 5, issuer, align="C", new_x=XPos.LEFT, new_y=YPos.NEXT)
        self.rule(left_mid, self.get_y() + 0.8, 25)
        left_end = self.get_y()
        self.set_xy(right_x, top)
        self.set_font("Serif", "B", 11)
        self.cell(right_w, 5, "CỘNG HOÀ XÃ HỘI CHỦ NGHĨA VIỆT NAM", align="C", new_x=XPos.LEFT, new_y=YPos.NEXT)
        self.set_font("Serif", "B", 12)
        self.cell(right_w, 6, "Độc lập - Tự do - Hạnh phúc", align="C", new_x=XPos.LEFT, new_y=YPos.NEXT)
        self.rule(right_mid, self.get_y() + 0.5, 62)
        row = max(left_end, self.get_y()) + 4
        self.set_xy(self.l_margin - 8, row)
        self.set_font("Serif", "", 12)
        self.cell(LEFT_W, 6, body, align="C")
        self.set_xy(right_x, row)
        self.cell(right_w, 6, date_line(place, day), align="C")
        self.set_xy(self.l_margin, row + 14)

    def closing(self, recipients: list[str], title: str, over: str | None = None) -> None:
        """Bottom: "Nơi nhận" (left) and the signatory's title (right), with room to sign."""
        if self.get_y() > self.h - self.b_margin - 32:
            self.add_page()
        self.ln(6)
        top = self.get_y()
        self.set_font("Serif", "B", 10)
        self.cell(70, 5, "Nơi nhận:", **NEXT)
        self.set_font("Serif", "", 9.5)
        for line in recipients:
            self.multi_cell(70, 4.5, line, **NEXT)
        self.set_xy(self.l_margin + 80, top)
        width = self.w - self.r_margin - self.get_x()
        self.set_font("Serif", "B", 12)
        if over:
            self.cell(width, 6, over, align="C", new_x=XPos.LEFT, new_y=YPos.NEXT)
        self.multi_cell(width, 6, title, align="C", new_x=XPos.LEFT, new_y=YPos.NEXT)
        self.set_font("Serif", "", 10)
        self.cell(width, 5, "(Ký, ghi rõ họ tên và đóng dấu)", align="C", new_x=XPos.LEFT, new_y=YPos.NEXT)


def _created(iso: str | None) -> dt.datetime:
    return dt.datetime.fromisoformat(iso) if iso else dt.datetime(2021, 9, 1, tzinfo=dt.UTC)


def render_decision(data: dict[str, Any]) -> bytes:
    """R8, R14: the recognition decision of one closed round, from ``services.decision_data``."""
    day = dt.date.fromisoformat(data["date"])
    doc = _Document(f"Quyết định số {data['number']}", data["issuer_name"], _created(data.get("closed_at")))
    superior, issuer = issuing_body(data["issuer_kind"], data["issuer_name"], data["province_name"])
    authority, signs_as = signatory(data["issuer_kind"], data["issuer_name"])
    doc.heading(f"Số: {data['number']}", place_of(data["issuer_name"], data["province_name"]), day, superior, issuer)

    doc.text("QUYẾT ĐỊNH", 14, "B", "C", 7)
    doc.text("Về việc công nhận việc tốt vì Nhân dân\nvà ghi vào Sổ vàng lập công", 13, "B", "C", 6.5)
    doc.rule(doc.l_margin + doc.epw / 2, doc.get_y() + 1, 40)
    doc.ln(5)
    doc.text(authority, 13, "B", "C", 6.5)
    doc.ln(2)
    rnd = data["round"]
    doc.text("Căn cứ Luật Thi đua, khen thưởng ngày 15 tháng 6 năm 2022;", height=6.5)
    doc.text(f"Căn cứ Quy chế thực hiện phong trào \u201c{data['programme']}\u201d;", height=6.5)
    doc.text(
        f"Căn cứ kết quả biểu quyết của {data['council_name']} tại {ROUND_LABELS.get(rnd['kind'], rnd['kind'])} "
        f"{period_label(rnd['period'])} (mã phiên {rnd['id']}), đóng ngày {date_vi(data.get('closed_at'))}: "
        f"được công nhận khi có từ {data['threshold_percent']}% thành viên có quyền biểu quyết tán thành trở lên;",
        height=6.5,
    )
    doc.text(f"Xét đề nghị của Thường trực {data['council_name']},", height=6.5)
    doc.ln(2)
    doc.text("QUYẾT ĐỊNH:", 13, "B", "C", 7)
    deeds = data["deeds"]
    doc.text(
        f"Điều 1. Công nhận {len(deeds)} việc tốt vì Nhân dân sau đây và ghi vào {data['book_name']}:",
        height=6.5,
    )
    doc.ln(1)
    doc.set_font("Serif", "", 9.5)
    with doc.table(col_widths=(9, 60, 40, 36, 20), text_align=("CENTER", "LEFT", "LEFT", "LEFT", "CENTER"),
                   line_height=4.8, headings_style=FontFace(emphasis="BOLD")) as table:
        table.row(("TT", "Việc tốt", "Tác giả", "Đơn vị", "Biểu quyết"))
        for i, d in enumerate(deeds, 1):
            table.row((
                str(i), f"{d['title']} ({KIND_LABELS.get(d['kind'], d['kind'])}, {date_vi(d['occurred_on'])})",
                d["author_name"], d["unit_name"], f"{d['approve']}/{d['entitled']} tán thành",
            ))
    doc.ln(3)
    doc.text(
        "Điều 2. Các việc tốt nêu tại Điều 1 được ghi vào Sổ vàng lập công, cấp giấy chứng nhận và tuyên "
        "truyền, nhân rộng theo Quy chế.", height=6.5,
    )
    doc.text(
        f"Điều 3. Quyết định này có hiệu lực kể từ ngày ký. {data['council_name']}, thủ trưởng các đơn vị "
        "có liên quan và các cá nhân, tập thể có tên tại Điều 1 chịu trách nhiệm thi hành Quyết định này./.",
        height=6.5,
    )
    recipients = ["- Như Điều 3;"]
    if data["issuer_kind"] != "province":
        recipients.append(f"- {data['province_name']} (để theo dõi);")
    recipients.append("- Lưu: VT, HĐ.")
    doc.closing(recipients, signs_as)
    return bytes(doc.output())


def render_dossier(data: dict[str, Any]) -> bytes:
    """R11: the proposal dossier of one exemplary deed, as the unit sent it to the province."""
    deed = data["deed"]
    sent = data.get("sent_on") or data["created_at"][:10]
    doc = _Document(f"Hồ sơ đề nghị {data['id']}", data["unit_name"], _created(data["created_at"]))
    superior, issuer = issuing_body(data["unit_kind"], data["unit_name"], data["province_name"])
    _, signs_as = signatory(data["unit_kind"], data["unit_name"])
    doc.heading(f"Hồ sơ số: {data['id'][:8]}", place_of(data["unit_name"], data["province_name"]),
                dt.date.fromisoformat(sent), superior, issuer)
    doc.text("HỒ SƠ ĐỀ NGHỊ", 14, "B", "C", 7)
    doc.text(f"Công nhận việc tốt vì Nhân dân tiêu biểu {period_label(data['quarter'])}", 13, "B", "C", 6.5)
    doc.rule(doc.l_margin + doc.epw / 2, doc.get_y() + 1, 40)
    doc.ln(5)
    doc.text(f"Kính gửi: {data['provincial_council_name']}", 12, "", "C", 6.5)
    doc.ln(3)

    doc.text("I. VIỆC TỐT ĐƯỢC ĐỀ NGHỊ", 12, "B", "L", 6.5)
    facts = [
        ("Tên việc tốt", deed.get("title", "")),
        ("Tác giả", data["author_name"]),
        ("Đơn vị", data["unit_name"]),
        ("Loại", f"{KIND_LABELS.get(deed.get('kind', ''), deed.get('kind', ''))}, "
                 f"{RELATION_LABELS.get(deed.get('relation', ''), deed.get('relation', ''))}"),
        ("Ngày thực hiện", date_vi(deed.get("occurred_on"))),
    ]
    if deed.get("place"):
        facts.append(("Địa điểm", deed["place"]))
    for label, value in facts:
        doc.text(f"{label}: {value}", 11.5, height=6)
    doc.text("Nội dung:", 11.5, height=6)
    doc.text(deed.get("description", ""), 11, height=5.6)
    doc.ln(2)

    doc.text("II. TÀI LIỆU, CHỨNG CỨ KÈM THEO", 12, "B", "L", 6.5)
    evidence = data["evidence"]
    if evidence:
        doc.set_font("Serif", "", 7.5)
        with doc.table(col_widths=(8, 112, 28, 17), text_align=("CENTER", "LEFT", "LEFT", "RIGHT"), line_height=4.5,
                       headings_style=FontFace(emphasis="BOLD")) as table:
            table.row(("TT", "Mã SHA-256", "Loại tệp", "Cỡ (byte)"))
            for i, e in enumerate(evidence, 1):
                table.row((str(i), e["sha256"], e["content_type"], str(e["size"])))
    else:
        doc.text("(không có tài liệu kèm theo)", 11, height=6)
    doc.ln(2)

    doc.text("III. QUYẾT ĐỊNH CÔNG NHẬN HẰNG THÁNG", 12, "B", "L", 6.5)
    monthly = data["monthly_decision"]
    tally = data["monthly_tally"]
    if monthly.get("number"):
        doc.text(f"Quyết định số {monthly['number']} ngày {date_vi(monthly.get('date'))}"
                 + (f" của {monthly['issuer_name']}" if monthly.get("issuer_name") else "") + ".", 11.5, height=6)
    if tally.get("approve") is not None:
        doc.text(f"Biểu quyết {period_label(tally.get('period') or deed.get('month') or data['quarter'])}: "
                 f"{tally['approve']}/{tally.get('entitled')} thành viên tán thành "
                 f"({tally.get('reject', 0)} không tán thành, {tally.get('abstain', 0)} không biểu quyết).",
                 11.5, height=6)
    doc.ln(2)

    doc.text("IV. KẾT QUẢ BIỂU QUYẾT PHIÊN XÉT QUÝ CỦA ĐƠN VỊ", 12, "B", "L", 6.5)
    q = data["quarterly_tally"]
    doc.text(f"{data['council_name']}, {period_label(data['quarter'])}: {q.get('approve')}/{q.get('entitled')} "
             f"thành viên tán thành ({q.get('reject', 0)} không tán thành, {q.get('abstain', 0)} không biểu quyết); "
             f"mã phiên {data['quarterly_round_id']}.", 11.5, height=6)
    doc.closing(["- Như trên;", "- Lưu: VT, HĐ."], signs_as)
    return bytes(doc.output())
