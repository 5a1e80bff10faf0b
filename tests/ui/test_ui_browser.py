"""People do their job in a real browser (UI.md), Debian's Chromium driven by Playwright against a
live ``sovang up``, phones (390 px) for the officer, the lead and the members: the officer records
a deed with a photo (a double press makes one), the lead introduces it, the members vote on their
phones, the round closes and the deed shows as inscribed on the officer's page and the honour
roll; then signing out, a wrong password and the rate limit, an expired session that keeps the
form, and a person signed out everywhere (R24). axe-core runs on every page visited and finds no
serious or critical violation. Screenshots go to ``test-artifacts/ui/``.

Skipped (with the reason) when Chromium or Playwright is missing, unless SOVANG_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
import unicodedata
from collections.abc import Iterator
from typing import Any

import pytest
from browser_helpers import PHONE, browser_or_skip, check_page, launched_chromium
from ui_helpers import MEMBERS, ORG_FILE, PROVINCE_SECRETARY, SECRETARY, UNIT

from services.council.domain.ballots import vote_receipt
from tests.e2e.harness import System, poll

pytestmark = pytest.mark.slow

OFFICER, LEAD = "CAH-DM-0010", "CAH-DM-0009"
PASSWORD = "mật khẩu thử 2026"
TITLE = "Cứu cụ bà H'Lương và cháu nhỏ khỏi đám cháy nhà sàn ở bon Bu Prăng, xã Quảng Trực"
DESCRIPTION = ("Rạng sáng, lửa bén từ bếp củi lan lên mái tranh. Đồng chí phá vách, đưa cụ bà người M'Nông "
               "và đứa cháu ba tuổi ra ngoài, rồi cùng bà con dập tắt đám cháy trước khi lan sang rẫy cà phê.")
TZ = dt.timezone(dt.timedelta(hours=7))
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000002000000020802000000fdd49a73"
    "0000001649444154789c63f8cfc0f09f819181e13f03c3ff0c0c0c00250f05fd4d6e0e1c0000000049454e44ae426082"
)


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    browser_or_skip()
    home = tmp_path_factory.mktemp("ui") / "home"
    s = System(home, {"SOVANG_DATABASE_URL": "", "SOVANG_BROKER_URL": "", "SOVANG_SWEEP_SECONDS": "1",
                      "SOVANG_SIGNIN_FAILURES_PER_SUBJECT": "3", "SOVANG_ADMINS": ""})
    s.start()
    try:
        s.cli("org", "load", str(ORG_FILE))
        for subject in (OFFICER, LEAD, SECRETARY, PROVINCE_SECRETARY, *MEMBERS[:2]):
            s.cli("user", "password", "--subject", subject, input=PASSWORD + "\n")
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def browser(system: System) -> Iterator[Any]:
    yield from launched_chromium()


class Person:
    """One person's browser: a phone or a desk, its own cookies; every page it shows is checked
    with axe-core (WCAG 2.1 AA) and photographed."""

    def __init__(self, system: System, browser: Any, name: str, viewport: dict[str, int] = PHONE) -> None:
        # axe is injected as a script of the test's own: the pages' CSP (script-src 'self') would
        # rightly refuse it.
        self.context = browser.new_context(viewport=viewport, locale="vi-VN", bypass_csp=True)
        self.page = self.context.new_page()
        self.system = system
        self.name = name
        self.shots = 0

    def go(self, path: str) -> Any:
        self.page.goto(self.system.base + path)
        return self.page

    def check(self, step: str) -> None:
        """axe-core on the page as it is now, then a screenshot; and no sideways scrolling on a phone."""
        page = self.page
        page.wait_for_load_state("load")
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") != "rgba(0, 0, 0, 0)", \
            "the stylesheet did not load"
        self.shots += 1
        check_page(page, step, f"{self.name}-{self.shots:02d}-{step}.png", phone_may_scroll="/dashboard/" in page.url)

    def sign_in(self, subject: str, password: str = PASSWORD) -> Any:
        page = self.go("/")
        page.get_by_label("Mã cán bộ").fill(subject)
        page.get_by_label("Mật khẩu").fill(password)
        page.get_by_role("button", name="Đăng nhập").click()
        return page

    def close(self) -> None:
        self.context.close()


@pytest.fixture(scope="module")
def month(system: System, browser: Any) -> dict[str, Any]:
    """The first part of the month: the officer records, the lead introduces (both on phones)."""
    officer = Person(system, browser, "01-officer")
    page = officer.go("/")
    officer.check("sign-in")
    officer.sign_in(OFFICER)
    assert page.url.endswith("/deeds/")
    officer.check("deeds-empty")
    page.get_by_role("link", name="Ghi việc tốt", exact=True).click()
    assert page.url.endswith("/deeds/new")
    officer.check("record-form")
    page.get_by_label("Ngày diễn ra").fill(dt.datetime.now(TZ).date().isoformat())
    page.get_by_label("Loại").select_option("feat")
    page.get_by_label("Trực tiếp / gián tiếp").select_option("direct")
    page.get_by_label("Tên việc tốt").fill(TITLE)
    page.get_by_label("Mô tả").fill(DESCRIPTION)
    page.get_by_label("Địa điểm").fill("bon Bu Prăng, xã Quảng Trực")
    page.get_by_label("Người được giúp (riêng tư)").fill("Cụ bà H'Lương")
    photo = page.get_by_label("Tệp minh chứng")
    assert photo.get_attribute("accept") == "image/*" and photo.get_attribute("capture") is not None
    photo.set_input_files({"name": "anh-hien-truong.png", "mimeType": "image/png", "buffer": PNG})
    page.get_by_role("button", name="Ghi việc tốt").dblclick()  # a double press
    page.wait_for_url(re.compile(r"/deeds/[0-9A-Za-z-]+\?ghi=1$"))
    assert "Đã ghi việc tốt." in page.inner_text("main")
    officer.check("recorded")
    deed_id = page.url.split("/deeds/")[1].split("?")[0]
    evidence = page.get_by_role("link", name=re.compile(r"image.png"))
    assert officer.context.request.get(system.base + evidence.get_attribute("href")).body() == PNG
    officer.go("/deeds/")
    assert page.locator(".deeds li").count() == 1  # one deed for the double press
    officer.check("deeds-one")
    officer.close()

    lead = Person(system, browser, "02-lead")
    page = lead.sign_in(LEAD)
    assert "1 việc tốt chờ giới thiệu" in page.inner_text("main")
    lead.check("start")
    page.locator("main").get_by_role("link", name="Giới thiệu").click()
    assert TITLE in page.inner_text("main")
    lead.check("introduce")
    page.get_by_role("button", name="Giới thiệu").first.click()
    assert "Đã giới thiệu" in page.inner_text("[role=status]")
    assert "Không có việc tốt nào chờ giới thiệu." in page.inner_text("main")
    lead.check("introduced")
    lead.close()

    sec = system.token("unit_secretary", SECRETARY)
    r = system.http("POST", "/api/v1/rounds", sec, {"council": "HD-CAH-DM", "kind": "monthly",
                                                    "period": dt.datetime.now(TZ).strftime("%Y-%m")})
    assert r.status == 201, r.body
    got = poll(lambda: system.http("GET", f"/api/v1/rounds/{r.json['id']}", sec), lambda g: g.json["status"] == "open")
    assert got.json["status"] == "open", got.body
    return {"round": got.json, "deed": deed_id, "secretary": sec}


def test_members_vote_on_their_phones_and_the_deed_is_inscribed(system: System, browser: Any,
                                                              month: dict[str, Any]) -> None:
    rnd = month["round"]
    receipts = []
    for i, member in enumerate(MEMBERS[:2]):
        m = Person(system, browser, f"03-member{i + 1}")
        page = m.sign_in(member)
        assert "Bỏ phiếu" in page.inner_text("nav.roles")  # an officer who sits on the council
        page.locator("main").get_by_role("link", name="Bỏ phiếu").click()
        m.check("rounds")
        page.get_by_role("link", name=re.compile("Phiên xét tháng")).click()
        assert page.get_by_role("heading", name=TITLE).is_visible()
        m.check("round")
        page.get_by_role("button", name="Xem lại phiếu").click()  # nothing chosen
        assert "Phiếu chưa đủ" in page.inner_text("[role=alert]")
        m.check("incomplete")
        page.get_by_label("Tán thành", exact=True).check()
        page.get_by_role("button", name="Xem lại phiếu").click()
        assert page.get_by_role("heading", name="Xem lại phiếu của bạn").is_visible()
        m.check("review")
        page.get_by_role("button", name="Xác nhận bỏ phiếu").click()
        assert page.get_by_role("heading", name="Đã ghi nhận phiếu của bạn").is_visible()
        receipt = page.locator("#bien-nhan").inner_text()
        assert re.fullmatch(r"[0-9a-f]{16}", receipt)
        receipts.append(receipt)
        m.check("receipt")
        m.go(f"/ballot/rounds/{rnd['id']}")
        assert "Bạn đã bỏ phiếu trong phiên này" in page.inner_text("main")
        m.close()
    for member in MEMBERS[2:]:
        r = system.http("POST", f"/api/v1/rounds/{rnd['id']}/ballots", system.token("council_member", member),
                        {"choices": {c["id"]: "approve" for c in rnd["candidates"]}})
        assert r.status == 201, r.body
    result = system.http("POST", f"/api/v1/rounds/{rnd['id']}/close", month["secretary"], {})
    assert result.status == 200, result.body
    published = {b["receipt"] for b in result.json["ballots"]}
    assert all(vote_receipt(r, c["id"]) in published for r in receipts for c in rnd["candidates"])
    poll(lambda: system.http("GET", f"/api/v1/books/{UNIT}/entries").json,
         lambda e: e and any(x["deed"]["id"] == month["deed"] for x in e["items"]))

    officer = Person(system, browser, "04-officer")
    page = officer.sign_in(OFFICER)
    page = officer.go("/deeds/")
    poll(lambda: officer.go("/deeds/").inner_text("main"), lambda t: "trong Sổ vàng CAH-DM" in t)
    text = page.inner_text("main")
    assert "Được công nhận" in text and "Mục 1 trong Sổ vàng CAH-DM" in text and "Giấy chứng nhận (PDF)" in text
    officer.check("inscribed")
    page.get_by_role("link", name=re.compile("Sổ vàng CAH-DM")).first.click()
    shown = page.locator("article.deed h3", has_text="H'Lương").first.inner_text()
    assert shown == TITLE and unicodedata.is_normalized("NFC", shown)
    assert "Cụ bà H'Lương" not in page.content()  # the beneficiaries are private
    # The published pages are pages like every other: the one layout, the person's masthead (UI.md).
    assert "Đăng xuất" in page.inner_text("header.masthead") and "Ghi việc tốt" in page.inner_text("nav.roles")
    officer.check("honour-roll")
    deed = page.locator("article.deed", has_text="H'Lương").first
    certificate = deed.get_by_role("link", name="Giấy chứng nhận (PDF)").get_attribute("href")
    pdf = officer.context.request.get(system.base + certificate)
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf" and pdf.body()[:5] == b"%PDF-"
    deed.get_by_role("link", name="Kiểm tra").click()
    assert "còn hiệu lực" in page.inner_text("#status") and "nguyên vẹn" in page.inner_text("#chain")  # R15b
    officer.check("verify")
    officer.close()
    # And for anyone, signed in or not (R16): the same pages with the public masthead.
    reader = Person(system, browser, "05-reader")
    page = reader.go(f"/honour-roll/{UNIT}/")
    assert TITLE in page.inner_text("main") and "Đăng xuất" not in page.content()
    reader.check("honour-roll")
    page.locator("article.deed", has_text="H'Lương").first.get_by_role("link", name="Kiểm tra").click()
    reader.check("verify")
    reader.go("/honour-roll/")
    reader.check("books")
    reader.close()


def test_signing_out_a_wrong_password_and_the_rate_limit(system: System, browser: Any) -> None:
    p = Person(system, browser, "05-signin")
    page = p.sign_in(MEMBERS[1])
    page.get_by_role("button", name="Đăng xuất").click()
    assert "Bạn đã đăng xuất." in page.inner_text("main")
    p.check("signed-out")
    p.sign_in(MEMBERS[1], "không phải mật khẩu")
    assert "Mã cán bộ hoặc mật khẩu không đúng." in page.inner_text("[role=alert]")
    assert page.get_by_label("Mã cán bộ").input_value() == MEMBERS[1]  # kept
    p.check("wrong-password")
    for _ in range(2):
        p.sign_in(MEMBERS[1], "không phải mật khẩu")
    p.sign_in(MEMBERS[1])  # the right one, too late
    assert "Đăng nhập sai quá nhiều lần" in page.inner_text("[role=alert]")
    p.check("rate-limited")
    p.close()


def _expire(system: System, subject: str) -> None:
    """Time passes: the person's sessions were last used hours ago (SOVANG_SESSION_IDLE_MINUTES)."""
    with sqlite3.connect(system.home / "intake.db") as db:
        db.execute("UPDATE sessions SET last_seen_at = '2020-01-01 00:00:00.000000' WHERE subject = ?", (subject,))


