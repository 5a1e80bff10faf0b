"""R23 for people (R24): signing in and out is in intake's audit record, and a secretary signed
in reads the record of every service with their session, as with a token."""

from __future__ import annotations

from tests.sessions.site import OFFICER, SECRETARY, Site


def test_r23_signing_in_and_out_is_recorded_and_readable_with_a_session(site: Site) -> None:
    officer = site.sign_in(OFFICER)
    csrf = officer.get("/api/v1/session").get_json()["csrf_token"]
    assert officer.delete("/api/v1/session", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert site.client().post("/api/v1/session", json={"subject": OFFICER, "password": "sai-mật-khẩu"}).status_code == 401
    secretary = site.sign_in(SECRETARY)

    r = secretary.get("/api/v1/audit/intake")
    assert r.status_code == 200, r.get_data(as_text=True)
    lines = [(x["action"], x["actor"], x["object"]) for x in r.get_json()["items"] if x["action"].startswith("session")]
    assert lines == [
        ("session.signed_in", {"role": "officer", "subject": OFFICER}, OFFICER),
        ("session.ended", {"role": "officer", "subject": OFFICER}, OFFICER),
        ("session.signed_in", {"role": "officer", "subject": SECRETARY}, SECRETARY),  # the default role
    ]
    assert "sai-mật-khẩu" not in r.get_data(as_text=True) and "10.0.0.1" not in r.get_data(as_text=True)
    for service in ("council", "book"):
        assert secretary.get(f"/api/v1/audit/{service}").status_code == 200
    assert site.sign_in(OFFICER).get("/api/v1/audit/intake").status_code == 403
