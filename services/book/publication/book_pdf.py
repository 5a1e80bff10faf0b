"""R15, R15a, R16: a whole golden book as one A4 PDF, for the printed book.

A title page (the book, the province, the programme, the entries and the chain's head with its
signature, R15b); then every entry in order, each under its number: the deed honoured with its
decision, tally and hash, or the notice that stands in place of a revoked one (R15a: the revoked
deed's text is not printed again), and each revocation as the entry it is; at the end an index of
every entry and the page it is on. Every page after the first carries the book's name and
"Trang n/N". Fonts and text rules are the certificate's (``pdf``).
"""

from __future__ import annotations

import datetime as dt

from fpdf.enums import XPos, YPos

from services.book.domain import publication as pub
from services.book.domain.publication import PublicItem
from services.book.domain.witness import SignedHead
from services.book.publication.pages import Context
from services.book.publication.pdf import GOLD, INK, MUTED, RED, _Document

EPOCH = dt.datetime(2021, 9, 1, tzinfo=dt.UTC)
# An entry whose heading would start this low begins on the next page.
LAST_START = 297 - 20 - 45


class _Book(_Document):
    def __init__(self, title: str, created: dt.datetime, running_head: str) -> None:
        super().__init__(title, created)
        self.running_head = running_head
        self.heading_page = 1  # the page the last entry's heading went on
        self.alias_nb_pages()

    def header(self) -> None:
        if self.page_no() == 1:
            return
        self.set_y(10)
        self.set_font("Serif", "", 8)
        self.set_text_color(*MUTED)
        self.cell(0, 5, self.drawable(self.running_head), align="L")
        self.set_draw_color(*GOLD)
        self.set_line_width(0.3)
        self.line(18, 16, 192, 16)
        self.set_y(20)

    def footer(self) -> None:
        if self.page_no() == 1:
            return
        self.set_y(-14)
        self.set_font("Serif", "", 8)
        self.set_text_color(*MUTED)
        self.cell(0, 5, f"Trang {self.page_no()}/{{nb}}", align="C")


def _title_page(doc: _Book, ctx: Context, book_name: str, entries: int, head: str | None,
                signed: SignedHead | None, honoured: int, revoked: int) -> None:
    doc.add_page()
    doc.set_draw_color(*GOLD)
    doc.set_line_width(1.2)
    doc.rect(8, 8, 194, 281)
    doc.set_line_width(0.4)
    doc.rect(11, 11, 188, 275)
    doc.set_y(40)
    doc.line_of(ctx.province_name.upper(), 13, "B", RED)
    doc.ln(30)
    doc.line_of("SỔ VÀNG LẬP CÔNG", 30, "B", RED, height=15)
    doc.ln(4)
    doc.line_of(ctx.programme, 13, color=GOLD, height=7)
    doc.ln(16)
    doc.fitted(book_name, 20, 12, "B")
    doc.ln(30)
    doc.line_of(f"{entries} mục: {honoured} việc tốt được ghi danh, {revoked} công nhận đã bị thu hồi.", 11,
                height=6)
    doc.line_of(f"Phong trào bắt đầu từ ngày {pub.date_vi(ctx.since)}.", 11, height=6)
    doc.ln(40)
    doc.line_of("Đầu chuỗi băm của sổ (SHA-256, R15):", 8.5, color=MUTED, height=4.5)
    doc.line_of(head or "—", 8, family="Mono", color=MUTED, height=4.5)
    if signed is not None:
        doc.line_of(f"ký lúc {pub.instant_vi(signed.signed_at)} bằng khóa {signed.key_id} (Ed25519), chữ ký:", 8.5,
                    color=MUTED, height=4.5)
        doc.line_of(signed.signature, 7, family="Mono", color=MUTED, height=4)


def _heading(doc: _Book, item: PublicItem, label: str, color: tuple[int, int, int]) -> None:
    if doc.get_y() > LAST_START:
        doc.add_page()
    doc.heading_page = doc.page_no()
    doc.set_draw_color(*GOLD)
    doc.set_line_width(0.3)
    doc.line(18, doc.get_y(), 192, doc.get_y())
    doc.ln(2)
    doc.line_of(f"Mục số {item.seq}  ·  {label}  ·  {pub.inscribed_vi(item)}", 9, "B", color, align="L", height=5)


