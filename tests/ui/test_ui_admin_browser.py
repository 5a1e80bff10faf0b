"""The admin's access work in a real browser (UI.md; Debian's Chromium driven by Playwright)
against a live ``sovang up`` with its workers: a program's token revoked with **Thu hồi** on
``/admin/`` stops at intake at once and at council and book within seconds, when intake's
message reaches them (R24); the parked messages of council, one pushed onto the broker without
our key and one genuine message parked after failing, are read on ``/admin/parked/council/``
(never their body), the genuine one sent again with **Gửi lại** and applied by council's worker,
the forged one removed with **Xoá** (R23 records both). axe-core (WCAG 2.1 AA) runs on every
page visited and finds no serious or critical violation. Screenshots go to ``test-artifacts/ui/``.

Skipped (with the reason) when Chromium or Playwright is missing, unless SOVANG_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import hashlib
import types
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from browser_helpers import DESK, PHONE, browser_or_skip, check_page, launched_chromium
from ui_helpers import ORG_FILE, PROVINCE_SECRETARY, SECRETARY

from shared import clock
from shared.celery_app import make_celery
from shared.config import Settings
from shared.consumer import park
from shared.db import Database, utcnow
from shared.messages import TokensRevoked, envelope
from shared.signing import message_keys, sign
from shared.tables import parked_messages
from tests.e2e.harness import System, poll

pytestmark = pytest.mark.slow

ADMIN = PROVINCE_SECRETARY  # SOVANG_ADMINS empty: the province secretary
PASSWORD = "mật khẩu quản trị 2026"
PRIVATE = "Nguyễn Thị Bí Mật"


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    browser_or_skip()
    home = tmp_path_factory.mktemp("ui-admin") / "home"
    s = System(home, {"SOVANG_DATABASE_URL": "", "SOVANG_BROKER_URL": "", "SOVANG_ADMINS": ""})
    s.start()
    try:
        s.cli("org", "load", str(ORG_FILE))
        s.cli("user", "password", "--subject", ADMIN, input=PASSWORD + "\n")
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def browser(system: System) -> Iterator[Any]:
    yield from launched_chromium()


class Desk:
    """The admin's browser: every page it shows is checked with axe-core and photographed."""

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
        page.wait_for_load_state("load")
        self.shots += 1
        check_page(page, step, f"20-admin-{self.shots:02d}-{step}.png")

    def sign_in(self) -> Any:
        page = self.go("/")
        page.get_by_label("Mã cán bộ").fill(ADMIN)
        page.get_by_label("Mật khẩu").fill(PASSWORD)
        page.get_by_role("button", name="Đăng nhập").click()
        return page

    def close(self) -> None:
        self.context.close()


def status(system: System, service: str, token: str) -> int:
    return system.http("GET", f"/api/v1/audit/{service}", token).status


def handle(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:12]


def test_the_admin_revokes_a_token_and_replays_and_drops_parked_messages(system: System, browser: Any) -> None:
    program = system.token("unit_secretary", SECRETARY)  # a unit's own system
    desk = Desk(system, browser)
    page = desk.sign_in()
    page.get_by_role("link", name="Quản trị").first.click()  # the province secretary holds several roles
    assert page.url.endswith("/admin/")
    desk.check("admin")
    assert program not in page.content()
    page.get_by_role("button", name=f"Thu hồi mã {handle(program)} của {SECRETARY}").click()
    assert f"Đã thu hồi 1 mã truy cập của {SECRETARY}" in page.inner_text("[role=status]")
    assert "Không có mã truy cập nào đang có hiệu lực." in page.inner_text("main")
    desk.check("token-revoked")
    assert status(system, "intake", program) == 401  # at once
    for service in ("council", "book"):  # when intake's message arrives
        assert poll(lambda s=service: status(system, s, program), lambda code: code == 401, timeout=60) == 401, \
            system.tail()

    # Council's parked messages: one pushed onto the broker by someone without our key (the
    # worker parks it), one of intake's parked after failing (its cause since fixed).
    settings = Settings(home=system.home)
    later = system.token("unit_secretary", SECRETARY)
    forged = envelope(TokensRevoked(token_hashes=["ab" * 32], role="*", subject=SECRETARY, by="kẻ giả mạo"),
                      clock.isoformat(utcnow()))
    forged["payload"]["beneficiaries"] = PRIVATE
    app = make_celery("intake", settings)
    app.send_task(forged["type"], args=[forged], queue="council", task_id=forged["id"])
    app.close()
    genuine = sign(envelope(TokensRevoked(token_hashes=[hashlib.sha256(later.encode()).hexdigest()],
                                          role="unit_secretary", subject=SECRETARY, by=ADMIN),
                            clock.isoformat(utcnow())), message_keys(settings))
    council = types.SimpleNamespace(db=Database(settings, "council"), service="council")
    try:
        park(council, genuine, "OperationalError('cơ sở dữ liệu đang bảo trì')", 10)

        def parked() -> list[Any]:
            with council.db.reading() as s:
                return s.execute(sa.select(parked_messages.c.message_id, parked_messages.c.envelope)).all()

        rows = poll(parked, lambda r: len(r) == 2, timeout=60)
        assert len(rows) == 2, system.tail()
        forged_id = next(r.message_id for r in rows if r.envelope["id"] == forged["id"])

        desk.go("/admin/")
        page.get_by_role("link", name="Hội đồng").click()
        assert page.url.endswith("/admin/parked/council/")
        assert "2 thư đang bị giữ lại" in page.inner_text("main") and PRIVATE not in page.content()
        desk.check("parked")
        page.get_by_role("button", name=f"Gửi lại thư {genuine['id']}").click()
        assert f"Đã gửi lại thư {genuine['id']}" in page.inner_text("[role=status]")
        desk.check("replayed")
        assert poll(lambda: status(system, "council", later), lambda code: code == 401, timeout=60) == 401
        assert status(system, "intake", later) == 200  # the replayed message was council's alone
        page.get_by_role("button", name=f"Xoá thư {forged_id}").click()
        assert "Không có thư nào bị giữ lại." in page.inner_text("main")
        desk.check("dropped")
        assert parked() == []
    finally:
        council.db.dispose()
    desk.go("/audit/council/")
    lines = page.inner_text("main")
    assert "parked.replayed" in lines and "parked.dropped" in lines and "token.revoked" in lines
    desk.close()

    phone = Desk(system, browser, PHONE)
    phone.sign_in()
    phone.go("/admin/")
    phone.check("admin-phone")
    phone.go("/admin/parked/book/")
    phone.check("parked-phone")
    phone.close()
