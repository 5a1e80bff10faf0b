"""The unit secretary's month in a real browser (UI.md; Debian's Chromium driven by Playwright)
against a live ``sovang up``: signed in, the secretary opens the month's round with **Mở phiên
xét**, follows **Đã bỏ phiếu** as the members vote (a count, never names: R19, R20a), moves the
deadline with **Gia hạn**, closes with **Đóng phiên** and opens **Quyết định công nhận (PDF)**;
then the unit's page, the audit record and the press office's page. axe-core (WCAG 2.1 AA) runs
on every page visited and finds no serious or critical violation; the rounds page is also read
on a 390-pixel phone, without sideways scrolling. Screenshots go to ``test-artifacts/ui/``.

Skipped (with the reason) when Chromium or Playwright is missing, unless SOVANG_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from browser_helpers import DESK, PHONE, browser_or_skip, check_page, launched_chromium
from ui_helpers import MEMBERS, ORG_FILE, SECRETARY

from tests.e2e.harness import ROOT, System

pytestmark = pytest.mark.slow

PASSWORD = "mật khẩu thư ký 2026"
OFFICER, LEAD = "CAH-DM-0010", "CAH-DM-0009"
TZ = dt.timezone(dt.timedelta(hours=7))
TITLE = "Đưa cụ ông lạc đường ở bon Jun Juh về với gia đình trong đêm mưa"


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    browser_or_skip()
    home = tmp_path_factory.mktemp("ui-secretary") / "home"
    s = System(home, {"SOVANG_DATABASE_URL": "", "SOVANG_BROKER_URL": "", "SOVANG_SWEEP_SECONDS": "1"})
    s.start()
    try:
        s.cli("org", "load", str(ORG_FILE))
        # R24: the secretary's password, as an admin sets it (`sovang user password`, stdin's first line).
        done = subprocess.run([sys.executable, "-m", "sovang.cli", "user", "password", "--subject", SECRETARY],
                              env=s.env, input=PASSWORD + "\n", capture_output=True, text=True, timeout=180, cwd=ROOT)
        assert done.returncode == 0, done.stderr
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def browser(system: System) -> Iterator[Any]:
    yield from launched_chromium()


class Desk:
    """The secretary's browser: every page it shows is checked with axe-core and photographed."""

    def __init__(self, system: System, browser: Any, viewport: dict[str, int] = DESK) -> None:
        # axe is injected as the test's own script: the pages' CSP (script-src 'self') would refuse it.
        self.context = browser.new_context(viewport=viewport, locale="vi-VN", bypass_csp=True)
        self.page = self.context.new_page()
        self.system = system
        self.shots = 0

    def go(self, path: str) -> Any:
        self.page.goto(self.system.base + path)
        return self.page

    def check(self, step: str) -> None:
        page = self.page
        self.shots += 1
        check_page(page, step, f"secretary-{self.shots:02d}-{step}.png")


