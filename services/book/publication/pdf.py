"""R16: the certificate of an entry and the quarterly press release, as A4 PDFs (fpdf2).

Fonts are the DejaVu TTFs shipped in ``services/book/assets`` (every Vietnamese letter, ệ ổ ữ Đ,
as one precomposed glyph of NFC text). The renderer draws text and lines only: it loads no
image and follows no link, so a URL in a deed's text (``file://``, loopback, remote) is text.
A certificate's QR code (R15b, made by segno) is drawn as filled squares, not an image.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import segno
from fpdf import FPDF
from fpdf.enums import XPos, YPos

from services.book.domain import publication as pub
from services.book.domain.publication import PublicItem
from services.book.publication.pages import Context
from shared.text import publishable

log = logging.getLogger(__name__)

ASSETS = Path(__file__).resolve().parent.parent / "assets"
PDF = "application/pdf"
RED = (165, 14, 14)
GOLD = (184, 134, 11)
INK = (31, 26, 20)
MUTED = (107, 98, 87)
CERT_DESCRIPTION_CHARS = 1200
PRESS_DESCRIPTION_CHARS = 700


class _Document(FPDF):
    def __init__(self, title: str, created: dt.datetime) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.add_font("Serif", "", str(ASSETS / "DejaVuSerif.ttf"))
        self.add_font("Serif", "B", str(ASSETS / "DejaVuSerif-Bold.ttf"))
        self.add_font("Mono", "", str(ASSETS / "DejaVuSansMono.ttf"))
        self.set_title(publishable(title)[0])
        self.missing: set[str] = set()
        self.set_creator("Sổ vàng lập công")
        self.set_lang("vi")
        # Generated again with the same content, the document is the same bytes (stable ETag).
        self.set_creation_date(created)
        self.set_margins(18, 20, 18)
        self.set_auto_page_break(True, margin=20)

    def drawable(self, text: str) -> str:
        """``text`` as the current font can draw it: R4a's replacements first, then every
        character the font has no glyph for (CJK, emoji …) as "?" — noted, and logged once per
        document by ``done`` — instead of an empty box."""
        text = publishable(text)[0].replace("\t", " ")
        cmap = self.current_font.cmap
        if all(ord(ch) in cmap or ch in "\n\r " for ch in text):
            return text
        out = []
        for ch in text:
            if ord(ch) in cmap or ch in "\n\r ":
                out.append(ch)
            else:
                self.missing.add(ch)
                out.append("?")
        return "".join(out)

    def done(self) -> bytes:
        if self.missing:
            log.warning("PDF %r: %d character(s) its fonts have no glyph for printed as '?': %s",
                        self.title, len(self.missing),
                        " ".join(f"U+{ord(ch):04X}" for ch in sorted(self.missing)[:20]))
        return bytes(self.output())

    def line_of(self, text: str, size: float, style: str = "", color: tuple[int, int, int] = INK,
                align: str = "C", family: str = "Serif", height: float | None = None) -> None:
        self.set_font(family, style, size)
        text = self.drawable(text)
        self.set_text_color(*color)
        self.multi_cell(0, height or size * 0.5, text, align=align, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def fitted(self, text: str, largest: float, smallest: float, style: str = "B",
               color: tuple[int, int, int] = INK, align: str = "C") -> None:
        """One line in the largest size that fits (bold first, then regular down to ``smallest``),
        so that the line reads, and extracts, whole; wrapped at the smallest when none does."""
        room = self.epw - 2 * self.c_margin - 0.5
        tries = [(style, largest - 0.5 * n) for n in range(int((largest - smallest) * 2) + 1)]
        if style:
            tries += [("", smallest - 0.5 * n) for n in range(5)]
        for weight, size in tries:
            self.set_font("Serif", weight, size)
            if self.get_string_width(self.drawable(text)) <= room:
                self.line_of(text, size, weight, color, align)
                return
        self.line_of(text, smallest, style, color, align)


def _frame(doc: _Document) -> None:
    doc.set_draw_color(*GOLD)
    doc.set_line_width(1.2)
    doc.rect(8, 8, 194, 281)
    doc.set_line_width(0.4)
    doc.rect(11, 11, 188, 275)


def _seal(doc: _Document, item: PublicItem, verify_url: str | None = None) -> None:
    """The entry's hash, with where to check the chain (the mono font has no Vietnamese: hex only),
    and the QR code of the entry's verification page ``verify_url`` beside it (R15b)."""
    if not verify_url:
        doc.line_of(f"Mã băm của mục số {item.seq} (SHA-256), kiểm tra tại /api/v1/books/{item.book}/verify:",
                    8, color=MUTED, align="L", height=4.5)
        doc.line_of(item.hash, 8, family="Mono", color=MUTED, align="L", height=4.5)
        return
    qr_code(doc, verify_url, QR_X, QR_Y, QR_SIZE)
    right = doc.r_margin
    doc.set_right_margin(210 - QR_X + 3)  # the text keeps clear of the code
    doc.line_of(f"Mã băm của mục số {item.seq} (SHA-256):", 8, color=MUTED, align="L", height=4.5)
    doc.line_of(item.hash, 7.5, family="Mono", color=MUTED, align="L", height=4.2)
    doc.line_of("Quét mã QR hoặc mở địa chỉ sau để kiểm tra mục này và chuỗi của sổ:", 8, color=MUTED,
                align="L", height=4.5)
    doc.line_of(verify_url, 7.5, family="Mono", color=MUTED, align="L", height=4.2)
    doc.set_right_margin(right)


