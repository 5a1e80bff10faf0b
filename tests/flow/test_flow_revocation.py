"""R15a across the services: a revocation in a golden book is a message every service takes
once. Intake shows the deed ``revoked``; council withdraws it from the rounds still open (the
round and its result say ``withdrawn``, no ballot may name it, it never passes), keeps it out of
every later round and dossier, and counts it in the R10 report as revoked; book inscribes it
nowhere again, even from a round that closed before the revocation."""

from __future__ import annotations

from typing import Any

from shared import clock
from tests.flow.flow_harness import Flow, this_month
from tests.intake.conftest import deed_body, people_of


def quarter() -> str:
    today = clock.today()
    return f"{today.year}-Q{(today.month - 1) // 3 + 1}"


def ballot(flow: Flow, rnd: dict[str, Any], member: str, choice: str, skip: set[str] = frozenset(),
           status: int | None = 201) -> Any:
    return flow.post("council", f"/api/v1/rounds/{rnd['id']}/ballots", flow.token("council_member", member),
                     {"choices": {c["id"]: choice for c in rnd["candidates"] if c["deed_id"] not in skip}}, status)


def revoke(flow: Flow, headers: dict[str, str], book: str, seq: int) -> dict[str, Any]:
    return flow.post("book", f"/api/v1/books/{book}/revocations", headers,
                     {"seq": seq, "reason": "Khai không đúng sự thật (Luật Thi đua, khen thưởng 2022, chương VII)"},
                     201).get_json()


def test_a_revocation_reaches_every_service(flow: Flow, org_document) -> None:
    p = people_of(org_document)
    unit = next(u for u in org_document["units"] if u["code"] == p.unit)
    members = unit["council"]["members"]
    province_members = org_document["province"]["council"]["members"]
    province_code = org_document["province"]["code"]
    secretary = flow.token("unit_secretary", p.secretary)
    province = flow.token("province_secretary", p.province_secretary)
    today = clock.today().isoformat()
    x, y, z = (flow.post("intake", "/api/v1/deeds", secretary, deed_body(
        {"officer": officer}, title=title, occurred_on=today), 201).get_json()
        for officer, title in ((p.officer, "Cứu người đuối nước"), (p.colleague, "Trả lại tài sản rơi"),
                               (p.other_officer, "Dập lửa cứu nhà dân")))
    for d in (x, y, z):
        flow.post("intake", f"/api/v1/deeds/{d['id']}/introduce", secretary, {}, 200)

    # The month: all three recognised and inscribed in the unit's book.
    monthly = flow.post("council", "/api/v1/rounds", secretary,
                        {"council": p.council, "kind": "monthly", "period": this_month()}, 201).get_json()
    flow.pump()
    monthly = flow.get("council", f"/api/v1/rounds/{monthly['id']}", secretary)
    for m in members:
        ballot(flow, monthly, m, "approve")
    flow.post("council", f"/api/v1/rounds/{monthly['id']}/close", secretary, {}, 200)
    flow.pump()
    seq = {e["deed"]["id"]: e["seq"] for e in flow.get("book", f"/api/v1/books/{p.unit}/entries", {})["items"]}
    assert set(seq) == {x["id"], y["id"], z["id"]}

    # The quarter's round is open and half voted when X's recognition is revoked.
    quarterly = flow.post("council", "/api/v1/rounds", secretary,
                          {"council": p.council, "kind": "quarterly", "period": quarter()}, 201).get_json()
    for m in members[:3]:
        ballot(flow, quarterly, m, "approve")
    revoke(flow, secretary, p.unit, seq[x["id"]])
    flow.pump()
    assert flow.get("intake", f"/api/v1/deeds/{x['id']}", secretary)["status"] == "revoked"
    quarterly = flow.get("council", f"/api/v1/rounds/{quarterly['id']}", secretary)
    assert {c["deed_id"]: c["withdrawn"] for c in quarterly["candidates"]} == {
        x["id"]: True, y["id"]: False, z["id"]: False}
    assert {c["deed_id"]: c["withdrawn"] for c in flow.get(
        "council", f"/api/v1/rounds/{quarterly['id']}/result", secretary)["candidates"]}[x["id"]] is True
    # No ballot may name it any more; the others are cast without it.
    r = ballot(flow, quarterly, members[3], "approve", status=None)
    assert r.status_code == 422 and r.get_json()["errors"]
    for m in members[3:]:
        ballot(flow, quarterly, m, "approve", skip={x["id"]})
    result = flow.post("council", f"/api/v1/rounds/{quarterly['id']}/close", secretary, {}, 200).get_json()
    by_deed = {c["deed_id"]: c for c in result["candidates"]}
    assert (by_deed[x["id"]]["withdrawn"], by_deed[x["id"]]["passed"], by_deed[x["id"]]["selected"]) == (
        True, False, False)
    assert by_deed[x["id"]]["approve"] == 3  # the votes cast before stay published and recountable
    assert by_deed[y["id"]]["selected"] and by_deed[z["id"]]["selected"]
    flow.pump()

    # Z's recognition is revoked after its dossier reached the province: no provincial round takes it.
    revoke(flow, secretary, p.unit, seq[z["id"]])
    flow.pump()
    provincial = flow.post("council", "/api/v1/rounds", province, {
        "council": org_document["province"]["council"]["code"], "kind": "provincial", "period": quarter()},
        201).get_json()
    assert [c["deed_id"] for c in provincial["candidates"]] == [y["id"]]
    for m in province_members:
        ballot(flow, provincial, m, "approve")
    assert flow.post("council", f"/api/v1/rounds/{provincial['id']}/close", province, {}, 200).get_json()[
        "candidates"][0]["selected"]
    # Y is revoked in its unit's book after the province selected it, before the provincial
    # book hears of it: the provincial book never inscribes it.
    flow.pump(skip=("book.inscribe",))
    revoke(flow, secretary, p.unit, seq[y["id"]])
    flow.pump()
    assert flow.get("book", f"/api/v1/books/{province_code}/entries", {})["items"] == []
    for d in (x, y, z):
        assert flow.get("intake", f"/api/v1/deeds/{d['id']}", secretary)["status"] == "revoked"

    # R10: counted as revoked, no longer as recognised, in the month that recognised them.
    (row,) = [r for r in flow.get("council", f"/api/v1/reports/monthly?month={this_month()}", province)["items"]
              if r["unit"] == p.unit]
    assert (row["recognised"], row["revoked"]) == (0, 3)

    # Exactly once: every message again changes nothing anywhere.
    books_before = {b: flow.get("book", f"/api/v1/books/{b}/entries", {})["items"] for b in (p.unit, province_code)}
    assert flow.redeliver_everything() == 0
    assert {b: flow.get("book", f"/api/v1/books/{b}/entries", {})["items"]
            for b in (p.unit, province_code)} == books_before
    (again,) = [r for r in flow.get("council", f"/api/v1/reports/monthly?month={this_month()}", province)["items"]
                if r["unit"] == p.unit]
    assert again == row