def test_the_secretarys_month(system: System, browser: Any) -> None:
    today = dt.datetime.now(TZ).date()
    month = today.strftime("%Y-%m")
    # The month's deed, recorded and introduced by a unit's own system (tokens, API.md).
    r = system.http("POST", "/api/v1/deeds", system.token("officer", OFFICER), {
        "author": {"officer": OFFICER}, "occurred_on": today.isoformat(), "kind": "good_deed", "relation": "direct",
        "title": TITLE, "description": "Cụ ông người M'Nông đi lạc hai ngày; tổ tuần tra tìm thấy và đưa cụ về nhà.",
    })
    assert r.status == 201, r.body
    deed_id = r.json["id"]
    assert system.http("POST", f"/api/v1/deeds/{deed_id}/introduce", system.token("subunit_lead", LEAD), {}).status == 200

    desk = Desk(system, browser)
    page = desk.go("/")
    page.get_by_label("Mã cán bộ").fill(SECRETARY)
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_load_state()
    # The secretary is an officer too: their roles' pages are in the navigation.
    page.get_by_role("navigation", name="Vai trò của bạn").get_by_role("link", name="Đơn vị").click()
    page.wait_for_url("**/unit/")
    desk.check("unit")

    page.get_by_role("navigation", name="Vai trò của bạn").get_by_role("link", name="Phiên xét").click()
    page.wait_for_url("**/rounds/")
    desk.check("rounds")
    page.get_by_label("Loại phiên").select_option("monthly")
    page.get_by_label("Kỳ").fill(month)
    page.get_by_role("button", name="Mở phiên xét").click()
    page.wait_for_url("**/rounds/*?xong=mo")
    assert "Đã mở phiên xét." in page.inner_text("[role=status]")
    round_url = page.url.split("?")[0]
    round_id = round_url.rsplit("/", 1)[1]
    # The round opens once intake has answered with the month's introductions (R5a).
    for _ in range(60):
        if "Đang mở" in page.inner_text("dl.figures"):
            break
        page.wait_for_timeout(500)
        page.goto(round_url)
    assert TITLE in page.inner_text("main")
    assert page.get_by_text("Đã bỏ phiếu").inner_text() == "Đã bỏ phiếu: 0/7"
    desk.check("round-open")

    voters = system.tokens("council_member", MEMBERS)
    cand = system.http("GET", f"/api/v1/rounds/{round_id}", voters[0]).json["candidates"][0]["id"]
    for token in voters[:3]:
        assert system.http("POST", f"/api/v1/rounds/{round_id}/ballots", token,
                           {"choices": {cand: "approve"}}).status == 201
    page.reload()
    assert page.get_by_text("Đã bỏ phiếu").inner_text() == "Đã bỏ phiếu: 3/7"  # how many, never who (R19, R20a)
    assert not any(m in page.inner_text("main") for m in MEMBERS)

    # Gia hạn: two days later at 17:00, Vietnam time.
    later = (today + dt.timedelta(days=2)).isoformat()
    page.get_by_label("Hạn bỏ phiếu mới").fill(f"{later}T17:00")
    page.get_by_role("button", name="Gia hạn").click()
    page.wait_for_url("**?xong=gia-han")
    assert "Đã gia hạn phiên." in page.inner_text("[role=status]")
    assert page.inner_text("#han") == f"17:00 ngày {later[8:10]}/{later[5:7]}/{later[:4]}"
    desk.check("deadline-moved")

    # Closing early while members have not voted: refused in words beside the button.
    page.get_by_role("button", name="Đóng phiên").click()
    assert "R20" in page.inner_text("#close-loi")
    desk.check("close-refused")

    for token in voters[3:]:
        assert system.http("POST", f"/api/v1/rounds/{round_id}/ballots", token,
                           {"choices": {cand: "approve"}}).status == 201
    page.goto(round_url)
    page.get_by_role("button", name="Đóng phiên").click()
    page.wait_for_url("**?xong=dong")
    assert "Được chọn" in page.inner_text("main")
    desk.check("closed")
    decision = page.get_by_role("link", name="Quyết định công nhận (PDF)")
    pdf = desk.context.request.get(system.base + decision.get_attribute("href"))
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf" and pdf.body().startswith(b"%PDF")
    minutes = desk.context.request.get(system.base + page.get_by_role("link", name="Biên bản kiểm phiếu (PDF)")
                                       .get_attribute("href"))
    assert minutes.status == 200 and minutes.body().startswith(b"%PDF")

    page = desk.go(f"/unit/?month={month}")
    assert page.inner_text("dl.figures").count("1") >= 1
    desk.check("unit-after")
    page.get_by_role("link", name="Hội đồng").click()
    assert "round.closed" in page.inner_text("main")
    desk.check("audit-council")
    desk.go("/unit/revoke/")
    desk.check("revoke")
    desk.go(f"/rounds/{round_id}/paper")
    desk.check("paper")
    desk.go("/press/")
    desk.check("press")
    desk.context.close()

    # The same rounds page on a phone: no sideways scrolling, and axe again.
    phone = Desk(system, browser, PHONE)
    p = phone.go("/")
    p.get_by_label("Mã cán bộ").fill(SECRETARY)
    p.get_by_label("Mật khẩu").fill(PASSWORD)
    p.get_by_role("button", name="Đăng nhập").click()
    p.wait_for_load_state()
    phone.go("/unit/")
    phone.check("phone-unit")
    phone.go("/rounds/")
    phone.check("phone-rounds")
    phone.go(f"/rounds/{round_id}")
    phone.check("phone-round-closed")
    phone.context.close()