def qr_code(doc: FPDF, url: str, x: float, y: float, size: float) -> None:
    """R15b: the QR code of ``url`` as vector squares (one rectangle per run of dark modules in a
    row), ``size`` mm wide with its quiet zone, top left at (x, y)."""
    code = segno.make(url, error="m", micro=False)
    matrix = [list(row) for row in code.matrix]
    border = 4  # the quiet zone the QR standard asks for
    cell = size / (len(matrix) + 2 * border)
    doc.set_fill_color(255, 255, 255)
    doc.rect(x, y, size, size, style="F")
    doc.set_fill_color(0, 0, 0)
    for r, row in enumerate(matrix):
        c = 0
        while c < len(row):
            if not row[c]:
                c += 1
                continue
            start = c
            while c < len(row) and row[c]:
                c += 1
            doc.rect(x + (border + start) * cell, y + (border + r) * cell, (c - start) * cell, cell, style="F")


QR_SIZE = 28  # mm, quiet zone included
QR_X, QR_Y = 199 - 4 - QR_SIZE, 286 - 4 - QR_SIZE  # bottom right, inside the frame


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _created(item: PublicItem) -> dt.datetime:
    return item.instant.astimezone(dt.UTC)


def certificate(ctx: Context, book_name: str, item: PublicItem, verify_url: str | None = None) -> bytes:
    """The certificate of one inscription (A4): the deed, the decision, the tally, the entry's hash
    and the QR code of its verification page ``verify_url`` (R15b); for a revoked inscription, the
    notice of its revocation in its place."""
    doc = _Document(f"Giấy chứng nhận — {book_name}, mục số {item.seq}", _created(item))
    doc.add_page()
    _frame(doc)
    doc.line_of(ctx.province_name.upper(), 11, "B", RED)
    doc.line_of("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", 10, "B")
    doc.line_of("Độc lập – Tự do – Hạnh phúc", 10)
    doc.ln(8)
    if not item.honoured:
        doc.line_of("THÔNG BÁO THU HỒI", 22, "B", RED, height=12)
        doc.ln(4)
        doc.line_of(f"Sổ vàng lập công — {book_name}, mục số {item.seq}", 12)
        doc.ln(6)
        doc.line_of(item.text, 12, align="L", height=7)
        doc.ln(10)
        _seal(doc, item, verify_url)
        return doc.done()
    deed = item.deed or {}
    doc.line_of("GIẤY CHỨNG NHẬN", 26, "B", RED, height=13)
    doc.line_of(f"Ghi danh {ctx.programme}", 11, color=GOLD, height=6)
    doc.ln(6)
    doc.line_of("Chứng nhận", 12)
    doc.fitted(item.author_name, 18, 12, "B")
    doc.line_of(ctx.unit_name(deed.get("unit", "")), 12)
    doc.ln(4)
    doc.line_of("đã có việc tốt vì Nhân dân được ghi vào Sổ vàng lập công:", 12)
    doc.ln(3)
    doc.fitted(deed.get("title", ""), 17, 9, "B", RED)
    doc.ln(3)
    doc.line_of(_clip(deed.get("description", ""), CERT_DESCRIPTION_CHARS), 10.5, align="L", height=5.6)
    doc.ln(4)
    kind = pub.KIND_LABELS.get(deed.get("kind", ""), deed.get("kind", ""))
    relation = pub.RELATION_LABELS.get(deed.get("relation", ""), deed.get("relation", ""))
    facts = [f"Loại: {kind} — {relation}; ngày {pub.date_vi(deed.get('occurred_on'))}."]
    decision = item.decision
    if decision.get("number"):
        issuer = decision.get("issuer_name") or decision.get("issuer") or ""
        facts.append(
            f"Quyết định công nhận số {decision['number']} ngày {pub.date_vi(decision.get('date'))} của {issuer}."
        )
    tally = item.tally
    if tally.get("ratio"):
        facts.append(
            f"Hội đồng xét việc tốt biểu quyết {pub.period_label(tally.get('period'))}: "
            f"{tally.get('approve')}/{tally.get('entitled')} thành viên tán thành."
        )
    facts.append(f"Ghi vào Sổ vàng lập công — {book_name}, mục số {item.seq}, {pub.inscribed_vi(item)}.")
    for fact in facts:
        doc.line_of(fact, 10.5, align="L", height=5.6)
    if doc.get_y() < 222:
        doc.set_y(222)
    doc.ln(4)
    issuer = decision.get("issuer_name") or book_name
    doc.line_of(f"{issuer}, ngày {pub.date_vi(decision.get('date') or item.inscribed_at)}", 10.5, align="R", height=5.6)
    doc.line_of(issuer.upper(), 10.5, "B", align="R", height=5.6)
    doc.ln(8)
    _seal(doc, item, verify_url)
    return doc.done()


