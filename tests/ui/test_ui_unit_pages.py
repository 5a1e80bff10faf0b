"""The unit secretary's ``/unit/`` (R10 figures, R11 dossiers, the report as CSV and XLSX), the
revocation form the book serves beside it (R15a, the use case of the API), the audit record of
each service as a page (R23), the province secretary's ``/province/`` and the press office's
public ``/press/`` (R16), through the one origin."""

from __future__ import annotations

import io
import re

from openpyxl import load_workbook
from ui_helpers import MEMBERS, PROVINCE_SECRETARY, SECRETARY, UNIT, deed_copy, open_monthly, this_month
from werkzeug.test import Client as FlaskClient

from services.book import queries as book_queries
from services.book.app import run as book_run
from services.council import runs
from shared.auth import Principal
from tests.book.book_helpers import deed_copy as book_deed
from tests.book.book_helpers import deliver, inscribe_command
from tests.sessions.site import PASSWORD, Site

AUTHOR = {"officer": "CAH-DM-0010", "name": "Trung uý Võ Xuân Giang"}


def signed_in(site: Site, subject: str) -> FlaskClient:
    c = site.client()
    resp = c.post("/", data={"subject": subject, "password": PASSWORD, "next": ""})
    assert resp.status_code == 303, resp.get_data(as_text=True)
    return c


def token_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def field_error(html: str, field: str) -> str:
    found = re.search(rf'<p class="field-error" id="{re.escape(field)}-loi">([^<]*)</p>', html)
    assert found, f"no error next to {field}"
    return found.group(1)


