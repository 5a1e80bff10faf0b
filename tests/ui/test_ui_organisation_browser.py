"""The admin loads a new organisation in a real browser (UI.md, admin; R25; Debian's Chromium
driven by Playwright) against a live ``sovang up``, whose workers carry the load's messages: from
**Quản trị** to **Nạp tổ chức mới**, a form sent without a file is refused beside the field, then
the 2025 reform (``shared/data/lam-dong-2025.json``) is sent and its page refreshes itself, with
no script, until every service has loaded it. axe-core (WCAG 2.1 AA) runs on every page visited
and finds no serious or critical violation; the pages are read on a 390-pixel phone too, without
sideways scrolling. Screenshots go to ``test-artifacts/ui/``.

Skipped (with the reason) when Chromium or Playwright is missing, unless SOVANG_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from browser_helpers import DESK, PHONE, browser_or_skip, check_page, launched_chromium
from ui_helpers import ORG_FILE, PROVINCE_SECRETARY

from tests.e2e.harness import ROOT, System

pytestmark = pytest.mark.slow

PASSWORD = "mật khẩu quản trị 2026"
REFORM = ROOT / "shared" / "data" / "lam-dong-2025.json"


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    browser_or_skip()
    home = tmp_path_factory.mktemp("ui-organisation") / "home"
    s = System(home, {"SOVANG_DATABASE_URL": "", "SOVANG_BROKER_URL": "", "SOVANG_ADMINS": ""})
    s.start()
    try:
        s.cli("org", "load", str(ORG_FILE))
        # R24: the province secretary is the admin while SOVANG_ADMINS is empty.
        done = subprocess.run([sys.executable, "-m", "sovang.cli", "user", "password", "--subject",
                               PROVINCE_SECRETARY], env=s.env, input=PASSWORD + "\n", capture_output=True, text=True,
                              timeout=180, cwd=ROOT)
        assert done.returncode == 0, done.stderr
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def browser(system: System) -> Iterator[Any]:
    yield from launched_chromium()


class Admin:
    """The admin's browser: every page it shows is checked with axe-core and photographed."""

    def __init__(self, system: System, browser: Any, viewport: dict[str, int]) -> None:
        # axe is injected as the test's own script: the pages' CSP (script-src 'self') would refuse it.
        self.context = browser.new_context(viewport=viewport, locale="vi-VN", bypass_csp=True)
        self.page = self.context.new_page()
        self.system = system
        self.name = "phone" if viewport["width"] <= 400 else "desk"
        self.shots = 0

    def sign_in(self) -> Any:
        page = self.page
        page.goto(self.system.base + "/")
        page.get_by_label("Mã cán bộ").fill(PROVINCE_SECRETARY)
        page.get_by_label("Mật khẩu").fill(PASSWORD)
        page.get_by_role("button", name="Đăng nhập").click()
        page.wait_for_load_state()
        return page

    def check(self, step: str) -> None:
        page = self.page
        self.shots += 1
        check_page(page, step, f"organisation-{self.name}-{self.shots:02d}-{step}.png")


def test_the_admin_loads_the_reform_from_the_browser(system: System, browser: Any) -> None:
    admin = Admin(system, browser, DESK)
    page = admin.sign_in()
    page.get_by_role("navigation", name="Vai trò của bạn").get_by_role("link", name="Quản trị").click()
    page.wait_for_url("**/admin/")
    page.get_by_role("link", name="Nạp tổ chức mới").click()
    page.wait_for_url("**/admin/organisation/")
    assert "Chưa có lần nạp nào" in page.inner_text("main")
    admin.check("form")

    # Sent without a file: the error is beside the field, which says so to assistive technology.
    page.get_by_role("button", name="Nạp tổ chức").click()
    page.wait_for_load_state()
    assert page.inner_text("#file-loi") == "Hãy chọn tệp tổ chức (.json) để nạp."
    assert page.get_by_label("Tệp tổ chức (.json)").get_attribute("aria-invalid") == "true"
    admin.check("no-file")

    page.get_by_label("Tệp tổ chức (.json)").set_input_files(str(REFORM))
    page.get_by_role("button", name="Nạp tổ chức").click()
    page.wait_for_url("**/admin/organisation/*-*")
    where = page.url
    assert "Công an tỉnh Lâm Đồng" in page.inner_text("main")
    # The page refreshes itself (a meta refresh, no script) until every service has answered.
    page.get_by_text("Đã nạp vào mọi dịch vụ.").wait_for(timeout=120_000)
    rows = page.locator("tbody tr")
    assert [rows.nth(i).inner_text().split("\t")[:2] for i in range(rows.count())] == [
        ["Hội đồng (council)", "Đã nạp"], ["Sổ vàng (book)", "Đã nạp"], ["Tiếp nhận (intake)", "Đã nạp"]]
    admin.check("loaded")
    page.get_by_role("link", name="← Nạp tổ chức mới").click()
    assert "lam-dong-2025.json" in page.inner_text("tbody") and "Đã nạp vào mọi dịch vụ" in page.inner_text("tbody")
    admin.check("list")
    admin.context.close()

    # Every service has the new organisation: the merged province's book is open, Đắk Mil's closed.
    books = {b["code"]: b for b in system.http("GET", "/api/v1/books?limit=500").json["items"]}
    assert "CAT-LD" in books and "closed_at" not in books["CAT-LD"] and "closed_at" in books["CAH-DM"]

    phone = Admin(system, browser, PHONE)
    p = phone.sign_in()
    p.goto(system.base + "/admin/organisation/")
    phone.check("phone-list")
    p.goto(where)
    phone.check("phone-loaded")
    phone.context.close()
