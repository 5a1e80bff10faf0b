"""R15a: revocation as a new entry naming the revoked one and the reason; only the book's
secretary may; once only; the deed leaves feeds and pages with a notice and stays in the chain."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from book_helpers import (
    OTHER_SECRETARY,
    PROVINCE,
    PROVINCE_SECRETARY,
    UNIT,
    UNIT_SECRETARY,
    deed_copy,
    sent_messages,
)

ATOM = "{http://www.w3.org/2005/Atom}"
TITLE = "Bắt giữ đối tượng trộm cắp tài sản của đồng bào"
REASON = "Kết quả xác minh cho thấy khai báo không trung thực (Luật Thi đua, khen thưởng 2022, chương VII)."


@pytest.fixture
def secretary(token):
    return {"Authorization": f"Bearer {token('unit_secretary', UNIT_SECRETARY)}"}


@pytest.fixture
def two_deeds(inscribe):
    first = inscribe(UNIT, deed=deed_copy(TITLE))
    second = inscribe(UNIT, deed=deed_copy("Hiến máu cứu người"))
    return first, second


def revoke(client, headers, seq=1, reason=REASON, book=UNIT, **extra):
    return client.post(f"/api/v1/books/{book}/revocations", json={"seq": seq, "reason": reason}, headers=headers, **extra)


def test_revocation_appends_an_entry_naming_the_revoked_one(client, runtime, secretary, two_deeds):
    r = revoke(client, secretary)
    assert r.status_code == 201, r.data
    entry = r.get_json()
    assert (entry["book"], entry["seq"], entry["kind"], entry["revokes"], entry["reason"]) == (UNIT, 3, "revocation", 1, REASON)
    assert entry["deed"]["id"] == two_deeds[0].deed["id"]
    assert entry["prev_hash"] == client.get(f"/api/v1/books/{UNIT}/entries/2").get_json()["hash"]
    assert r.headers["Location"].endswith(f"/api/v1/books/{UNIT}/entries/3")
    assert client.get(f"/api/v1/books/{UNIT}/entries/3").get_json()["hash"] == entry["hash"]
    # The revoked entry stays in the chain, unchanged, and says who revoked it.
    revoked = client.get(f"/api/v1/books/{UNIT}/entries/1").get_json()
    assert revoked["deed"]["title"] == TITLE and revoked["revoked_by"] == 3
    verdict = client.get(f"/api/v1/books/{UNIT}/verify").get_json()
    assert verdict | {"problem": None, "signed_head": None} == {
        "book": UNIT, "valid": True, "entries": 3, "head": entry["hash"], "first_bad_seq": None, "problem": None,
        "signed_heads": 3, "signed_head": None}
    # R15b: the revocation's head is signed like any other.
    assert (verdict["signed_head"]["entries"], verdict["signed_head"]["head"]) == (3, entry["hash"])
    assert sent_messages(runtime, "intake.deed_inscribed")[-1] == {
        "deed_id": two_deeds[0].deed["id"], "book": UNIT, "seq": 3, "kind": "revocation"}


def test_a_second_revocation_of_the_same_entry_is_409(client, secretary, two_deeds):
    assert revoke(client, secretary).status_code == 201
    r = revoke(client, secretary, reason="Lần nữa")
    assert r.status_code == 409 and r.mimetype == "application/problem+json"
    assert "đã bị thu hồi" in r.get_json()["detail"]
    assert client.get(f"/api/v1/books/{UNIT}/verify").get_json()["entries"] == 3


def test_a_revocation_entry_cannot_itself_be_revoked(client, secretary, two_deeds):
    assert revoke(client, secretary).status_code == 201
    assert revoke(client, secretary, seq=3).status_code == 409


def test_only_the_books_secretary_may_revoke(client, token, two_deeds):
    assert revoke(client, {}).status_code == 401
    assert revoke(client, {"Authorization": "Bearer nope"}).status_code == 401
    for role, subject in (("officer", "CAH-DM-0001"), ("council_member", "CAH-DM-0002"), ("press", "BBT-CAT")):
        assert revoke(client, {"Authorization": f"Bearer {token(role, subject)}"}).status_code == 403
    other = {"Authorization": f"Bearer {token('unit_secretary', OTHER_SECRETARY)}"}
    assert revoke(client, other).status_code == 403
    province = {"Authorization": f"Bearer {token('province_secretary', PROVINCE_SECRETARY)}"}
    assert revoke(client, province).status_code == 403
    assert client.get(f"/api/v1/books/{UNIT}/verify").get_json()["entries"] == 2


def test_the_province_secretary_revokes_in_the_provincial_book(client, token, inscribe):
    inscribe(PROVINCE, period="2024-Q2", round_kind="provincial")
    province = {"Authorization": f"Bearer {token('province_secretary', PROVINCE_SECRETARY)}"}
    assert revoke(client, {"Authorization": f"Bearer {token('unit_secretary', UNIT_SECRETARY)}"}, book=PROVINCE).status_code == 403
    r = revoke(client, province, book=PROVINCE)
    assert r.status_code == 201 and r.get_json()["book"] == PROVINCE


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"seq": 1}, "reason"),
        ({"reason": "x"}, "seq"),
        ({"seq": "1", "reason": "x"}, "seq"),
        ({"seq": 0, "reason": "x"}, "seq"),
        ({"seq": 1, "reason": "   "}, "reason"),
        ({"seq": 1, "reason": "x" * 2001}, "reason"),
        ({"seq": 1, "reason": "x", "extra": True}, "extra"),
    ],
)
def test_bad_bodies_are_422_with_field_errors(client, secretary, two_deeds, body, field):
    r = client.post(f"/api/v1/books/{UNIT}/revocations", json=body, headers=secretary)
    assert r.status_code == 422 and r.mimetype == "application/problem+json"
    assert field in r.get_json()["errors"]


def test_unreadable_bodies_unknown_books_and_entries(client, secretary, two_deeds):
    r = client.post(f"/api/v1/books/{UNIT}/revocations", data="{", content_type="application/json", headers=secretary)
    assert r.status_code == 400
    r = client.post(f"/api/v1/books/{UNIT}/revocations", data="seq=1", content_type="text/plain", headers=secretary)
    assert r.status_code == 415
    assert revoke(client, secretary, book="NOPE").status_code == 404
    assert revoke(client, secretary, seq=99).status_code == 404


def test_the_same_idempotency_key_returns_the_first_response(client, secretary, two_deeds):
    headers = {**secretary, "Idempotency-Key": "thu-hoi-1"}
    first = revoke(client, headers)
    again = revoke(client, headers)
    assert first.status_code == again.status_code == 201 and first.data == again.data
    assert revoke(client, headers, reason="Lý do khác").status_code == 422
    assert client.get(f"/api/v1/books/{UNIT}/verify").get_json()["entries"] == 3


def test_the_revoked_deed_leaves_feeds_and_pages_with_a_notice(client, secretary, two_deeds):
    page_before = client.get(f"/honour-roll/{UNIT}/2024-05").data.decode()
    assert TITLE in page_before
    assert revoke(client, secretary).status_code == 201

    atom = ET.fromstring(client.get(f"/feeds/{UNIT}.atom").data)
    by_id = {e.findtext(f"{ATOM}id"): e for e in atom.findall(f"{ATOM}entry")}
    revoked = by_id[f"urn:sovang:book:{UNIT}:entry:1"]  # the same stable id, now a notice
    assert TITLE not in ET.tostring(atom, encoding="unicode")
    assert "thu hồi" in revoked.findtext(f"{ATOM}title") and REASON in revoked.findtext(f"{ATOM}content")
    assert "Hiến máu cứu người" in by_id[f"urn:sovang:book:{UNIT}:entry:2"].findtext(f"{ATOM}title")
    assert f"urn:sovang:book:{UNIT}:entry:3" in by_id
    for fmt in ("rss", "json"):
        assert TITLE not in client.get(f"/feeds/{UNIT}.{fmt}").data.decode()
    items = json.loads(client.get(f"/feeds/{UNIT}.json").data)["items"]
    assert [i["_sovang"]["revoked"] for i in items] == [False, False, True]

    for path in (f"/honour-roll/{UNIT}/", f"/honour-roll/{UNIT}/2024-05", f"/honour-roll/{UNIT}/2024-Q2"):
        html = client.get(path).data.decode()
        assert TITLE not in html, path
        assert "đã bị thu hồi" in html and "Hiến máu cứu người" in html
    cert = client.get(f"/api/v1/books/{UNIT}/entries/1/certificate.pdf")
    assert cert.status_code == 200 and cert.mimetype == "application/pdf"
    pypdf = pytest.importorskip("pypdf")
    import io

    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(cert.data)).pages)
    assert "THÔNG BÁO THU HỒI" in text and TITLE not in text
