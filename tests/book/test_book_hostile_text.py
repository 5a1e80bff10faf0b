"""R4a, R16: publication cannot be taken down by one entry's text. Text that no entry point
accepts any more (control characters, noncharacters, lone surrogates) is put straight into the
book — through the inscription command, which trusts council, and into its tables by SQL — and
every feed, page and PDF of the book still answers 200 and parses; what a format cannot carry
is replaced with U+FFFD and logged."""

from __future__ import annotations

import io
import json
import logging
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pypdf
import pytest
import sqlalchemy as sa
from book_helpers import AUTHOR, PROVINCE, UNIT, deed_copy, revoke

from services.book.orm import artifacts, entries
from shared.auth import Principal

feedparser = pytest.importorskip("feedparser")

# Characters XML 1.0 forbids (most C0 controls, U+FFFE, U+FFFF), C1 controls, noncharacters,
# and what DejaVu has no glyph for (CJK, emoji, a plane-14 tag).
HOSTILE_TITLE = "Cứu người\ufffe\x0b\x00 vượt lũ\uffff\x1b[31m\x85\ufdd0 😀 漢字 \U000e0001\U0010ffff"
HOSTILE_DESCRIPTION = "Dòng một\x0c\x7f\nDòng hai\x08\u2028 \U0001fffe hết"
HOSTILE_NAME = "Thiếu tá\x01 Phan\ufffe Thành Ngân"
HOSTILE_REASON = "Khai báo\x0b không trung thực\uffff"
# Only by SQL: UTF-8 cannot carry a lone surrogate, a JSON escape in the stored text can.
SURROGATE_DEED_TITLE = "Bắt giữ\\ud800 đối tượng \\udfff trộm cắp"


class _Parsed(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _html(body: bytes) -> str:
    page = _Parsed()
    page.feed(body.decode("utf-8"))
    page.close()
    return "".join(page.text)


def _pdf(body: bytes) -> str:
    return "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(body)).pages)


@pytest.fixture
def hostile_book(runtime, inscribe):
    """A unit book and the provincial book holding hostile text in every field the public sees."""
    hostile = deed_copy(HOSTILE_TITLE, description=HOSTILE_DESCRIPTION,
                        author={"officer": AUTHOR, "name": HOSTILE_NAME})
    inscribe(UNIT, deed=hostile)  # 1
    inscribe(UNIT, deed=deed_copy("Hiến máu cứu người"))  # 2: revoked below, with a hostile reason
    inscribe(UNIT, deed=deed_copy("Dọn cây đổ sau bão"))  # 3: its title gets lone surrogates by SQL
    inscribe(PROVINCE, deed=hostile, period="2024-Q2", round_kind="provincial")
    # The use case itself, as a secretary's request would reach it were the reason not checked.
    revoke(runtime, Principal("unit_secretary", "CAH-DM-0008"), UNIT, 2, HOSTILE_REASON)
    with runtime.db.unit_of_work() as uow:
        s = uow.session
        raw = s.execute(sa.select(entries.c.deed).where(entries.c.book == UNIT, entries.c.seq == 3)).scalar_one()
        tampered = raw.replace('"Dọn cây đổ sau bão"', f'"{SURROGATE_DEED_TITLE}"')
        assert tampered != raw
        s.execute(entries.update().where(entries.c.book == UNIT, entries.c.seq == 3).values(deed=tampered))
        s.execute(entries.update().where(entries.c.book == UNIT, entries.c.seq == 4)
                  .values(reason="Lý do\\ud800 giả mạo"))
        # Whatever was stored is dropped: every publication is rendered again from these rows.
        s.execute(artifacts.delete())
        uow.commit()
    return runtime


FEEDS = [f"/feeds/{code}.{fmt}" for code in (UNIT, PROVINCE) for fmt in ("atom", "rss", "json")]
PAGES = ["/honour-roll/", f"/honour-roll/{UNIT}/", f"/honour-roll/{UNIT}/2024-05", f"/honour-roll/{UNIT}/2024-Q2",
         f"/honour-roll/{PROVINCE}/", f"/honour-roll/{PROVINCE}/2024-Q2", "/press/2024-Q2.html",
         *(f"/verify/{UNIT}/{seq}" for seq in (1, 2, 3, 4)), f"/verify/{PROVINCE}/1"]
PDFS = [f"/api/v1/books/{UNIT}/entries/{seq}/certificate.pdf" for seq in (1, 2, 3)] + [
    f"/api/v1/books/{PROVINCE}/entries/1/certificate.pdf", "/press/2024-Q2.pdf"]


def test_feeds_still_answer_and_parse(client, hostile_book, caplog):
    caplog.set_level(logging.WARNING)
    for path in FEEDS:
        r = client.get(path)
        assert r.status_code == 200, (path, r.get_data(as_text=True)[:300])
        if path.endswith(".json"):
            doc = json.loads(r.data.decode("utf-8"))
            titles = [i["title"] for i in doc["items"]]
        else:
            ET.fromstring(r.data)
            parsed = feedparser.parse(r.data)
            assert not parsed.bozo, (path, parsed.get("bozo_exception"))
            titles = [e.title for e in parsed.entries]
        if path.startswith(f"/feeds/{UNIT}"):
            # Newest first: the revocation, the tampered entry, the notice, the hostile deed.
            assert titles[1] == "Bắt giữ\ufffd đối tượng \ufffd trộm cắp"
            assert "Cứu người\ufffd\ufffd\ufffd vượt lũ\ufffd\ufffd[31m\ufffd\ufffd 😀 漢字" in titles[-1]
    assert "published as U+FFFD" in caplog.text


def test_pages_still_answer_and_parse(client, hostile_book):
    for path in PAGES:
        r = client.get(path)
        assert r.status_code == 200, (path, r.get_data(as_text=True)[:300])
        text = _html(r.data)
        assert "\x0b" not in text and "\ufffe" not in text and "\x00" not in text
    assert "Cứu người\ufffd" in _html(client.get(f"/honour-roll/{UNIT}/2024-05").data)


def test_pdfs_still_answer_and_parse(client, hostile_book):
    for path in PDFS:
        r = client.get(path)
        assert r.status_code == 200 and r.mimetype == "application/pdf", (path, r.get_data()[:300])
        _pdf(r.data)
    assert "vượt lũ" in _pdf(client.get(f"/api/v1/books/{UNIT}/entries/1/certificate.pdf").data)
    assert "trộm cắp" in _pdf(client.get(f"/api/v1/books/{UNIT}/entries/3/certificate.pdf").data)


def test_what_is_served_again_is_the_safe_rendering(client, hostile_book):
    """The stored copies (the artifacts table, the process's caches) hold the safe rendering: a
    second read is the same 200."""
    for path in FEEDS + PAGES + PDFS:
        first = client.get(path)
        again = client.get(path)
        assert first.status_code == again.status_code == 200 and first.data == again.data, path
