"""R24: signing in through the force's OpenID Connect provider, where one is configured.

A small provider runs in the test on a free port (discovery, JWKS, authorize, token; ID tokens
signed RS256 with joserfc) and the app talks to it over real HTTP: the browser (werkzeug's
client) is sent to the provider's authorize endpoint, the test follows that redirect with
``requests`` as the browser would, and brings the provider's answer back to the callback, which
exchanges the code with the provider itself. The provider checks what a real one checks (the
client's secret, the redirect URI, PKCE's verifier against the challenge, a code used once).
"""

from __future__ import annotations

import datetime as dt
import html
import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
import sqlalchemy as sa

from services.intake.orm import PersonSession
from shared.config import Settings
from shared.db import utcnow
from tests.sessions.oidc_provider import BUTTON, CLIENT_ID, CLIENT_SECRET, UNKNOWN_CODE, Provider, other_key
from tests.sessions.site import LEAD, OFFICER, PASSWORD, SECRETARY, Site, make_site


@pytest.fixture
def provider() -> Iterator[Provider]:
    with Provider() as p:
        yield p


def _oidc_settings(settings: Settings, provider: Provider) -> Settings:
    return settings.with_(oidc_issuer=provider.issuer, oidc_client_id=CLIENT_ID, oidc_client_secret=CLIENT_SECRET)


@pytest.fixture
def oidc_site(sqlite_settings: Settings, org_document: dict, provider: Provider) -> Iterator[Site]:
    s = make_site(_oidc_settings(sqlite_settings, provider), org_document)
    yield s
    s.close()


def _through_provider(c: Any, data: dict[str, str] | None = None, state: str | None = None) -> Any:
    """Press the button, pass the provider's page (real HTTP), come back to the callback."""
    started = c.post("/session/oidc", data=data or {"next": ""})
    assert started.status_code == 303, started.get_data(as_text=True)
    flow_cookie = started.headers["Set-Cookie"]
    assert "HttpOnly" in flow_cookie and "SameSite=Lax" in flow_cookie and "Path=/session/oidc" in flow_cookie
    at_provider = requests.get(started.headers["Location"], allow_redirects=False, timeout=10)
    assert at_provider.status_code == 302, at_provider.text
    back = urlsplit(at_provider.headers["Location"])
    assert back.path == "/session/oidc/callback"
    query = back.query
    if state is not None:
        query = urlencode({**{k: v[0] for k, v in parse_qs(query).items()}, "state": state})
    return c.get(f"{back.path}?{query}")


def _session_cookie(resp: Any) -> str | None:
    return next((h for h in resp.headers.getlist("Set-Cookie") if h.startswith("sovang_session=")), None)


def _sessions(site: Site) -> int:
    with site.runtimes["intake"].db.reading() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(PersonSession))


def _moves_on_to(resp: Any) -> str:
    return re.search(r'<meta http-equiv="refresh" content="0; url=([^"]+)">', resp.get_data(as_text=True)).group(1)


def test_r24_an_officer_signs_in_through_the_forces_provider_and_gets_a_working_session(
        oidc_site: Site, provider: Provider) -> None:
    c = oidc_site.client()
    signin = c.get("/")
    text = signin.get_data(as_text=True)
    assert f">{BUTTON}</button>" in text and 'action="/session/oidc"' in text
    assert ">Mã cán bộ</label>" in text and ">Mật khẩu</label>" in text  # passwords stay
    # The button posts here and is sent on to the provider: the page lets the form go there.
    assert f"form-action 'self' {provider.issuer}" in signin.headers["Content-Security-Policy"]

    done = _through_provider(c)
    assert done.status_code == 200, done.get_data(as_text=True)
    assert _moves_on_to(done) == "/deeds/"  # the officer's start page
    cookie = _session_cookie(done)
    assert cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert any(h.startswith("sovang_oidc=;") for h in done.headers.getlist("Set-Cookie"))  # the flow is over
    # The provider was asked as a real client asks: a PKCE verifier, the same redirect URI.
    assert provider.token_requests[-1]["code_verifier"] and provider.codes == {}

    deeds = c.get("/deeds/")
    assert deeds.status_code == 200 and ">Đăng xuất</button>" in deeds.get_data(as_text=True)
    me = c.get("/api/v1/session").get_json()
    assert me["subject"] == OFFICER and me["roles"] == ["officer"]
    # The same CSRF rule as a password's session: a change without the token is refused.
    assert c.delete("/api/v1/session").status_code == 403
    assert c.delete("/api/v1/session", headers={"X-CSRF-Token": me["csrf_token"]}).status_code == 204
    assert c.get("/api/v1/session").status_code == 401

    # R23: the sign-in is in intake's audit record, saying how.
    secretary = oidc_site.sign_in(SECRETARY)
    lines = [x for x in secretary.get("/api/v1/audit/intake").get_json()["items"] if x["action"] == "session.signed_in"]
    assert [(x["object"], x["details"]["method"]) for x in lines] == [(OFFICER, "oidc"), (SECRETARY, "password")]


