"""R15, R15a, R16: ``GET /api/v1/books/{code}/book.pdf`` — the whole book for the printed golden
book: a title page with the signed head, every entry in order (a revoked one marked, its deed not
printed again; the revocation itself as an entry), page numbers, and an index; Vietnamese exact."""

from __future__ import annotations

import json
import re
from io import BytesIO
from pathlib import Path

import pytest
from book_helpers import PROVINCE, UNIT, UNIT_SECRETARY, deed_copy
from pypdf import PdfReader

from services.book import services
from services.book.app import create_app, run
from shared import audit
from shared.runtime import Runtime

EXAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "paper-book-CAT.json"


def pages_of(body: bytes) -> list[str]:
    return [p.extract_text() for p in PdfReader(BytesIO(body)).pages]


def test_the_whole_book_in_order_with_revocations_marked_pages_and_index(client, inscribe, token):
    titles = ["Cứu hai em nhỏ đuối nước ở hồ Tây", "Trả lại ví cho người đánh rơi ở chợ Đức Mạnh",
              "Giúp đồng bào M'Nông thu hoạch cà phê"]
    for title in titles:
        inscribe(UNIT, deed=deed_copy(title, description="Đồng chí đã kịp thời giúp đỡ người dân. " * 40))
    r = client.post(f"/api/v1/books/{UNIT}/revocations", json={"seq": 2, "reason": "Khai báo không trung thực"},
                    headers={"Authorization": f"Bearer {token('unit_secretary', UNIT_SECRETARY)}"})
    assert r.status_code == 201
    r = client.get(f"/api/v1/books/{UNIT}/book.pdf")
    assert r.status_code == 200 and r.mimetype == "application/pdf" and r.headers["ETag"]
    pages = pages_of(r.data)
    assert len(pages) >= 4
    cover, *body = pages
    assert "SỔ VÀNG LẬP CÔNG" in cover and "Công an huyện Đắk Mil" in cover
    head = client.get(f"/api/v1/books/{UNIT}/heads").get_json()["items"][0]
    assert head["head"] in cover and head["key_id"] in cover  # the signed head it was printed at (R15b)
    for n, page in enumerate(body, 2):
        assert f"Trang {n}/{len(pages)}" in page
    text = "\n".join(body)
    # Every entry, in order.
    positions = [text.index(f"Mục số {seq}") for seq in (1, 2, 3, 4)]
    assert positions == sorted(positions)
    assert titles[0] in text and titles[2] in text
    # R15a: the revoked deed is marked and not printed again; the revocation is an entry.
    assert "ĐÃ BỊ THU HỒI (mục số 4)" in text and titles[1] not in text
    assert "THU HỒI CÔNG NHẬN" in text and "Khai báo không trung thực" in text
    # The index, last: each entry and the page its heading is on.
    index = pages[-1]
    assert "MỤC LỤC" in index
    for seq in (1, 2, 3, 4):
        match = re.search(rf"^{seq}\s.*?(\d+)$", index, re.M)
        assert match, index
        assert f"Mục số {seq}" in pages[int(match.group(1)) - 1]


def test_the_book_is_rendered_once_per_state_and_again_after_an_entry(client, inscribe):
    inscribe(UNIT, deed=deed_copy("Việc tốt thứ nhất"))
    first = client.get(f"/api/v1/books/{UNIT}/book.pdf")
    again = client.get(f"/api/v1/books/{UNIT}/book.pdf")
    assert again.data == first.data and again.headers["ETag"] == first.headers["ETag"]
    assert client.get(f"/api/v1/books/{UNIT}/book.pdf", headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    inscribe(UNIT, deed=deed_copy("Việc tốt thứ hai"))
    later = client.get(f"/api/v1/books/{UNIT}/book.pdf")
    assert later.headers["ETag"] != first.headers["ETag"] and "Việc tốt thứ hai" in "\n".join(pages_of(later.data))


def test_an_empty_book_and_an_unknown_one(client):
    r = client.get(f"/api/v1/books/{UNIT}/book.pdf")
    assert r.status_code == 200 and "Sổ chưa có mục nào" in "\n".join(pages_of(r.data))
    assert client.get("/api/v1/books/NOPE/book.pdf").status_code == 404


def paper_book_printed(runtime: Runtime) -> None:
    run(runtime, services.import_paper_book, audit.CLI, json.loads(EXAMPLE.read_text("utf-8")))
    client = create_app(runtime=runtime).test_client()
    r = client.get(f"/api/v1/books/{PROVINCE}/book.pdf")
    assert r.status_code == 200
    pages = pages_of(r.data)
    text = "\n".join(pages)
    assert all(f"Mục số {seq} " in text for seq in range(1, 41))
    assert "ngày 18/10/2021 (sổ vàng giấy)" in text and "1968/QĐ-CAT-PX01" in text
    assert "Cứu ba người dân mắc kẹt trong lũ tại bon Bu Prăng" in text  # Vietnamese exact
    assert "MỤC LỤC" in text and f"Trang {len(pages)}/{len(pages)}" in pages[-1]


def test_the_imported_paper_book_prints_whole(runtime):
    paper_book_printed(runtime)


@pytest.mark.distributed
def test_the_imported_paper_book_prints_whole_on_postgresql(web):
    paper_book_printed(web)
