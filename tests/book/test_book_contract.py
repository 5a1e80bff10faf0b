"""API.md, Common: "Lists take `limit` (≤ 500) and `cursor`, and return {"items": [...], "next":
cursor|null}" — the book's public key list (R15b, ``GET /api/v1/books/keys``) too."""

from __future__ import annotations

import pytest
from book_helpers import UNIT, UNIT_SECRETARY, deed_copy

from services.book import signing


@pytest.mark.parametrize("limit", ["501", "0", "abc"])
def test_the_key_list_refuses_a_limit_outside_1_to_500(client, limit):
    resp = client.get(f"/api/v1/books/keys?limit={limit}")
    assert resp.status_code == 422
    assert resp.mimetype == "application/problem+json"
    assert "limit" in resp.get_json()["errors"]


def test_the_key_list_pages_with_limit_and_cursor(runtime, client, inscribe):
    inscribe(UNIT)
    old, new = signing.rotate(runtime.settings)
    whole = client.get("/api/v1/books/keys?limit=500").get_json()
    assert whole["next"] is None
    assert [k["key_id"] for k in whole["items"]] == [new, old]  # the current one first
    first = client.get("/api/v1/books/keys?limit=1").get_json()
    assert [k["key_id"] for k in first["items"]] == [new]
    assert first["next"]
    second = client.get(f"/api/v1/books/keys?limit=1&cursor={first['next']}").get_json()
    assert [k["key_id"] for k in second["items"]] == [old]
    assert second["next"] is None


def test_the_verification_page_of_a_revoked_entry_says_so_once(client, token, inscribe):
    """R15b: "whether it is revoked" — said once, not a second time by the deed's own card."""
    inscribe(UNIT, deed=deed_copy("Bắt giữ đối tượng trộm cắp"))
    secretary = {"Authorization": f"Bearer {token('unit_secretary', UNIT_SECRETARY)}"}
    r = client.post(f"/api/v1/books/{UNIT}/revocations", json={"seq": 1, "reason": "Khai báo không trung thực"},
                    headers=secretary)
    assert r.status_code == 201, r.data
    page = client.get(f"/verify/{UNIT}/1")
    assert page.status_code == 200
    assert page.data.decode().count("Công nhận ghi tại mục số 1 đã bị thu hồi (mục số 2).") == 1
    assert "Bắt giữ đối tượng trộm cắp" not in page.data.decode()  # R15a: the deed left the public pages