def test_r24_the_page_asked_for_comes_after_signing_in_through_the_provider(oidc_site: Site, provider: Provider) -> None:
    provider.person = {"sub": "u-0009", "preferred_username": LEAD}
    c = oidc_site.client()
    assert c.get("/introduce/").headers["Location"] == "/?next=/introduce/"
    page = c.get("/?next=/introduce/").get_data(as_text=True)
    assert 'name="next" value="/introduce/"' in page.split('action="/session/oidc"')[1]
    done = _through_provider(c, {"next": "/introduce/"})
    assert _moves_on_to(done) == "/introduce/"
    assert c.get("/introduce/").status_code == 200


def test_r24_a_session_from_the_provider_ends_after_inactivity_as_any_other(oidc_site: Site) -> None:
    c = oidc_site.client()
    assert _through_provider(c).status_code == 200
    with oidc_site.runtimes["intake"].db.unit_of_work() as uow:
        uow.session.execute(sa.update(PersonSession).values(last_seen_at=utcnow() - dt.timedelta(hours=2)))
        uow.commit()
    assert c.get("/deeds/").status_code == 303
    assert "Phiên làm việc đã hết hạn vì lâu không thao tác" in c.get("/").get_data(as_text=True)


def test_a_form_kept_across_an_expired_session_is_sent_after_signing_in_through_the_provider(
        oidc_site: Site) -> None:
    c = oidc_site.sign_in_page(OFFICER)
    form = c.get("/deeds/new").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    with oidc_site.runtimes["intake"].db.unit_of_work() as uow:
        uow.session.execute(sa.update(PersonSession).values(last_seen_at=utcnow() - dt.timedelta(hours=2)))
        uow.commit()
    expired = c.post("/deeds/new", data={"csrf_token": csrf, "title": "Sửa cầu tre cho học sinh", "kind": "good_deed"})
    page = expired.get_data(as_text=True)
    assert expired.status_code == 401 and f">{BUTTON}</button>" in page
    oidc_form = page.split('action="/session/oidc"')[1]
    kept = html.unescape(re.search(r'name="kept" value="([^"]*)"', oidc_form).group(1))
    done = _through_provider(c, {"next": "/deeds/new", "kept": kept})
    resend = done.get_data(as_text=True)
    assert done.status_code == 200 and "data-resend" in resend and 'action="/deeds/new"' in resend
    assert 'name="title" value="Sửa cầu tre cho học sinh"' in resend


@pytest.mark.parametrize(("tamper", "status", "sentence"), [
    ({"nonce": "một-nonce-khác"}, 401, "mã xác thực không thuộc lần đăng nhập này"),
    ({"aud": "ung-dung-khac"}, 401, "mã xác thực không cấp cho Sổ vàng"),
    ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, 401, "mã xác thực đã hết hạn"),
    ({"key": "other"}, 401, "chữ ký không đúng với khoá của hệ thống tài khoản ngành"),
    ({"iss": "http://kẻ-giả-mạo.example"}, 401, "mã xác thực không do hệ thống tài khoản ngành đã cấu hình cấp"),
    ({"preferred_username": UNKNOWN_CODE}, 401,
     f"Tài khoản ngành {UNKNOWN_CODE} không ứng với cán bộ nào trong tổ chức đã nạp"),
    ({"preferred_username": None}, 401, "Tài khoản ngành không cho biết mã cán bộ (trường “preferred_username”)"),
], ids=["wrong-nonce", "wrong-audience", "expired", "bad-signature", "wrong-issuer", "unknown-officer", "no-claim"])
def test_r24_an_id_token_refused_ends_on_the_sign_in_page_saying_why_with_no_session(
        oidc_site: Site, provider: Provider, tamper: dict[str, Any], status: int, sentence: str) -> None:
    provider.tamper = {k: (other_key() if k == "key" else v) for k, v in tamper.items()}
    c = oidc_site.client()
    resp = _through_provider(c)
    text = resp.get_data(as_text=True)
    assert resp.status_code == status and sentence in text, text
    assert ">Mã cán bộ</label>" in text and f">{BUTTON}</button>" in text  # the sign-in page, to try again
    assert _session_cookie(resp) is None and _sessions(oidc_site) == 0
    assert c.get("/api/v1/session").status_code == 401


