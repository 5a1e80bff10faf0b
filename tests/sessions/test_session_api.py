"""R24 through the one origin (the embedded dispatcher): people sign in with their officer code
and a password, the session works in all three services, needs its CSRF token to change
anything, and stops working everywhere at once when it ends."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from services.intake import people
from services.intake.orm import PersonSession
from shared.db import utcnow
from shared.sessions import COOKIE, HEADER, Person, session_key, sign
from tests.sessions.site import LEAD, MEMBER, OFFICER, PASSWORD, SECRETARY, Site, make_site


def _cookie_header(resp) -> str:  # noqa: ANN001
    return next(v for k, v in resp.headers.items() if k == "Set-Cookie" and v.startswith(COOKIE + "="))


def _csrf(client) -> str:  # noqa: ANN001
    return client.get("/api/v1/session").get_json()["csrf_token"]


def test_sign_in_sets_an_httponly_strict_cookie_holding_only_a_random_id(site: Site) -> None:
    c = site.client()
    resp = c.post("/api/v1/session", json={"subject": OFFICER, "password": PASSWORD})
    assert resp.status_code == 204
    cookie = _cookie_header(resp)
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http, no trusted proxy
    value = cookie.split(";", 1)[0].split("=", 1)[1]
    assert OFFICER not in value and len(value) >= 40
    me = c.get("/api/v1/session").get_json()
    assert me["subject"] == OFFICER and me["roles"] == ["officer"] and me["role"] == "officer"
    assert len(me["csrf_token"]) >= 40


def test_the_cookie_is_secure_behind_tls_when_the_proxy_is_trusted(sqlite_settings, org_document, request) -> None:  # noqa: ANN001
    site = make_site(sqlite_settings.with_(trusted_proxies=1), org_document)
    request.addfinalizer(site.close)
    resp = site.client().post("/api/v1/session", json={"subject": OFFICER, "password": PASSWORD},
                              headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"})
    assert resp.status_code == 204
    assert "Secure" in _cookie_header(resp)


def test_a_wrong_password_and_an_unknown_subject_get_the_same_401(site: Site) -> None:
    c = site.client()
    wrong = c.post("/api/v1/session", json={"subject": OFFICER, "password": "không-phải-nó"})
    unknown = c.post("/api/v1/session", json={"subject": "CAH-XX-9999", "password": "không-phải-nó"})
    no_password = c.post("/api/v1/session", json={"subject": "CAH-DM-0011", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == no_password.status_code == 401
    assert wrong.get_json() == unknown.get_json() == no_password.get_json()
    assert wrong.headers["Content-Type"] == "application/problem+json"
    assert COOKIE not in (wrong.headers.get("Set-Cookie") or "")


def test_invalid_sign_in_fields_are_422_per_field(site: Site) -> None:
    c = site.client()
    resp = c.post("/api/v1/session", json={"subject": "CAH\x00DM", "password": ""})
    assert resp.status_code == 422
    errors = resp.get_json()["errors"]
    assert set(errors) == {"subject", "password"}
    assert c.post("/api/v1/session", data="{", content_type="application/json").status_code == 400


def test_repeated_failures_are_429_per_subject_even_with_the_right_password(site: Site) -> None:
    limit = site.settings.signin_failures_per_subject
    for i in range(limit):
        assert site.client(f"10.0.1.{i}").post(
            "/api/v1/session", json={"subject": OFFICER, "password": "sai"}).status_code == 401
    blocked = site.client("10.0.2.1").post("/api/v1/session", json={"subject": OFFICER, "password": PASSWORD})
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    # Another person is not held back by it.
    assert site.client("10.0.2.1").post(
        "/api/v1/session", json={"subject": LEAD, "password": PASSWORD}).status_code == 204


def test_repeated_failures_are_429_per_address(sqlite_settings, org_document, request) -> None:  # noqa: ANN001
    site = make_site(sqlite_settings.with_(signin_failures_per_address=3), org_document)
    request.addfinalizer(site.close)
    c = site.client("198.51.100.7")
    for subject in ("CAH-DM-0011", "CAH-DM-0012", "CAH-DM-0013"):
        assert c.post("/api/v1/session", json={"subject": subject, "password": "sai"}).status_code == 401
    assert c.post("/api/v1/session", json={"subject": OFFICER, "password": PASSWORD}).status_code == 429
    assert site.client("198.51.100.8").post(
        "/api/v1/session", json={"subject": OFFICER, "password": PASSWORD}).status_code == 204


def test_a_session_works_in_every_service_and_needs_its_csrf_token_to_change_anything(site: Site) -> None:
    secretary = site.sign_in(SECRETARY)
    assert secretary.get("/api/v1/deeds?limit=5").status_code == 200          # intake
    assert secretary.get("/api/v1/audit/council").status_code in (200, 404)    # not every service has it yet
    month = dt.date.today().strftime("%Y-%m")
    body = {"council": "HD-CAH-DM", "kind": "monthly", "period": month}
    forged = secretary.post("/api/v1/rounds", json=body)                         # council, no token
    assert forged.status_code == 403
    assert "CSRF" in forged.get_json()["detail"]
    opened = secretary.post("/api/v1/rounds", json=body, headers={"X-CSRF-Token": _csrf(secretary)})
    assert opened.status_code == 201, opened.get_data(as_text=True)
    # A bearer token needs no CSRF token: programs keep working as before.
    assert site.client().get("/api/v1/rounds/" + opened.get_json()["id"]).status_code == 401


def test_a_person_with_several_roles_acts_with_the_one_each_request_needs(site: Site) -> None:
    lead = site.sign_in(LEAD)
    me = lead.get("/api/v1/session").get_json()
    assert me["roles"] == ["officer", "subunit_lead"] and me["role"] == "officer"
    member = site.sign_in(MEMBER)
    assert member.get("/api/v1/session").get_json()["roles"] == ["officer", "council_member"]
    # The default role changes without signing in again.
    switched = lead.post("/api/v1/session/role", json={"role": "subunit_lead"}, headers={"X-CSRF-Token": _csrf(lead)})
    assert switched.status_code == 200 and switched.get_json()["role"] == "subunit_lead"
    assert lead.get("/api/v1/session").get_json()["role"] == "subunit_lead"
    refused = lead.post("/api/v1/session/role", json={"role": "admin"}, headers={"X-CSRF-Token": _csrf(lead)})
    assert refused.status_code == 422


def test_signing_out_ends_the_session_in_every_service(site: Site) -> None:
    c = site.sign_in(SECRETARY)
    csrf = _csrf(c)
    assert c.delete("/api/v1/session").status_code == 403  # without its CSRF token
    assert c.get("/api/v1/deeds?limit=1").status_code == 200
    resp = c.delete("/api/v1/session", headers={"X-CSRF-Token": csrf})
    assert resp.status_code == 204
    assert c.get("/api/v1/session").status_code == 401


def test_signed_out_everywhere_stops_every_browser_at_the_next_request(site: Site) -> None:
    phone, desk = site.sign_in(SECRETARY, address="10.0.0.2"), site.sign_in(SECRETARY, address="10.0.0.3")
    raw_cookie = phone.get_cookie(COOKIE).value
    assert phone.get("/api/v1/deeds?limit=1").status_code == 200
    assert site.runtimes["intake"].run(people.sign_out_everywhere, "cli", SECRETARY) == 2
    for c in (phone, desk):
        assert c.get("/api/v1/deeds?limit=1").status_code == 401      # intake
        assert c.get("/api/v1/rounds/x").status_code == 401            # council, through the edge
    assert site.runtimes["intake"].run(people.why_ended, raw_cookie) == people.ENDED["everywhere"]


def test_a_session_idle_too_long_has_expired(site: Site) -> None:
    c = site.sign_in(OFFICER)
    raw = c.get_cookie(COOKIE).value
    idle = dt.timedelta(minutes=site.settings.session_idle_minutes + 1)
    with site.runtimes["intake"].db.unit_of_work() as uow:
        uow.session.execute(sa.update(PersonSession).values(last_seen_at=utcnow() - idle))
        uow.commit()
    assert c.get("/api/v1/session").status_code == 401
    assert site.runtimes["intake"].run(people.why_ended, raw) == people.ENDED["idle"]


def test_only_the_edge_can_say_who_is_signed_in(site: Site) -> None:
    from services.council.app import create_app

    key = session_key(site.settings)
    forged = sign(Person(SECRETARY, ("officer", "unit_secretary"), "unit_secretary", "x", "s"), b"another key")
    c = site.client()
    # Sent by a client to the edge: dropped, the request is anonymous.
    assert c.get("/api/v1/rounds/x", headers={HEADER: sign(
        Person(SECRETARY, ("unit_secretary",), "unit_secretary", "x", "s"), key)}).status_code == 401
    # Sent straight to a service: only a valid signature counts.
    council = create_app(site.settings).test_client()
    assert council.get("/api/v1/rounds/x", headers={HEADER: forged}).status_code == 401
    good = sign(Person(SECRETARY, ("officer", "unit_secretary"), "unit_secretary", "x", "s"), key)
    assert council.get("/api/v1/rounds/x", headers={HEADER: good}).status_code == 404
    stale = sign(Person(SECRETARY, ("unit_secretary",), "unit_secretary", "x", "s"), key, now=0)
    assert council.get("/api/v1/rounds/x", headers={HEADER: stale}).status_code == 401


def test_a_new_password_ends_the_person_s_sessions(site: Site) -> None:
    c = site.sign_in(OFFICER)
    site.runtimes["intake"].run(people.set_password, "admin", OFFICER, "một-mật-khẩu-mới")
    assert c.get("/api/v1/session").status_code == 401
    site.sign_in(OFFICER, "một-mật-khẩu-mới")


def test_a_password_must_be_long_enough_and_for_someone_of_the_organisation(site: Site) -> None:
    import pytest

    with pytest.raises(people.PasswordRefused):
        site.runtimes["intake"].run(people.set_password, "test", OFFICER, "ngắn")
    with pytest.raises(people.PasswordRefused):
        site.runtimes["intake"].run(people.set_password, "test", "CAH-XX-9999", PASSWORD)
