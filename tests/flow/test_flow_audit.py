"""R23 across the services: a month walked from the first deed to a revocation leaves a line for
every change of state, in the service that made it, readable by the unit's secretary (their unit
alone) and the province secretary; and no line pairs a member with a choice (R19)."""

from __future__ import annotations

import json
from typing import Any

from shared import clock
from tests.flow.flow_harness import Flow, this_month
from tests.intake.conftest import deed_body, people_of

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def audit(flow: Flow, service: str, headers: dict[str, str], query: str = "") -> list[dict[str, Any]]:
    lines, cursor = [], None
    while True:
        page = flow.get(service, f"/api/v1/audit/{service}?limit=7{query}" + (f"&cursor={cursor}" if cursor else ""),
                        headers)
        lines += page["items"]
        cursor = page["next"]
        if cursor is None:
            return lines


def actions(lines: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(x["action"], x["actor"]["role"], x["actor"]["subject"]) for x in lines]


def test_r23_a_month_leaves_a_line_for_every_change_and_none_says_how_anyone_voted(flow: Flow, org_document) -> None:
    p = people_of(org_document)
    unit_doc = next(u for u in org_document["units"] if u["code"] == p.unit)
    members = unit_doc["council"]["members"]
    officer = flow.token("officer", p.officer)
    lead = flow.token("subunit_lead", p.lead)
    secretary = flow.token("unit_secretary", p.secretary)
    province = flow.token("province_secretary", p.province_secretary)
    month = this_month()

    # Record (one alone, two in a batch), add evidence, introduce.
    a = flow.post("intake", "/api/v1/deeds", officer, deed_body({"officer": p.officer}, title="Cứu người đuối nước"),
                  201).get_json()
    batch = flow.post("intake", "/api/v1/deeds/batch", lead, {"deeds": [
        deed_body({"officer": p.colleague}, title="Trả lại ví nhặt được"),
        deed_body({"collective": p.subunit}, title="Dọn đường sau lũ"),
    ]}, 201).get_json()["items"]
    r = flow.clients["intake"].post(f"/api/v1/deeds/{a['id']}/evidence", headers=officer,
                                    data={"file": (__import__("io").BytesIO(PNG), "anh.png")})
    assert r.status_code == 201, r.get_json()
    for deed in (a, *batch):
        flow.post("intake", f"/api/v1/deeds/{deed['id']}/introduce", lead, {}, 200)

    # Open; the handshake with intake; ballots in an order that is not the members' code order.
    rnd = flow.post("council", "/api/v1/rounds", secretary, {"council": p.council, "kind": "monthly", "period": month},
                    201).get_json()
    flow.pump()
    rnd = flow.get("council", f"/api/v1/rounds/{rnd['id']}", secretary)
    assert rnd["status"] == "open" and len(rnd["candidates"]) == 3
    by_deed = {c["deed_id"]: c["id"] for c in rnd["candidates"]}
    entitled = set(members)
    voters = list(reversed(members))
    for i, member in enumerate(voters):
        headers = flow.token("council_member", member)
        choices = {}
        for c in rnd["candidates"]:
            # Everybody approves the first deed; the others split, so a choice could tell voters apart.
            choices[c["id"]] = "approve" if c["deed_id"] == a["id"] or i % 2 else ("reject" if i % 3 else "abstain")
        r = flow.clients["council"].post(f"/api/v1/rounds/{rnd['id']}/ballots", json={"choices": choices},
                                         headers=headers)
        if r.status_code == 409:  # recused from every candidate (R17): not entitled, not waited for
            entitled.discard(member)
            continue
        assert r.status_code == 201, r.get_json()
    assert flow.clients["council"].post(f"/api/v1/rounds/{rnd['id']}/close", headers=lead).status_code == 403
    result = flow.post("council", f"/api/v1/rounds/{rnd['id']}/close", secretary, {}, 200).get_json()
    assert [c["deed_id"] for c in result["candidates"] if c["selected"]] == [a["id"]]
    flow.pump()
    entries = flow.get("book", f"/api/v1/books/{p.unit}/entries", {})["items"]
    assert [e["deed"]["id"] for e in entries] == [a["id"]]

    # Revoke it (R15a).
    flow.post("book", f"/api/v1/books/{p.unit}/revocations", secretary,
              {"seq": entries[0]["seq"], "reason": "Kê khai không đúng sự thật"}, 201)
    flow.pump()

    intake_lines = audit(flow, "intake", secretary)
    council_lines = audit(flow, "council", secretary)
    book_lines = audit(flow, "book", secretary)
    for lines in (intake_lines, council_lines, book_lines):
        assert lines and all(set(x) == {"at", "actor", "action", "object", "details"} for x in lines)
        assert [x["at"] for x in lines] == sorted(x["at"] for x in lines)

    # intake: every deed recorded (by whom), the evidence, every introduction, the month closed to
    # introductions by the round, each status the council and the book moved it to.
    got = actions(intake_lines)
    assert got.count(("deed.recorded", "officer", p.officer)) == 1
    assert got.count(("deed.recorded", "subunit_lead", p.lead)) == 2
    assert ("evidence.added", "officer", p.officer) in got
    assert got.count(("deed.introduced", "subunit_lead", p.lead)) == 3
    assert ("month.closed_to_introductions", "system", "council") in got
    fates = [(x["object"], x["details"]["to"]) for x in intake_lines if x["action"] == "deed.status_changed"]
    assert {(b["id"], "not_selected") for b in batch} <= set(fates)
    entries_seen = [(x["object"], x["details"]["kind"]) for x in intake_lines if x["action"] == "deed.book_entry"]
    assert entries_seen == [(a["id"], "inscription"), (a["id"], "revocation")]

    # council: opened by the secretary, frozen when intake answered, closed by the secretary with
    # its decision; each member who voted, stamped with the close.
    got = actions(council_lines)
    assert got[0] == ("round.opened", "unit_secretary", p.secretary)
    assert ("round.candidates_frozen", "system", "intake") in got
    (closed,) = [x for x in council_lines if x["action"] == "round.closed"]
    assert closed["actor"] == {"role": "unit_secretary", "subject": p.secretary}
    assert closed["details"]["decision"]["number"] == result["decision"]["number"]
    cast = [x for x in council_lines if x["action"] == "ballot.cast"]
    assert sorted(x["actor"]["subject"] for x in cast) == sorted(entitled)

    # R19: nothing pairs a member with a choice. A ballot's line carries no details, the instant of
    # the close (not of the ballot), and the lines come in code order, not the order they voted in.
    assert all(x["details"] == {} and x["object"] == rnd["id"] and x["at"] == closed["at"] for x in cast)
    assert [x["actor"]["subject"] for x in cast] == sorted(x["actor"]["subject"] for x in cast)
    everything = json.dumps(intake_lines + council_lines + book_lines, ensure_ascii=False)
    for word in ("approve", "reject", "abstain", *(b["receipt"] for b in result["ballots"])):
        assert word not in everything, word
    by_members = json.dumps([x for x in intake_lines + council_lines + book_lines
                             if x["actor"]["role"] == "council_member"])
    assert not any(cid in by_members for cid in by_deed.values())
    # R2a: a deed's beneficiaries never reach the record.
    assert "Nguyễn Thị H'Lan" not in everything

    # book: the inscription (the council's decision) and the revocation, by the secretary.
    got = actions(book_lines)
    assert ("entry.inscribed", "system", "council") in got
    (revoked,) = [x for x in book_lines if x["action"] == "entry.revoked"]
    assert revoked["actor"] == {"role": "unit_secretary", "subject": p.secretary}
    assert revoked["object"] == f"{p.unit}:1" and revoked["details"]["reason"] == "Kê khai không đúng sự thật"

    # The province secretary reads every unit's lines, or one unit's; another unit's secretary
    # reads none of these, and may not ask for them.
    assert audit(flow, "council", province, f"&unit={p.unit}") == council_lines
    assert len(audit(flow, "intake", province)) >= len(intake_lines)
    stranger = flow.token("unit_secretary", p.stranger_secretary)
    assert audit(flow, "council", stranger) == []
    r = flow.clients["council"].get(f"/api/v1/audit/council?unit={p.unit}", headers=stranger)
    assert r.status_code == 403 and r.mimetype == "application/problem+json"
    for headers in (officer, lead, flow.token("council_member", members[0])):
        assert flow.clients["book"].get("/api/v1/audit/book", headers=headers).status_code == 403
    assert flow.clients["intake"].get("/api/v1/audit/intake").status_code == 401

    # from/to: local days (to is inclusive) or instants.
    today = clock.today()
    assert audit(flow, "book", secretary, f"&from={today.isoformat()}&to={today.isoformat()}") == book_lines
    yesterday = today.fromordinal(today.toordinal() - 1).isoformat()
    assert audit(flow, "book", secretary, f"&to={yesterday}") == []
    assert audit(flow, "council", secretary, f"&from={closed['at'].replace('+', '%2B')}")[0]["at"] == closed["at"]
    bad = flow.clients["intake"].get("/api/v1/audit/intake?from=hôm-qua", headers=secretary)
    assert bad.status_code == 422 and "from" in bad.get_json()["errors"]