def test_an_expired_session_keeps_the_form_and_sends_it_after_signing_in(system: System, browser: Any) -> None:
    p = Person(system, browser, "06-expired")
    page = p.sign_in(OFFICER)
    p.go("/deeds/new")
    page.get_by_label("Tên việc tốt").fill("Đưa học sinh qua cầu tràn mùa lũ")
    page.get_by_label("Mô tả").fill("Sáng nào cũng đứng ở cầu tràn Đắk Sắk đưa các cháu qua.")
    _expire(system, OFFICER)
    page.get_by_role("button", name="Ghi việc tốt").click()
    assert "Những gì bạn vừa nhập đã được giữ lại" in page.inner_text("main")
    p.check("kept")
    page.get_by_label("Mã cán bộ").fill(OFFICER)
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(re.compile(r"/deeds/[0-9A-Za-z-]+\?ghi=1$"))  # sent again by itself
    assert "Đưa học sinh qua cầu tràn mùa lũ" in page.inner_text("h1")
    p.check("sent-after-sign-in")
    p.close()


def test_a_person_signed_out_everywhere_lands_on_the_sign_in_page(system: System, browser: Any) -> None:
    desk = Person(system, browser, "07-everywhere", {"width": 1280, "height": 900})
    page = desk.sign_in(SECRETARY)
    desk.go("/dashboard/")
    assert page.get_by_role("heading", name=re.compile("Bảng theo dõi việc tốt")).is_visible()
    desk.check("dashboard")
    system.cli("user", "signout", "--subject", SECRETARY)
    desk.go("/dashboard/")
    assert "đăng xuất mọi nơi" in page.inner_text("main")
    assert page.get_by_label("Mã cán bộ").is_visible()
    desk.check("signed-out-everywhere")
    desk.close()