def _entry(doc: _Book, ctx: Context, item: PublicItem) -> None:
    if item.kind == pub.REVOCATION:
        _heading(doc, item, "THU HỒI CÔNG NHẬN", RED)
        doc.line_of(item.text, 10.5, align="L", height=5.6)
        number = item.decision.get("number")
        if number:
            doc.line_of(f"Quyết định số {number} ngày {pub.date_vi(item.decision.get('date'))}.", 9.5, color=MUTED,
                        align="L", height=5)
    elif item.revoked:
        _heading(doc, item, f"ĐÃ BỊ THU HỒI (mục số {item.revoked_by})", RED)
        doc.line_of(item.text, 10.5, color=MUTED, align="L", height=5.6)
    else:
        deed = item.deed or {}
        _heading(doc, item, pub.period_label(item.period), INK)
        doc.line_of(deed.get("title", ""), 12.5, "B", RED, align="L", height=6.5)
        unit = ctx.unit_name(deed.get("unit", ""))
        doc.line_of(f"{item.author_name} — {unit}", 10, "B", align="L", height=5.5)
        doc.line_of(deed.get("description", ""), 10.5, align="L", height=5.6)
        kind = pub.KIND_LABELS.get(deed.get("kind", ""), deed.get("kind", ""))
        relation = pub.RELATION_LABELS.get(deed.get("relation", ""), deed.get("relation", ""))
        facts = [f"{kind} — {relation}; ngày {pub.date_vi(deed.get('occurred_on'))}."]
        decision = item.decision
        if decision.get("number"):
            issuer = decision.get("issuer_name") or decision.get("issuer") or ""
            facts.append(f"Quyết định công nhận số {decision['number']} ngày {pub.date_vi(decision.get('date'))}"
                         f" của {issuer}.")
        if item.tally.get("ratio"):
            facts.append(f"Biểu quyết: {item.tally.get('approve')}/{item.tally.get('entitled')} thành viên tán thành.")
        doc.line_of(" ".join(facts), 9.5, color=MUTED, align="L", height=5)
    doc.line_of(f"mã băm {item.hash}", 7, family="Mono", color=MUTED, align="L", height=4)
    doc.ln(4)


def _index(doc: _Book, items: list[PublicItem], pages: dict[int, int]) -> None:
    doc.add_page()
    doc.line_of("MỤC LỤC", 16, "B", RED, height=9)
    doc.ln(3)
    width = doc.epw
    for item in items:
        if item.honoured:
            what = f"{(item.deed or {}).get('title', '')} — {item.author_name}"
        elif item.kind == pub.REVOCATION:
            what = f"Thu hồi công nhận mục số {item.revokes}"
        else:
            what = f"(đã bị thu hồi — mục số {item.revoked_by})"
        doc.set_font("Serif", "", 9)
        doc.set_text_color(*(INK if item.honoured else MUTED))
        text = doc.drawable(what)
        room = width - 14 - 14
        while doc.get_string_width(text) > room and len(text) > 4:
            text = text[:-2].rstrip() + "…"
        doc.cell(14, 5, str(item.seq), align="R")
        doc.cell(room, 5, " " + text)
        doc.cell(14, 5, str(pages[item.seq]), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def whole_book(ctx: Context, book: str, book_name: str, items: list[PublicItem], head: str | None,
               signed: SignedHead | None) -> bytes:
    """R15, R15a, R16: every entry of a book (``public_items`` of all of them, by seq), paged,
    with its title page and index."""
    created = max((i.instant for i in items), default=EPOCH).astimezone(dt.UTC)
    doc = _Book(f"Sổ vàng lập công — {book_name}", created, f"Sổ vàng lập công — {book_name} ({book})")
    inscriptions = [i for i in items if i.kind == pub.INSCRIPTION]
    _title_page(doc, ctx, book_name, len(items), head, signed, sum(1 for i in inscriptions if i.honoured),
                sum(1 for i in inscriptions if i.revoked))
    doc.add_page()
    pages: dict[int, int] = {}
    if not items:
        doc.line_of("Sổ chưa có mục nào.", 11, color=MUTED)
    for item in items:
        _entry(doc, ctx, item)
        pages[item.seq] = doc.heading_page  # where it starts: an entry may flow onto the next page
    if items:
        _index(doc, items, pages)
    return doc.done()