def test_r23_a_refused_change_writes_no_line(flow: Flow, org_document) -> None:
    """The line is written in the transaction of the change: a change refused leaves none."""
    p = people_of(org_document)
    secretary = flow.token("unit_secretary", p.secretary)
    rnd = flow.open_by_calendar(p.council, p.secretary, "monthly", this_month())
    flow.pump()
    before = audit(flow, "council", secretary)
    assert flow.clients["council"].post("/api/v1/rounds", json={"council": p.council, "kind": "monthly",
                                                                "period": this_month()}, headers=secretary).status_code == 409
    assert flow.clients["council"].post(f"/api/v1/rounds/{rnd['id']}/close", headers=secretary).status_code == 409
    bad = deed_body({"officer": p.officer}, occurred_on="2019-01-01")
    assert flow.clients["intake"].post("/api/v1/deeds", json=bad, headers=secretary).status_code == 422
    assert audit(flow, "council", secretary) == before
    assert [x["action"] for x in audit(flow, "intake", secretary)] == ["month.closed_to_introductions"]


def test_r23_the_secretary_s_corrections_are_recorded(flow: Flow, org_document) -> None:
    """R20a: moving a deadline, entering and correcting a paper count, cancelling a round (and the
    month it gives back to introductions) each leave their line."""
    import datetime as dt

    p = people_of(org_document)
    secretary = flow.token("unit_secretary", p.secretary)
    deed = flow.post("intake", "/api/v1/deeds", secretary, deed_body({"officer": p.officer}), 201).get_json()
    flow.post("intake", f"/api/v1/deeds/{deed['id']}/introduce", secretary, {}, 200)
    rnd = flow.post("council", "/api/v1/rounds", secretary, {"council": p.council, "kind": "monthly",
                                                             "period": this_month()}, 201).get_json()
    flow.pump()
    later = clock.isoformat(clock.now() + dt.timedelta(days=3))
    r = flow.clients["council"].patch(f"/api/v1/rounds/{rnd['id']}", json={"closes_at": later}, headers=secretary)
    assert r.status_code == 200, r.get_json()
    flow.post("council", f"/api/v1/rounds/{rnd['id']}/cancel", secretary, {}, 200)
    flow.pump()
    again = flow.post("council", "/api/v1/rounds", secretary, {"council": p.council, "kind": "monthly",
                                                               "period": this_month()}, 201).get_json()
    flow.pump()
    again = flow.get("council", f"/api/v1/rounds/{again['id']}", secretary)
    cid = again["candidates"][0]["id"]
    n = again["entitled"]
    for ballots in ([{"choices": {cid: "approve"}}] * n, [{"choices": {cid: "reject"}}] * n):
        flow.post("council", f"/api/v1/rounds/{again['id']}/paper-ballots", secretary,
                  {"voters": n, "ballots": ballots}, 201)

    lines = audit(flow, "council", secretary)
    mine = [(x["action"], x["object"]) for x in lines if x["actor"] == {"role": "unit_secretary", "subject": p.secretary}]
    assert mine == [("round.opened", rnd["id"]), ("round.deadline_moved", rnd["id"]), ("round.cancelled", rnd["id"]),
                    ("round.opened", again["id"]), ("round.paper_count", again["id"]),
                    ("round.paper_count", again["id"])]
    moved = next(x for x in lines if x["action"] == "round.deadline_moved")
    assert moved["details"]["to"] == later
    counts = [x["details"] for x in lines if x["action"] == "round.paper_count"]
    assert counts == [{"voters": n, "ballots": n, "replaces_earlier_count": False},
                      {"voters": n, "ballots": n, "replaces_earlier_count": True}]
    reopened = [x for x in audit(flow, "intake", secretary) if x["action"] == "month.reopened_to_introductions"]
    assert [(x["object"], x["details"]) for x in reopened] == [
        (f"{p.unit}:{this_month()}", {"round": rnd["id"], "deeds_back": 1})]


def test_r23_bounds_at_the_edges_of_time_are_refused_not_a_500(flow: Flow, org_document) -> None:
    secretary = flow.token("unit_secretary", people_of(org_document).secretary)
    for query in ("to=9999-12-31", "from=0001-01-01", "from=2025-02-30", "to=2025-01-01T00:00:00",
                  "from=0001-01-01T00:00:00%2B07:00", "cursor=InRleHQi"):
        r = flow.clients["council"].get(f"/api/v1/audit/council?{query}", headers=secretary)
        assert r.status_code == 422 and r.mimetype == "application/problem+json", query
    assert flow.get("council", "/api/v1/audit/council?from=0001-01-02&to=9999-12-30", secretary)["items"] == []
