"""R24 in Chromium: an officer signs in on a phone through the force's OpenID Connect provider.

What only a real browser shows: the sign-in page's button posts to this origin, which sends the
browser on to the provider (the page's ``form-action`` must allow it); the provider, on another
site (``localhost`` against the app's ``127.0.0.1``), sends it back, and the person must arrive
signed in although the session cookie is ``SameSite=Strict``. The pages keep their CSP here (no
``bypass_csp``) except where axe-core is injected. Screenshots go to ``test-artifacts/ui/``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from browser_helpers import PHONE, SHOTS, check_page, launched_chromium
from werkzeug.serving import make_server

from shared.config import Settings
from tests.sessions.oidc_provider import BUTTON, CLIENT_ID, CLIENT_SECRET, Provider
from tests.sessions.site import LEAD, make_site


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launched_chromium()


@pytest.fixture
def provider() -> Iterator[Provider]:
    with Provider(host="localhost") as p:
        yield p


@pytest.fixture
def origin(tmp_path: Any, org_document: dict, provider: Provider) -> Iterator[str]:
    """The three services behind the dispatcher, served over HTTP on 127.0.0.1."""
    settings = Settings(home=tmp_path / "home").with_(
        oidc_issuer=provider.issuer, oidc_client_id=CLIENT_ID, oidc_client_secret=CLIENT_SECRET)
    site = make_site(settings, org_document)
    server = make_server("127.0.0.1", 0, site.gateway, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)
        site.close()


def _axe(page: Any, step: str) -> None:
    check_page(page, step, f"oidc-{step}.png")


def test_r24_a_lead_signs_in_through_the_forces_provider_on_a_phone(
        browser: Any, origin: str, provider: Provider) -> None:
    provider.person = {"sub": "u-0009", "preferred_username": LEAD}
    # axe-core first, in a context that lets the test's own script in.
    checked = browser.new_context(viewport=PHONE, locale="vi-VN", bypass_csp=True)
    page = checked.new_page()
    page.goto(origin + "/")
    _axe(page, "01-sign-in")
    provider.error = "access_denied"
    page.get_by_role("button", name=BUTTON).click()
    page.wait_for_load_state("load")
    assert "Bạn đã huỷ hoặc bị từ chối đăng nhập ở trang tài khoản ngành." in page.content()
    _axe(page, "02-refused")
    checked.close()

    # The real thing: the pages' own CSP, the provider on another site.
    provider.error = None
    provider.interactive = True  # the person confirms on the provider's own page: its site sends them back
    phone = browser.new_context(viewport=PHONE, locale="vi-VN")
    page = phone.new_page()
    page.goto(origin + "/introduce/")  # asked for before signing in: shown after
    assert page.url.startswith(origin + "/?next=")
    page.get_by_label("Mã cán bộ").wait_for()  # the password form stays beside the button
    page.get_by_role("button", name=BUTTON).click()
    page.get_by_role("button", name="Xác nhận đăng nhập").click()
    page.wait_for_url(origin + "/introduce/")
    assert page.get_by_role("button", name="Đăng xuất").is_visible()
    page.screenshot(path=str(SHOTS / "oidc-03-signed-in.png"), full_page=True)
    cookie = next(c for c in phone.cookies() if c["name"] == "sovang_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert not [c for c in phone.cookies() if c["name"] == "sovang_oidc"]  # the flow is over
    page.get_by_role("button", name="Đăng xuất").click()
    page.wait_for_load_state("load")
    assert "Bạn đã đăng xuất." in page.content()
    phone.close()