def press_release(ctx: Context, book: str, quarter: str, items: list[PublicItem], province_total: int) -> bytes:
    """R16: the quarterly press release of the provincial book (A4)."""
    chosen = pub.honoured_in(items, quarter)
    honoured = [i for i in chosen if i.honoured]
    text = pub.press_text(ctx.province_name, quarter, len(honoured), province_total, ctx.since)
    created = max((i.instant for i in chosen), default=dt.datetime(2021, 9, 1, tzinfo=dt.UTC))
    doc = _Document(f"Thông cáo báo chí {pub.period_label(quarter)} — {ctx.province_name}", created.astimezone(dt.UTC))
    doc.add_page()
    doc.line_of(ctx.province_name.upper(), 11, "B", RED)
    doc.line_of(f"THÔNG CÁO BÁO CHÍ — {pub.period_label(quarter).upper()}", 16, "B", height=9)
    doc.ln(4)
    doc.line_of(text.headline, 14, "B", RED, height=7)
    doc.ln(3)
    doc.line_of(text.lead, 11, align="L", height=6)
    doc.ln(2)
    doc.line_of(text.running, 11, "B", align="L", height=6)
    for n, item in enumerate(chosen, 1):
        doc.ln(5)
        if not item.honoured:
            doc.line_of(item.text, 10, color=MUTED, align="L", height=5.5)
            continue
        deed = item.deed or {}
        doc.fitted(f"{n}. {deed.get('title', '')}", 12, 9, "B", align="L")
        doc.line_of(
            f"{item.author_name} — {ctx.unit_name(deed.get('unit', ''))} — {pub.date_vi(deed.get('occurred_on'))}",
            10, color=MUTED, align="L", height=5.5,
        )
        doc.line_of(_clip(deed.get("description", ""), PRESS_DESCRIPTION_CHARS), 10.5, align="L", height=5.6)
        number = item.decision.get("number")
        doc.line_of(
            (f"Quyết định số {number}. " if number else "") + f"Sổ vàng Công an tỉnh, mục số {item.seq}.",
            9.5, color=MUTED, align="L", height=5,
        )
    return doc.done()
