"""R4a at the book's entry point: a revocation's reason that cannot be stored (a control
character such as a word processor's vertical tab, a noncharacter, a lone surrogate) is a 422
naming ``reason``, and the book is unchanged."""

from __future__ import annotations

import pytest
from book_helpers import UNIT, UNIT_SECRETARY, deed_copy

from tests.text_cases import HOSTILE, PLACEHOLDER, body_with, names


@pytest.mark.parametrize(("literal"), [pytest.param(lit, id=name) for name, lit, refused in HOSTILE if refused])
def test_a_reason_with_unstorable_text_is_422_and_changes_nothing(client, token, inscribe, literal):
    inscribe(UNIT, deed=deed_copy("Hiến máu cứu người"))
    headers = {"Authorization": f"Bearer {token('unit_secretary', UNIT_SECRETARY)}"}
    body = body_with({"seq": 1, "reason": PLACEHOLDER}, literal)
    r = client.post(f"/api/v1/books/{UNIT}/revocations", data=body, content_type="application/json", headers=headers)
    assert r.status_code == 422, r.get_data(as_text=True)
    assert r.mimetype == "application/problem+json"
    assert names(r.get_json()["errors"], "reason")
    assert client.get(f"/api/v1/books/{UNIT}/verify").get_json()["entries"] == 1


def test_a_reason_may_hold_lines(client, token, inscribe):
    inscribe(UNIT, deed=deed_copy("Hiến máu cứu người"))
    headers = {"Authorization": f"Bearer {token('unit_secretary', UNIT_SECRETARY)}"}
    reason = "Khai báo không trung thực.\nXem biên bản xác minh\tsố 12."
    r = client.post(f"/api/v1/books/{UNIT}/revocations", json={"seq": 1, "reason": reason}, headers=headers)
    assert r.status_code == 201 and r.get_json()["reason"] == reason
