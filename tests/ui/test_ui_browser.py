"""The pages for people in a real browser (Debian's Chromium, headless, driven by Playwright)
against a live ``sovang up``: a council member signs in, reads the deed and opens its evidence,
votes, confirms and gets a receipt; a second attempt is refused in words; once the round closes,
the honour roll shows the deed with its exact diacritics; the province's dashboard draws its
chart. Screenshots go to ``test-artifacts/ui/``.

Skipped (with the reason) when Chromium or Playwright is missing, unless SOVANG_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ui_helpers import ARTIFACTS, MEMBERS, ORG_FILE, SECRETARY, UNIT

from services.council.domain.ballots import vote_receipt
from tests.e2e.harness import System, poll

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("SOVANG_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
REQUIRE = os.environ.get("SOVANG_REQUIRE_SERVICES", "").lower() in {"1", "true", "yes"}
SHOTS = ARTIFACTS / "ui"
TITLE = "Cứu cụ bà H'Lương và cháu nhỏ khỏi đám cháy nhà sàn ở bon Bu Prăng, xã Quảng Trực"
DESCRIPTION = ("Rạng sáng, lửa bén từ bếp củi lan lên mái tranh. Đồng chí phá vách, đưa cụ bà người M'Nông "
               "và đứa cháu ba tuổi ra ngoài, rồi cùng bà con dập tắt đám cháy trước khi lan sang rẫy cà phê.")
TZ = dt.timezone(dt.timedelta(hours=7))
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000002000000020802000000fdd49a73"
    "0000001649444154789c63f8cfc0f09f819181e13f03c3ff0c0c0c00250f05fd4d6e0e1c0000000049454e44ae426082"
)


def _browser_or_skip() -> Any:
    reason = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "Playwright for Python is not installed (pip install playwright; never `playwright install`)"
    if reason is None and not (Path(CHROMIUM).exists() and shutil.which(CHROMIUM)):
        reason = f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)"
    if reason:
        if REQUIRE:
            pytest.fail(f"{reason}; SOVANG_REQUIRE_SERVICES=1 requires it", pytrace=False)
        pytest.skip(reason)
    return sync_playwright


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    _browser_or_skip()
    home = tmp_path_factory.mktemp("ui") / "home"
    s = System(home, {"SOVANG_DATABASE_URL": "", "SOVANG_BROKER_URL": "", "SOVANG_SWEEP_SECONDS": "1"})
    s.start()
    try:
        s.cli("org", "load", str(ORG_FILE))
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def browser(system: System) -> Iterator[Any]:
    sync_playwright = _browser_or_skip()
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def upload(system: System, token: str, deed_id: str) -> dict[str, Any]:
    """POST an evidence file as multipart (what a unit's own system would send)."""
    import json
    import urllib.request

    boundary = "sovang-ui-test"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"anh.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + PNG + f"\r\n--{boundary}--\r\n".encode()
    req = urllib.request.Request(f"{system.base}/api/v1/deeds/{deed_id}/evidence", data=body, method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": f"multipart/form-data; boundary={boundary}"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(req, timeout=30) as f:
        assert f.status == 201
        return json.loads(f.read())


@pytest.fixture(scope="module")
def open_round(system: System) -> dict[str, Any]:
    """A deed of Đắk Mil with evidence, introduced, in an open monthly round of HD-CAH-DM."""
    officer, lead = "CAH-DM-0010", "CAH-DM-0009"
    x = system.token("officer", officer)
    today = dt.datetime.now(TZ).date()
    r = system.http("POST", "/api/v1/deeds", x, {
        "author": {"officer": officer}, "occurred_on": today.isoformat(), "kind": "feat", "relation": "direct",
        "title": TITLE, "description": DESCRIPTION, "place": "bon Bu Prăng, xã Quảng Trực",
        "beneficiaries": "Cụ bà H'Lương",
    })
    assert r.status == 201, r.body
    deed = r.json
    evidence = upload(system, x, deed["id"])
    assert system.http("POST", f"/api/v1/deeds/{deed['id']}/introduce", system.token("subunit_lead", lead), {}).status == 200
    sec = system.token("unit_secretary", SECRETARY)
    r = system.http("POST", "/api/v1/rounds", sec, {"council": "HD-CAH-DM", "kind": "monthly",
                                                    "period": today.strftime("%Y-%m")})
    assert r.status == 201, r.body
    rid = r.json["id"]
    got = poll(lambda: system.http("GET", f"/api/v1/rounds/{rid}", sec), lambda g: g.json["status"] == "open")
    assert got.json["status"] == "open", got.body
    return {"round": got.json, "deed": deed, "evidence": evidence, "secretary": sec}


def test_a_member_votes_through_the_page_and_cannot_vote_twice(system: System, browser: Any,
                                                               open_round: dict[str, Any]) -> None:
    rnd, deed = open_round["round"], open_round["deed"]
    token = system.token("council_member", MEMBERS[0])
    context = browser.new_context(viewport={"width": 1100, "height": 900}, locale="vi-VN")
    page = context.new_page()
    page.goto(f"{system.base}/ballot/")
    assert page.locator("label[for=token]").inner_text() == "Mã xác thực"
    shot(page, "01-ballot-sign-in")
    page.fill("#token", token)
    page.press("#token", "Enter")  # the keyboard is enough
    page.get_by_role("link", name=re.compile("Phiên xét tháng")).click()
    assert page.get_by_role("heading", name=TITLE).is_visible()
    assert DESCRIPTION in page.inner_text("main")

    # The evidence opens from the page, fetched with the member's own token.
    with page.expect_popup() as popup:
        page.get_by_role("link", name=re.compile("Tệp 1")).click()
    assert popup.value.url.startswith("blob:")
    popup.value.close()
    shot(page, "02-ballot-round")

    # Nothing chosen: the form says what is missing and casts nothing.
    page.get_by_role("button", name="Xem lại phiếu").click()
    assert "Phiếu chưa đủ" in page.inner_text("[role=alert]")
    shot(page, "03-ballot-incomplete")

    page.get_by_label("Tán thành", exact=True).check()
    page.get_by_role("button", name="Xem lại phiếu").click()
    assert page.get_by_role("heading", name="Xem lại phiếu của bạn").is_visible()
    assert "Tán thành" in page.inner_text("table.review")
    shot(page, "04-ballot-confirm")

    # A second tab holds the same confirmation: the double submission a member could make.
    twin = context.new_page()
    twin.goto(f"{system.base}/ballot/rounds/{rnd['id']}")
    twin.get_by_label("Tán thành", exact=True).check()
    twin.get_by_role("button", name="Xem lại phiếu").click()

    page.get_by_role("button", name="Xác nhận bỏ phiếu").click()
    assert page.get_by_role("heading", name="Đã ghi nhận phiếu của bạn").is_visible()
    receipt = page.locator("#bien-nhan").inner_text()
    assert re.fullmatch(r"[0-9a-f]{16}", receipt)
    shot(page, "05-ballot-receipt")

    twin.get_by_role("button", name="Xác nhận bỏ phiếu").click()
    refusal = twin.inner_text("[role=alert]")
    assert "Bạn đã bỏ phiếu trong phiên này" in refusal and "cuối cùng" in refusal
    shot(twin, "06-ballot-second-attempt-refused")
    page.goto(f"{system.base}/ballot/rounds/{rnd['id']}")
    assert "Bạn đã bỏ phiếu trong phiên này" in page.inner_text("main")
    assert page.locator("input[type=radio]").count() == 0
    context.close()

    # The others vote through the API, the secretary closes; the receipt is in the published list.
    for member in MEMBERS[1:]:
        r = system.http("POST", f"/api/v1/rounds/{rnd['id']}/ballots", system.token("council_member", member),
                        {"choices": {c["id"]: "approve" for c in rnd["candidates"]}})
        assert r.status == 201, r.body
    result = system.http("POST", f"/api/v1/rounds/{rnd['id']}/close", open_round["secretary"], {})
    assert result.status == 200, result.body
    # R19: published vote by vote, each under a receipt derived from the member's.
    published = {b["receipt"] for b in result.json["ballots"]}
    assert all(vote_receipt(receipt, c["id"]) in published for c in rnd["candidates"])
    entries = poll(lambda: system.http("GET", f"/api/v1/books/{UNIT}/entries").json,
                   lambda e: e and any(x["deed"]["id"] == deed["id"] for x in e["items"]))
    assert any(x["deed"]["id"] == deed["id"] for x in entries["items"])


def test_the_honour_roll_shows_the_inscribed_deed_with_exact_diacritics(
        system: System, browser: Any, open_round: dict[str, Any]) -> None:
    if not any(e["deed"]["id"] == open_round["deed"]["id"]
               for e in system.http("GET", f"/api/v1/books/{UNIT}/entries").json["items"]):
        pytest.skip("the ballot test did not inscribe the deed")
    page = browser.new_page(viewport={"width": 412, "height": 915})  # a phone
    page.goto(f"{system.base}/honour-roll/{UNIT}/")
    heading = page.locator("article.deed h3", has_text="H'Lương").first
    shown = heading.inner_text()
    assert shown == TITLE
    assert unicodedata.is_normalized("NFC", shown)
    assert "bon Bu Prăng" in page.inner_text("article.deed") and "Cụ bà H'Lương" not in page.content()
    shot(page, "07-honour-roll-phone")
    page.close()


def test_the_dashboard_draws_every_unit(system: System, browser: Any, open_round: dict[str, Any]) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    month = dt.datetime.now(TZ).strftime("%Y-%m")
    quarter = f"{month[:4]}-Q{(int(month[5:]) - 1) // 3 + 1}"
    page.goto(f"{system.base}/dashboard/?quarter={quarter}")
    page.fill("#token", system.token("province_secretary", "CAT-0012"))
    page.get_by_role("button", name="Đăng nhập").click()
    assert page.get_by_role("heading", name=re.compile("Bảng theo dõi việc tốt")).is_visible()
    assert page.locator("svg[role=img] title").first.text_content().startswith("Việc tốt từng tháng")
    assert page.locator("table.board tbody tr").count() == 15
    assert "Công an huyện Đắk Mil" in page.inner_text("table.board")
    shot(page, "08-dashboard")
    page.close()
