"""R16: honour-roll pages, certificates, the quarterly press release and the running figures.

Vietnamese text exact in every artifact; hostile text is text in pages and PDFs; the PDF
renderer fetches nothing beyond the project's packaged fonts.
"""

from __future__ import annotations

import builtins
import io
import json
import socket
import threading
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import pypdf  # a test dependency (pyproject's "test" extra): missing, the run must fail, not skip
import pytest
from book_helpers import PROVINCE, PROVINCE_SECRETARY, UNIT, UNIT_SECRETARY, deed_copy

VIETNAMESE = "Đồng chí Thượng úy giúp cụ bà Hờ Thị Ệ vượt lũ, cứu đàn bò của hộ nghèo ở Đắk Sắk"
HOSTILE = '<script>alert("x")</script> "><img src=x onerror=alert(1)> ]]> javascript:alert(1)'
ASSETS = (Path(__file__).resolve().parents[2] / "services" / "book" / "assets").resolve()


class Page(HTMLParser):
    """The elements and the text of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse_html(body: bytes) -> Page:
    page = Page()
    page.feed(body.decode("utf-8"))
    return page


def pdf_text(body: bytes) -> str:
    return "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(body)).pages)


# -- honour-roll pages ----------------------------------------------------------------------------
def test_the_honour_roll_of_a_book_and_of_its_periods(client, inscribe):
    inscribe(UNIT, deed=deed_copy(VIETNAMESE), period="2024-05")
    inscribe(UNIT, deed=deed_copy("Tuần tra đêm giữ bình yên buôn làng"), period="2024-07")
    index = client.get(f"/honour-roll/{UNIT}/")
    assert index.status_code == 200 and index.mimetype == "text/html"
    html = index.data.decode()
    assert VIETNAMESE in html and "Tuần tra đêm giữ bình yên buôn làng" in html
    assert '<meta name="viewport"' in html and 'lang="vi"' in html
    assert "Tháng 5/2024" in html and "Quý II/2024" in html
    page = parse_html(index.data)
    # Nothing from outside: no external stylesheet, script, font or image; the one stylesheet and
    # script of every page are the origin's own.
    for tag, attrs in page.tags:
        assert tag not in {"img", "iframe"}
        if tag == "link":
            assert attrs.get("href", "").startswith("/"), attrs
        if tag == "script":
            assert attrs.get("src", "").startswith("/"), attrs
    assert ("link", {"rel": "stylesheet", "href": "/static/sovang.css"}) in page.tags
    may = client.get(f"/honour-roll/{UNIT}/2024-05").data.decode()
    assert VIETNAMESE in may and "Tuần tra đêm" not in may
    quarter = client.get(f"/honour-roll/{UNIT}/2024-Q3").data.decode()
    assert "Tuần tra đêm" in quarter and VIETNAMESE not in quarter
    empty = client.get(f"/honour-roll/{UNIT}/2023-01")
    assert empty.status_code == 200 and "Chưa có việc tốt nào" in empty.data.decode()
    assert client.get(f"/honour-roll/{UNIT}/2024-13").status_code == 404
    assert client.get(f"/honour-roll/{UNIT}/bad").status_code == 404
    assert client.get(f"/honour-roll/{UNIT}").status_code in (301, 308)
    books = client.get("/honour-roll/").data.decode()
    assert "Công an huyện Đắk Mil" in books and f"/honour-roll/{UNIT}/" in books


def test_pages_carry_only_public_fields(client, inscribe):
    copy = deed_copy(VIETNAMESE)
    copy["place"] = "Nhà riêng số 12"
    inscribe(UNIT, deed=copy)
    html = client.get(f"/honour-roll/{UNIT}/2024-05").data.decode()
    assert "Nhà riêng số 12" not in html and "CAH-DM-0001" not in html


@pytest.mark.parametrize("path", ["/honour-roll/{unit}/", "/honour-roll/{unit}/2024-05", "/honour-roll/{unit}/2024-Q2"])
def test_hostile_text_is_text_on_every_page(client, inscribe, path):
    inscribe(UNIT, deed=deed_copy(HOSTILE, description=f"{HOSTILE}\n<a href='javascript:alert(1)'>x</a>"))
    body = client.get(path.format(unit=UNIT)).data
    page = parse_html(body)
    # The only script is the layout's own file, the same on every page; the deed's never runs.
    assert [a.get("src") for t, a in page.tags if t == "script"] == ["/static/sovang.js"]
    assert not [t for t, _ in page.tags if t == "img"]
    assert not [a for t, a in page.tags if t == "a" and "javascript" in a.get("href", "")]
    assert HOSTILE in "".join(page.text)
    assert b"&lt;script&gt;" in body


def test_pages_are_served_with_etag_and_304(client, inscribe):
    inscribe(UNIT)
    r = client.get(f"/honour-roll/{UNIT}/")
    assert client.get(f"/honour-roll/{UNIT}/", headers={"If-None-Match": r.headers["ETag"]}).status_code == 304


# -- certificates ---------------------------------------------------------------------------------
def test_the_certificate_is_an_a4_pdf_with_the_deed_decision_and_hash(client, inscribe):
    msg = inscribe(UNIT, deed=deed_copy(VIETNAMESE))
    r = client.get(f"/api/v1/books/{UNIT}/entries/1/certificate.pdf")
    assert r.status_code == 200 and r.mimetype == "application/pdf" and r.data.startswith(b"%PDF-")
    reader = pypdf.PdfReader(io.BytesIO(r.data))
    width, height = (round(float(x) / 72 * 25.4) for x in reader.pages[0].mediabox.upper_right)
    assert (width, height) == (210, 297)
    text = pdf_text(r.data)
    assert VIETNAMESE in text
    assert "GIẤY CHỨNG NHẬN" in text and "Thiếu tá Phan Thành Ngân" in text and "Công an huyện Đắk Mil" in text
    assert msg.decision["number"] in text and "6/7" in text
    entry = client.get(f"/api/v1/books/{UNIT}/entries/1").get_json()
    assert entry["hash"] in text
    assert client.get(f"/api/v1/books/{UNIT}/entries/1/certificate.pdf",
                      headers={"If-None-Match": r.headers["ETag"]}).status_code == 304


def test_a_hostile_deed_is_printed_as_text_and_the_renderer_fetches_nothing(runtime, monkeypatch):
    from services.book.domain import publication as pub
    from services.book.domain.chain import GENESIS
    from services.book.domain.entries import Entry, inscription, public_deed
    from services.book.publication import pdf
    from services.book.publication.publisher import Publisher

    urls = "file:///etc/passwd http://127.0.0.1:9/x.png https://example.com/logo.png"
    deed = public_deed(deed_copy(f"{HOSTILE} {urls}", description=f"<img src='{urls}'> {urls}"))
    fields = inscription(book=UNIT, seq=1, prev_hash=GENESIS, deed=deed, decision={}, tally={"period": "2024-05"},
                         at=__import__("datetime").datetime(2024, 6, 7, tzinfo=__import__("datetime").UTC))
    item = pub.public_items(UNIT, [Entry.of(fields)])[0]
    with runtime.db.reading() as s:
        ctx = Publisher(s, runtime.orgs.get()).context()

    opened: list[str] = []
    real_open = builtins.open

    def spy_open(file, *args, **kwargs):
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    def no_network(*args, **kwargs):
        raise AssertionError(f"the PDF renderer reached for the network: {args!r}")

    # Only this thread renders: the book cache's listener thread keeps its own connection to the
    # broker meanwhile, and must not be cut off half-way (its socket would be left open).
    renderer = threading.get_ident()
    real_connect = socket.socket.connect

    def connect(sock, *args, **kwargs):
        if threading.get_ident() != renderer:
            return real_connect(sock, *args, **kwargs)
        return no_network(*args)

    monkeypatch.setattr(builtins, "open", spy_open)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    body = pdf.certificate(ctx, "Công an huyện Đắk Mil", item)
    monkeypatch.undo()

    assert all(Path(p).resolve().is_relative_to(ASSETS) for p in opened if not p.isdigit()), opened
    text = pdf_text(body)
    assert HOSTILE in text and "file:///etc/passwd" in text and "http://127.0.0.1:9/x.png" in text
    assert b"/URI" not in body and b"/Launch" not in body and b"/JavaScript" not in body


def test_there_is_no_certificate_for_a_revocation_entry(client, token, inscribe):
    inscribe(UNIT)
    headers = {"Authorization": f"Bearer {token('unit_secretary', UNIT_SECRETARY)}"}
    assert client.post(f"/api/v1/books/{UNIT}/revocations", json={"seq": 1, "reason": "Sai"}, headers=headers).status_code == 201
    assert client.get(f"/api/v1/books/{UNIT}/entries/2/certificate.pdf").status_code == 404


# -- the press release ----------------------------------------------------------------------------
def test_the_quarterly_press_release_of_the_provincial_book(client, inscribe):
    inscribe(PROVINCE, deed=deed_copy(VIETNAMESE), period="2024-Q2", round_kind="provincial")
    inscribe(PROVINCE, deed=deed_copy("Phá chuyên án ma túy xuyên biên giới"), period="2024-Q3", round_kind="provincial")
    html = client.get("/press/2024-Q2.html")
    assert html.status_code == 200 and html.mimetype == "text/html"
    text = html.data.decode()
    assert VIETNAMESE in text and "Phá chuyên án" not in text
    assert "Quý II/2024" in text and "ghi danh 1 việc tốt" in text
    assert "Từ ngày 01/09/2021 đến hết Quý II/2024, Công an tỉnh đã xét chọn và công nhận 1 việc tốt" in text
    later = client.get("/press/2024-Q3.html").data.decode()
    assert "đến hết Quý III/2024, Công an tỉnh đã xét chọn và công nhận 2 việc tốt" in later
    pdf = client.get("/press/2024-Q2.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert VIETNAMESE in pdf_text(pdf.data)
    assert client.get("/press/2024-Q2.pdf", headers={"If-None-Match": pdf.headers["ETag"]}).status_code == 304
    empty = client.get("/press/2023-Q1.html")
    assert empty.status_code == 200 and "chưa có việc tốt nào" in empty.data.decode()
    for bad in ("/press/2024-Q5.html", "/press/2024-05.html", "/press/2024-Q2.doc"):
        assert client.get(bad).status_code == 404


def test_a_unit_book_is_not_in_the_press_release(client, inscribe):
    inscribe(UNIT, deed=deed_copy(VIETNAMESE), period="2024-05")
    assert VIETNAMESE not in client.get("/press/2024-Q2.html").data.decode()


# -- figures --------------------------------------------------------------------------------------
def test_running_figures_leave_out_revoked_entries(client, token, inscribe):
    assert client.get("/api/v1/figures").get_json()["province_total"] == 0
    inscribe(UNIT, period="2024-05")
    inscribe(UNIT, period="2024-06")
    inscribe(PROVINCE, period="2024-Q2", round_kind="provincial")
    inscribe(PROVINCE, period="2024-Q3", round_kind="provincial")
    body = client.get("/api/v1/figures").get_json()
    assert body["since"] == "2021-09-01"
    assert body["province_total"] == 2
    assert body["by_quarter"] == {"2024-Q2": 1, "2024-Q3": 1}
    assert body["by_unit"][UNIT] == 2 and body["by_unit"]["CAH-CJ"] == 0 and len(body["by_unit"]) == 15
    assert body["unit_books"]["total"] == 2 and body["unit_books"]["by_quarter"] == {"2024-Q2": 2}
    headers = {"Authorization": f"Bearer {token('province_secretary', PROVINCE_SECRETARY)}"}
    r = client.post(f"/api/v1/books/{PROVINCE}/revocations", json={"seq": 2, "reason": "Hồ sơ sai"}, headers=headers)
    assert r.status_code == 201
    body = client.get("/api/v1/figures").get_json()
    assert body["province_total"] == 1 and body["by_quarter"] == {"2024-Q2": 1}
    r = client.get("/api/v1/figures")
    assert json.loads(r.data) == body and r.headers["ETag"]


def test_revoking_an_earlier_provincial_entry_updates_later_releases(client, token, inscribe):
    inscribe(PROVINCE, deed=deed_copy("Quý hai"), period="2024-Q2", round_kind="provincial")
    inscribe(PROVINCE, deed=deed_copy("Quý ba"), period="2024-Q3", round_kind="provincial")
    assert "công nhận 2 việc tốt" in client.get("/press/2024-Q3.html").data.decode()
    headers = {"Authorization": f"Bearer {token('province_secretary', PROVINCE_SECRETARY)}"}
    assert client.post(f"/api/v1/books/{PROVINCE}/revocations", json={"seq": 1, "reason": "Sai"},
                       headers=headers).status_code == 201
    q2 = client.get("/press/2024-Q2.html").data.decode()
    assert "Quý hai" not in q2 and "đã bị thu hồi" in q2
    assert "công nhận 1 việc tốt" in client.get("/press/2024-Q3.html").data.decode()


@pytest.mark.parametrize(("renderer", "path"), [
    ("feeds_changed", f"/feeds/{UNIT}.atom"),  # in the inscription's transaction
    ("pages_changed", f"/honour-roll/{UNIT}/"),  # one message later
])
def test_a_publication_that_fails_to_render_never_loses_the_entry(
        client, runtime, inscribe, monkeypatch, caplog, renderer, path):
    """R16: a renderer that fails, with the entry or one hop later, neither loses the entry nor
    leaves a stale publication: it is rendered afresh on request, with every entry."""
    from services.book import queries
    from services.book.app import run
    from services.book.publication.publisher import Publisher

    inscribe(UNIT, deed=deed_copy("Trước"))
    assert run(runtime, queries.artifact, path) is not None

    def broken(self, *args, **kwargs):
        raise RuntimeError("renderer broke")

    monkeypatch.setattr(Publisher, renderer, broken)
    inscribe(UNIT, deed=deed_copy("Sau"))
    monkeypatch.undo()
    assert "renderer broke" in caplog.text
    assert client.get(f"/api/v1/books/{UNIT}/verify").get_json()["entries"] == 2
    assert run(runtime, queries.artifact, path) is None
    served = client.get(path).data.decode()
    assert "Trước" in served and "Sau" in served


def test_pages_use_the_fonts_the_project_ships(client):
    html = client.get(f"/honour-roll/{UNIT}/").data.decode()
    assert 'href="/static/sovang.css"' in html
    # Files are sent from disk: each answer closed, and its file with it.
    with client.get("/static/sovang.css") as css:
        assert css.status_code == 200 and "/honour-roll/assets/DejaVuSerif.ttf" in css.data.decode()
    with client.get("/honour-roll/assets/DejaVuSerif.ttf") as font:
        assert font.status_code == 200 and font.mimetype == "font/ttf" and font.data[:4] == b"\x00\x01\x00\x00"
    assert client.get("/honour-roll/assets/..%2Fservices.py").status_code == 404
    assert client.get("/honour-roll/assets/README.txt").status_code == 404