def test_the_unit_page_shows_the_months_figures_and_gives_the_report(site: Site) -> None:
    council = site.runtimes["council"]
    round_id = open_monthly(council, [deed_copy("Cứu bé gái đuối nước ở hồ Tây", AUTHOR, this_month())])
    cand = runs.get_round_view(council, round_id)["candidates"][0]
    for member in MEMBERS:
        runs.cast_ballot(council, Principal("council_member", member), round_id, {cand["id"]: "approve"})
    runs.close_round(council, Principal("unit_secretary", SECRETARY), round_id)

    c = signed_in(site, SECRETARY)
    page = c.get("/unit/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Công an huyện Đắk Mil" in html
    assert re.search(r"Được công nhận</dt><dd>1<", html) and "Đạt" in html
    for link in (f"/unit/report-{this_month()}.csv", f"/unit/report-{this_month()}.xlsx", "/unit/revoke/",
                 "/audit/intake/", "/audit/council/", "/audit/book/"):
        assert f'href="{link}"' in html, link
    assert "chưa gửi hồ sơ đề nghị" in html

    report = c.get(f"/unit/report-{this_month()}.csv")
    assert report.status_code == 200 and report.mimetype == "text/csv"
    lines = report.data.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("unit,month") and lines[1].startswith(f"{UNIT},{this_month()},")
    xlsx = c.get(f"/unit/report-{this_month()}.xlsx")
    sheet = load_workbook(io.BytesIO(xlsx.data)).active
    assert sheet["B2"].value == "Công an huyện Đắk Mil" and sheet["G2"].value == 1
    assert c.get("/unit/report-2019-01.csv").status_code == 404
    assert c.get("/unit/?month=tháng-8").status_code == 422

    member = signed_in(site, MEMBERS[0])
    assert member.get("/unit/").status_code == 403
    assert member.get(f"/unit/report-{this_month()}.csv").status_code == 403


def test_the_secretary_revokes_an_entry_with_its_reason(site: Site) -> None:
    book = site.runtimes["book"]
    deliver(book, inscribe_command(UNIT, deed=book_deed("Bắt quả tang đối tượng trộm xe máy")))
    deliver(book, inscribe_command(UNIT, deed=book_deed("Hiến máu cứu người")))
    c = signed_in(site, SECRETARY)
    form = c.get("/unit/revoke/")
    html = form.get_data(as_text=True)
    assert form.status_code == 200 and "Số 1: Bắt quả tang đối tượng trộm xe máy" in html
    assert 'for="seq"' in html and 'for="reason"' in html
    token = token_of(html)

    empty = c.post("/unit/revoke/", data={"csrf_token": token, "seq": "1", "reason": "  "})
    assert empty.status_code == 422 and "lý do" in field_error(empty.get_data(as_text=True), "reason")
    assert book_run(book, book_queries.get_book, UNIT).entries == 2

    reason = "Khai không đúng sự thật: người được giúp xác nhận không có việc này."
    done = c.post("/unit/revoke/", data={"csrf_token": token, "seq": "1", "reason": reason})
    assert done.status_code == 303
    entry, _ = book_run(book, book_queries.get_entry, UNIT, 3)
    assert (entry.kind, entry.revokes, entry.reason) == ("revocation", 1, reason)
    after = c.get(done.headers["Location"]).get_data(as_text=True)
    assert "Đã ghi mục thu hồi số 3." in after and "thu hồi ở mục số 3" in after
    assert "Số 1: Bắt quả tang" not in after and "Số 2: Hiến máu cứu người" in after

    # A second revocation of the same entry (a stale form): the use case's 409, next to the entry.
    again = c.post("/unit/revoke/", data={"csrf_token": token, "seq": "1", "reason": reason})
    assert again.status_code == 409 and field_error(again.get_data(as_text=True), "seq")
    assert reason in again.get_data(as_text=True)  # what was typed is kept
    forged = c.post("/unit/revoke/", data={"csrf_token": "0" * 40, "seq": "1", "reason": reason})
    assert forged.status_code == 403

    audit = c.get("/audit/book/")
    text = audit.get_data(as_text=True)
    assert audit.status_code == 200 and "entry.revoked" in text and SECRETARY in text


def test_each_service_shows_its_audit_record_to_the_secretaries_only(site: Site) -> None:
    open_monthly(site.runtimes["council"], [deed_copy("Giúp dân chống lũ", AUTHOR, this_month())])
    c = signed_in(site, SECRETARY)
    council = c.get("/audit/council/").get_data(as_text=True)
    assert "round.opened" in council and "Nhật ký thay đổi: Hội đồng" in council
    intake = c.get("/audit/intake/").get_data(as_text=True)
    assert "session.signed_in" in intake or "signed_in" in intake
    bad = c.get("/audit/council/?from=hôm-qua")
    assert bad.status_code == 422 and field_error(bad.get_data(as_text=True), "from")
    assert 'value="hôm-qua"' in bad.get_data(as_text=True)
    assert c.get("/audit/council/?unit=CAH-CJ").status_code == 403

    province = signed_in(site, PROVINCE_SECRETARY)
    every = province.get("/audit/council/?unit=CAH-DM")
    assert every.status_code == 200 and "round.opened" in every.get_data(as_text=True)
    member = signed_in(site, MEMBERS[0])
    assert member.get("/audit/council/").status_code == 403
    assert site.client().get("/audit/book/").status_code == 303  # to sign in


def test_the_province_page_and_the_press_page(site: Site) -> None:
    c = signed_in(site, PROVINCE_SECRETARY)
    page = c.get("/province/?quarter=2026-Q2")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    for link in ("/dashboard/?quarter=2026-Q2", "/rounds/", "/press/2026-Q2.html", "/press/2026-Q2.pdf",
                 "/unit/revoke/"):
        assert f'href="{link}"' in html, link
    assert "Chưa nhận hồ sơ đề nghị nào" in html
    assert c.get("/province/?quarter=quý-2").status_code == 422
    rounds = c.get("/rounds/").get_data(as_text=True)
    assert '<option value="provincial"' in rounds  # the province's own council
    unit = signed_in(site, SECRETARY)
    assert unit.get("/province/").status_code == 403

    deliver(site.runtimes["book"], inscribe_command(UNIT, deed=book_deed("Cứu người trong đám cháy")))
    press = site.client().get("/press/")  # public: nobody signs in
    text = press.get_data(as_text=True)
    assert press.status_code == 200
    assert 'href="/feeds/CAH-DM.atom"' in text and 'href="/feeds/CAT.rss"' in text and 'href="/honour-roll/"' in text
    assert re.search(r'href="/press/\d{4}-Q\d\.html"', text)
    assert "Cứu người trong đám cháy" not in text  # the page lists feeds, never a deed's private fields
