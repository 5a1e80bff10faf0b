"""R17a across the services: a deed of the whole unit, on which no member of the unit council may
vote (R17), is referred to the provincial council's referral round; it is ``referred`` in intake
meanwhile; passing there, it is recognised and inscribed in the unit's own book under the
provincial decision. The unit's round is neither blocked nor counted by it (R9)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from shared import clock
from tests.flow.flow_harness import Flow, this_month
from tests.intake.conftest import deed_body, people_of


@pytest.fixture
def org_with_a_unit_officer_in_the_province(org_document: dict) -> dict:
    """The organisation, with a member of the unit council sitting on the provincial council too
    (so that the province has a recusal of its own on a deed of that unit)."""
    doc = copy.deepcopy(org_document)
    unit = next(u for u in doc["units"] if u["code"] == people_of(org_document).unit)
    doc["province"]["council"]["members"].append(unit["council"]["members"][0])
    return doc


@pytest.fixture
def flow_org(org_with_a_unit_officer_in_the_province: dict) -> dict:
    return org_with_a_unit_officer_in_the_province


def vote_all(flow: Flow, rnd: dict[str, Any], members: list[str], choice: str) -> None:
    for member in members:
        headers = flow.token("council_member", member)
        flow.post("council", f"/api/v1/rounds/{rnd['id']}/ballots", headers,
                  {"choices": {c["id"]: choice for c in rnd["candidates"]}}, 201)


def test_a_deed_of_the_whole_unit_is_decided_by_the_province(flow: Flow, org_document,
                                                              org_with_a_unit_officer_in_the_province) -> None:
    doc = org_with_a_unit_officer_in_the_province
    p = people_of(org_document)
    unit = next(u for u in doc["units"] if u["code"] == p.unit)
    unit_members = unit["council"]["members"]
    province_members = doc["province"]["council"]["members"]
    both = unit_members[0]
    secretary = flow.token("unit_secretary", p.secretary)
    province = flow.token("province_secretary", p.province_secretary)
    day = clock.today().isoformat()
    whole = flow.post("intake", "/api/v1/deeds", secretary, deed_body(
        {"collective": p.unit}, title="Cả đơn vị cứu dân vùng lũ", occurred_on=day), 201).get_json()
    single = flow.post("intake", "/api/v1/deeds", secretary, deed_body(
        {"officer": p.officer}, title="Dắt cụ bà qua đường", occurred_on=day), 201).get_json()
    for deed in (whole, single):
        flow.post("intake", f"/api/v1/deeds/{deed['id']}/introduce", secretary, {}, 200)
    rnd = flow.post("council", "/api/v1/rounds", secretary,
                    {"council": p.council, "kind": "monthly", "period": this_month()}, 201).get_json()
    flow.pump()

    # The unit's round holds only what its council may decide; nobody waits for the other deed.
    rnd = flow.get("council", f"/api/v1/rounds/{rnd['id']}", secretary)
    assert (rnd["status"], [c["deed_id"] for c in rnd["candidates"]], rnd["entitled"]) == (
        "open", [single["id"]], len(unit_members))
    assert flow.get("intake", f"/api/v1/deeds/{whole['id']}", secretary)["status"] == "referred"
    (referral,) = flow.get("council", "/api/v1/rounds?kind=referral", province)["items"]
    assert (referral["council"], referral["kind"], referral["period"], referral["referred_from"], referral["status"]) == (
        doc["province"]["council"]["code"], "referral", this_month(), p.council, "open")
    assert [c["deed_id"] for c in referral["candidates"]] == [whole["id"]]
    # R23: the unit's secretary reads that the system referred the deed; the province, the round it opened.
    lines = flow.get("council", "/api/v1/audit/council", secretary)["items"]
    assert [(x["action"], x["object"], x["details"]["round"]) for x in lines if x["action"] == "deed.referred"] == [
        ("deed.referred", whole["id"], referral["id"])]
    opened = flow.get("council", f"/api/v1/audit/council?unit={doc['province']['code']}", province)["items"]
    assert ("round.opened", referral["id"], {"role": "system", "subject": "council"}) in [
        (x["action"], x["object"], x["actor"]) for x in opened]
    # R17 in the province: the member who belongs to the unit is recused, the others vote.
    assert referral["entitled"] == len(province_members) - 1
    r = flow.post("council", f"/api/v1/rounds/{referral['id']}/ballots", flow.token("council_member", both),
                  {"choices": {referral["candidates"][0]["id"]: "approve"}})
    assert r.status_code in (409, 422)

    # R9: the unit council rejects its own deed, its quota is unmet, whatever the province does.
    vote_all(flow, rnd, unit_members, "reject")
    closed = flow.post("council", f"/api/v1/rounds/{rnd['id']}/close", secretary, {}, 200).get_json()
    assert closed["quota_met"] is False and not any(c["selected"] for c in closed["candidates"])
    voters = [m for m in province_members if m != both]
    vote_all(flow, referral, voters[:-1], "approve")
    vote_all(flow, referral, voters[-1:], "reject")
    result = flow.post("council", f"/api/v1/rounds/{referral['id']}/close", province, {}, 200).get_json()
    (cand,) = result["candidates"]
    assert (cand["approve"], cand["entitled"], cand["passed"], cand["selected"]) == (
        len(voters) - 1, len(voters), True, True)
    assert result["decision"] is not None and result["quota_met"] is None
    flow.pump()

    # Inscribed in the unit's book, under the provincial decision.
    entries = flow.get("book", f"/api/v1/books/{p.unit}/entries", {})["items"]
    (entry,) = [e for e in entries if e["deed"]["id"] == whole["id"]]
    assert entry["decision"]["number"] == result["decision"]["number"]
    assert entry["decision"]["issuer"] == doc["province"]["code"]
    assert not [e for e in flow.get("book", f"/api/v1/books/{doc['province']['code']}/entries", {})["items"]]
    got = flow.get("intake", f"/api/v1/deeds/{whole['id']}", secretary)
    assert (got["status"], got["book_entries"]) == ("recognised", [{"book": p.unit, "seq": entry["seq"]}])
    (row,) = [r for r in flow.get("council", f"/api/v1/reports/monthly?month={this_month()}", province)["items"]
              if r["unit"] == p.unit]
    assert (row["quota_met"], row["candidates"], row["introduced"]) == (False, 1, 2)
    assert flow.redeliver_everything() == 0
    assert len(flow.get("book", f"/api/v1/books/{p.unit}/entries", {})["items"]) == len(entries)