def test_r24_a_state_that_is_not_this_browsers_ends_on_the_sign_in_page(oidc_site: Site, provider: Provider) -> None:
    c = oidc_site.client()
    resp = _through_provider(c, state="trạng-thái-của-kẻ-khác")
    assert resp.status_code == 400 and "không khớp hoặc đã quá hạn" in resp.get_data(as_text=True)
    assert _session_cookie(resp) is None and _sessions(oidc_site) == 0
    assert provider.token_requests == []  # the code was never exchanged
    # A callback with no flow of this browser at all (another browser's link) is refused alike.
    other = oidc_site.client("10.0.0.2").get("/session/oidc/callback?code=x&state=y")
    assert other.status_code == 400 and "không khớp hoặc đã quá hạn" in other.get_data(as_text=True)


@pytest.mark.parametrize(("error", "sentence"), [
    ("access_denied", "Bạn đã huỷ hoặc bị từ chối đăng nhập ở trang tài khoản ngành."),
    ("server_error", "Hệ thống tài khoản ngành báo lỗi (server_error); bạn chưa được đăng nhập."),
])
def test_r24_an_error_from_the_provider_ends_on_the_sign_in_page_saying_why(
        oidc_site: Site, provider: Provider, error: str, sentence: str) -> None:
    provider.error = error
    c = oidc_site.client()
    resp = _through_provider(c)
    assert resp.status_code == 400 and sentence in resp.get_data(as_text=True)
    assert _session_cookie(resp) is None and _sessions(oidc_site) == 0


def test_r24_a_provider_out_of_reach_is_said_on_the_sign_in_page_never_a_500(
        sqlite_settings: Settings, org_document: dict, request: pytest.FixtureRequest) -> None:
    with Provider() as gone:
        issuer = gone.issuer
    # Nothing listens there any more.
    site = make_site(sqlite_settings.with_(oidc_issuer=issuer, oidc_client_id=CLIENT_ID,
                                           oidc_client_secret=CLIENT_SECRET), org_document)
    request.addfinalizer(site.close)
    resp = site.client().post("/session/oidc", data={"next": ""})
    assert resp.status_code == 502
    assert "Không liên lạc được với hệ thống tài khoản ngành" in resp.get_data(as_text=True)


def test_r24_the_sign_in_limits_hold_through_the_provider(sqlite_settings: Settings, org_document: dict,
                                                          provider: Provider, request: pytest.FixtureRequest) -> None:
    settings = _oidc_settings(sqlite_settings, provider).with_(signin_failures_per_address=2)
    site = make_site(settings, org_document)
    request.addfinalizer(site.close)
    c = site.client("10.0.0.9")
    provider.person = {"sub": "x", "preferred_username": UNKNOWN_CODE}
    assert _through_provider(c).status_code == 401
    provider.tamper = {"aud": "ung-dung-khac"}
    assert _through_provider(c).status_code == 401
    provider.tamper, provider.person = {}, {"sub": "u-0010", "preferred_username": OFFICER}
    blocked = _through_provider(c)
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    assert "Đăng nhập sai quá nhiều lần" in blocked.get_data(as_text=True) and _sessions(site) == 0
    # The password form counts the same failures from that address.
    assert c.post("/", data={"subject": OFFICER, "password": PASSWORD}).status_code == 429
    # And wrong passwords for a person hold their sign-in through the provider too.
    for i in range(settings.signin_failures_per_subject):  # from as many addresses: the subject's limit
        assert site.client(f"10.0.1.{i + 10}").post("/", data={"subject": LEAD, "password": "sai rồi"}).status_code == 401
    provider.person = {"sub": "u-0009", "preferred_username": LEAD}
    assert _through_provider(site.client("10.0.1.2")).status_code == 429


def test_r24_with_the_setting_off_there_is_no_button_and_no_callback(site: Site) -> None:
    c = site.client()
    signin = c.get("/")
    assert BUTTON not in signin.get_data(as_text=True)
    assert signin.headers["Content-Security-Policy"].endswith("form-action 'self'")
    assert c.post("/session/oidc", data={"next": ""}).status_code == 404
    assert c.get("/session/oidc/callback?code=x&state=y").status_code == 404
    assert site.sign_in_page(OFFICER).get("/deeds/").status_code == 200  # passwords as ever


def test_the_oidc_settings_are_read_with_the_secret_from_a_file(tmp_path: Any) -> None:
    secret = tmp_path / "oidc-secret"
    secret.write_text("bí-mật\n", "utf-8")
    s = Settings.from_env({"SOVANG_OIDC_ISSUER": "https://sso.example.vn/realms/ca", "SOVANG_OIDC_CLIENT_ID": "so-vang",
                           "SOVANG_OIDC_CLIENT_SECRET_FILE": str(secret), "SOVANG_OIDC_SUBJECT_CLAIM": "ma_can_bo"})
    assert s.oidc and s.oidc_client_secret == "bí-mật" and s.oidc_subject_claim == "ma_can_bo"
    assert "bí-mật" not in repr(s)
    off = Settings.from_env({"SOVANG_OIDC_ISSUER": "https://sso.example.vn/realms/ca"})
    assert not off.oidc and off.oidc_subject_claim == "preferred_username"