def test_the_province_sees_every_unit_and_runs_access_as_admin(system: System, browser: Any) -> None:
    desk = Person(system, browser, "08-province", {"width": 1280, "height": 900})
    page = desk.sign_in(PROVINCE_SECRETARY)
    month = dt.datetime.now(TZ).strftime("%Y-%m")
    quarter = f"{month[:4]}-Q{(int(month[5:]) - 1) // 3 + 1}"
    desk.go(f"/dashboard/?quarter={quarter}")
    assert page.locator("table.board tbody tr").count() == 15
    desk.check("dashboard")
    desk.go("/admin/")
    desk.check("admin")
    page.get_by_label("Mã cán bộ").fill("CAH-DM-0011")
    page.get_by_label("Mật khẩu mới", exact=True).fill("một mật khẩu đủ dài")
    page.get_by_label("Nhập lại mật khẩu mới").fill("một mật khẩu đủ dài")
    page.get_by_role("button", name="Đặt mật khẩu").click()
    assert "Đã đặt mật khẩu cho CAH-DM-0011" in page.inner_text("[role=status]")
    desk.check("password-set")
    desk.close()




def test_the_province_reads_the_press_release_before_and_after_publication(system: System, browser: Any) -> None:
    """UI.md: /province/ shows the press release before and after publication (R16)."""
    desk = Person(system, browser, "09-press-release", {"width": 1280, "height": 900})
    page = desk.sign_in(PROVINCE_SECRETARY)
    month = dt.datetime.now(TZ).strftime("%Y-%m")
    quarter = f"{month[:4]}-Q{(int(month[5:]) - 1) // 3 + 1}"
    desk.go(f"/province/?quarter={quarter}")
    page.get_by_role("link", name=re.compile("Bản dự thảo – chưa công bố")).click()
    assert page.url.endswith(f"/province/press/{quarter}.html")
    assert "Bản dự thảo – chưa công bố" in page.inner_text("#du-thao") and "Đăng xuất" in page.content()
    desk.check("draft")
    desk.go("/province/")
    page.locator("#thong-cao-da-cong-bo").get_by_role("link", name=re.compile(r"^Thông cáo")).click()
    assert re.search(r"/press/\d{4}-Q\d\.html$", page.url) and "Bản dự thảo" not in page.content()
    desk.check("published")
    desk.close()
