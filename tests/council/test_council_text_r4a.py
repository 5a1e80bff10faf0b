"""R4a at council's entry points: what a ballot, a paper count or a round's opening carries as
text is checked like every other text (a 422 naming the field, nothing stored)."""

from __future__ import annotations

import pytest

from tests.council.conftest import COUNCIL, deed_copy, open_monthly, this_month
from tests.text_cases import HOSTILE, PLACEHOLDER, body_with, names

REFUSED = [pytest.param(lit, id=name) for name, lit, refused in HOSTILE if refused]


@pytest.mark.parametrize("literal", REFUSED)
def test_a_paper_ballot_with_unstorable_text_is_422(client, runtime, secretary, literal):
    rnd = open_monthly(client, secretary, runtime, [deed_copy()])
    (cand,) = (c["id"] for c in rnd["candidates"])
    path = f"/api/v1/rounds/{rnd['id']}/paper-ballots"
    good = {"choices": {cand: "approve"}}
    for hostile in ({"choices": {cand: PLACEHOLDER}}, {"choices": {cand: "approve", PLACEHOLDER: "approve"}}):
        body = body_with({"voters": 2, "ballots": [good, hostile]}, literal)
        r = client.post(path, data=body, content_type="application/json", headers=secretary)
        assert r.status_code == 422, r.get_data(as_text=True)
        assert r.mimetype == "application/problem+json"
        assert names(r.get_json()["errors"], "ballots")
    r = client.get(f"/api/v1/rounds/{rnd['id']}", headers=secretary)
    assert r.get_json()["voted"] == 0


@pytest.mark.parametrize("literal", REFUSED)
def test_a_ballot_with_unstorable_text_is_422(client, runtime, secretary, members, literal):
    rnd = open_monthly(client, secretary, runtime, [deed_copy()])
    (cand,) = (c["id"] for c in rnd["candidates"])
    member = next(iter(members.values()))
    for hostile in ({"choices": {cand: PLACEHOLDER}}, {"choices": {cand: "approve", PLACEHOLDER: "approve"}}):
        body = body_with(hostile, literal)
        r = client.post(f"/api/v1/rounds/{rnd['id']}/ballots", data=body, content_type="application/json",
                        headers=member)
        assert r.status_code == 422, r.get_data(as_text=True)
        assert names(r.get_json()["errors"], "choices")
    assert client.get(f"/api/v1/rounds/{rnd['id']}", headers=secretary).get_json()["voted"] == 0


@pytest.mark.parametrize("field", ["council", "period"])
@pytest.mark.parametrize("literal", ['"HD\\ufffe"', '"HD\\ud800"', '"HD\\u000b"'])
def test_opening_a_round_with_unstorable_text_is_422(client, secretary, field, literal):
    fields = {"council": COUNCIL, "kind": "monthly", "period": this_month(), field: PLACEHOLDER}
    r = client.post("/api/v1/rounds", data=body_with(fields, literal), content_type="application/json",
                    headers=secretary)
    assert r.status_code == 422, r.get_data(as_text=True)
    assert names(r.get_json()["errors"], field)
