"""The rounds after the month: supplementary (R9), quarterly unit rounds with their dossiers (R11),
provincial rounds with the cap (R12) and the runoff of exactly the tied (R13), inscribed in the
provincial book (R14)."""

from __future__ import annotations

import copy
import datetime as dt
import time
from typing import Any

import pytest

from services.council import DECLARATION, runs, services
from services.council.repository import Dossiers
from shared import clock
from shared.clock import Month, Quarter
from shared.ids import new_id
from shared.messages import DossierSent
from tests.council.conftest import (
    COUNCIL,
    MEMBERS,
    PROVINCE,
    PROVINCE_SECRETARY,
    PROVINCIAL,
    PROVINCIAL_MEMBERS,
    UNIT,
    deed_copy,
    deliver_dossiers,
    make_runtime,
    open_monthly,
    outbox_messages,
)


def last_quarter() -> Quarter:
    current = Month.of(clock.today()).quarter
    return Quarter(current.year - 1, 4) if current.q == 1 else Quarter(current.year, current.q - 1)


def ballot_round(client, rnd: dict, voters: list[dict], approvals: dict[str, int]) -> None:  # noqa: ANN001
    """Voter i approves a candidate when i < approvals[deed id], else rejects."""
    for i, headers in enumerate(voters):
        choices = {c["id"]: "approve" if i < approvals.get(c["deed_id"], 0) else "reject" for c in rnd["candidates"]}
        r = client.post(f"/api/v1/rounds/{rnd['id']}/ballots", json={"choices": choices}, headers=headers)
        assert r.status_code == 201, r.get_json()


def close(client, rnd: dict, headers: dict) -> dict:  # noqa: ANN001
    """Close a round; its answer (built from what the close counted) is the Result read back."""
    r = client.post(f"/api/v1/rounds/{rnd['id']}/close", headers=headers)
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == client.get(f"/api/v1/rounds/{rnd['id']}/result").get_json()
    return r.get_json()


def open_round(client, headers: dict, council: str, kind: str, period: str) -> Any:  # noqa: ANN001
    return client.post("/api/v1/rounds", json={"council": council, "kind": kind, "period": period}, headers=headers)


@pytest.fixture
def unit_voters(members: dict) -> list[dict]:
    return [members[m] for m in MEMBERS]


@pytest.fixture
def province(auth) -> dict:  # noqa: ANN001
    return auth("province_secretary", PROVINCE_SECRETARY)


@pytest.fixture
def province_voters(auth) -> list[dict]:  # noqa: ANN001
    return [auth("council_member", m) for m in PROVINCIAL_MEMBERS]


def test_supplementary_then_quarterly_round_sends_dossiers(client, runtime, secretary, unit_voters) -> None:
    q = last_quarter()
    m1, m2, m3 = (str(m) for m in q.months)
    # Month 1: two deeds recognised.
    a, b = deed_copy(month=m1, title="Cứu hộ cháy nhà"), deed_copy(month=m1, title="Tìm trẻ lạc")
    rnd1 = open_monthly(client, secretary, runtime, [a, b], period=m1)
    ballot_round(client, rnd1, unit_voters, {a["id"]: 7, b["id"]: 6})
    assert close(client, rnd1, secretary)["quota_met"] is True

    # Month 2: nothing passes, quota unmet; one supplementary round (R9) over the same deeds.
    c = deed_copy(month=m2, title="Giúp dân thu hoạch cà phê")
    rnd2 = open_monthly(client, secretary, runtime, [c], period=m2)
    assert open_round(client, secretary, COUNCIL, "supplementary", m2).status_code == 409  # not closed yet
    ballot_round(client, rnd2, unit_voters, {c["id"]: 3})
    assert close(client, rnd2, secretary)["quota_met"] is False
    r = open_round(client, secretary, COUNCIL, "supplementary", m2)
    assert r.status_code == 201, r.get_json()
    sup = r.get_json()
    assert sup["status"] == "open" and [x["deed_id"] for x in sup["candidates"]] == [c["id"]]
    assert open_round(client, secretary, COUNCIL, "supplementary", m2).status_code == 409  # once
    assert open_round(client, secretary, COUNCIL, "supplementary", m1).status_code == 409  # quota met
    ballot_round(client, sup, unit_voters, {c["id"]: 7})
    sup_result = close(client, sup, secretary)
    assert sup_result["quota_met"] is True and sup_result["decision"]["number"] == f"2/QĐ-{UNIT}"
    fates = [(m["payload"]["deed_id"], m["payload"]["status"]) for m in outbox_messages(runtime, "intake.deed_fate")]
    assert (c["id"], "not_selected") in fates and (c["id"], "recognised") in fates
    assert {m["payload"]["book"] for m in outbox_messages(runtime, "book.inscribe")} == {UNIT}

    # Month 3 closes empty; then the quarterly round over the three recognised deeds (R11).
    open_monthly(client, secretary, runtime, [], period=m3)
    r = open_round(client, secretary, COUNCIL, "quarterly", str(q))
    assert r.status_code == 201, r.get_json()
    quarterly = r.get_json()
    assert quarterly["status"] == "open" and quarterly["period"] == str(q)
    assert {x["deed_id"] for x in quarterly["candidates"]} == {a["id"], b["id"], c["id"]}
    assert open_round(client, secretary, COUNCIL, "supplementary", m3).status_code == 409  # quarter opened
    ballot_round(client, quarterly, unit_voters, {a["id"]: 7, b["id"]: 2, c["id"]: 6})
    result = close(client, quarterly, secretary)
    assert result["decision"] is None and result["quota_met"] is None
    assert {x["deed_id"] for x in result["candidates"] if x["selected"]} == {a["id"], c["id"]}
    proposed = [m["payload"] for m in outbox_messages(runtime, "intake.deed_fate") if m["payload"]["status"] == "proposed"]
    assert {p["deed_id"] for p in proposed} == {a["id"], c["id"]}
    assert len(outbox_messages(runtime, "book.inscribe")) == 3  # quarterly rounds inscribe nothing

    # R11: the dossiers travel to the provincial council as messages; a redelivery adds nothing.
    assert {m["payload"]["deed_id"] for m in outbox_messages(runtime, "council.dossier_sent")} == {a["id"], c["id"]}
    assert deliver_dossiers(runtime) == 2
    assert deliver_dossiers(runtime) == 0
    # A deed proposed once is not a candidate again.
    with runtime.db.reading() as s:
        from services.council.orm import dossiers

        rows = {d.deed_id: d for d in s.execute(dossiers.select())}
    assert set(rows) == {a["id"], c["id"]}
    dossier = rows[a["id"]]
    assert dossier.quarter == str(q) and dossier.unit == UNIT and dossier.deed["title"] == "Cứu hộ cháy nhà"
    assert dossier.monthly_decision["number"] == f"1/QĐ-{UNIT}" and dossier.monthly_tally["ratio"] == "7/7"
    assert dossier.quarterly_tally["round_kind"] == "quarterly" and dossier.quarterly_tally["ratio"] == "7/7"


def recognised_and_proposed(client, runtime, auth, unit: str, n: int, q: Quarter) -> list[dict]:  # noqa: ANN001
    """Drive ``n`` deeds of ``unit`` through a monthly and a quarterly round: ``n`` dossiers."""
    deeds = proposed_not_received(client, runtime, auth, unit, n, q)
    deliver_dossiers(runtime)
    return deeds


def test_provincial_round_caps_ranks_and_runs_off_the_tied(client, runtime, auth, province, province_voters,
                                                             org_document) -> None:
    doc = copy.deepcopy(org_document)
    doc["province"]["council"]["cap_per_quarter"] = 2
    assert DECLARATION.load_org(runtime, doc) is True
    q = last_quarter()
    deeds = recognised_and_proposed(client, runtime, auth, "CATP-GN", 2, q)
    deeds += recognised_and_proposed(client, runtime, auth, "CAH-DM", 2, q)
    a, b, c, d = (x["id"] for x in deeds)

    assert open_round(client, auth("unit_secretary", "CATP-GN-0008"), PROVINCIAL, "provincial", str(q)).status_code == 403
    r = open_round(client, province, PROVINCIAL, "provincial", str(q))
    assert r.status_code == 201, r.get_json()
    prov = r.get_json()
    assert prov["status"] == "open" and prov["entitled"] == 11
    assert {x["deed_id"] for x in prov["candidates"]} == {a, b, c, d}

    # A 11/11; B and C 10/11 tie across place 2; D 9/11 passes but ranks below.
    ballot_round(client, prov, province_voters, {a: 11, b: 10, c: 10, d: 9})
    result = close(client, prov, province)
    by = {x["deed_id"]: x for x in result["candidates"]}
    assert [by[k]["passed"] for k in (a, b, c, d)] == [True, True, True, True]
    assert [by[k]["selected"] for k in (a, b, c, d)] == [True, False, False, False]
    assert result["decision"]["number"] == f"1/QĐ-{PROVINCE}"
    assert result["runoff"]
    (inscribe,) = [m["payload"] for m in outbox_messages(runtime, "book.inscribe") if m["payload"]["book"] == PROVINCE]
    assert inscribe["deed"]["id"] == a and inscribe["tally"]["round_kind"] == "provincial"
    assert inscribe["decision"]["issuer_name"] == "Công an tỉnh Đắk Nông"

    runoff = client.get(f"/api/v1/rounds/{result['runoff']}", headers=province).get_json()
    assert runoff["kind"] == "runoff" and runoff["runoff_of"] == prov["id"] and runoff["status"] == "open"
    assert {x["deed_id"] for x in runoff["candidates"]} == {b, c}
    listed = client.get(f"/api/v1/rounds?council={PROVINCIAL}&kind=runoff", headers=province).get_json()
    assert [x["id"] for x in listed["items"]] == [runoff["id"]]

    # The runoff fills the one place left; never more than the cap in all.
    ballot_round(client, runoff, province_voters, {b: 11, c: 9})
    final = close(client, runoff, province)
    assert {x["deed_id"] for x in final["candidates"] if x["selected"]} == {b}
    assert final["decision"]["number"] == f"2/QĐ-{PROVINCE}" and final["runoff"] is None
    inscribed = [m["payload"]["deed"]["id"] for m in outbox_messages(runtime, "book.inscribe")
                 if m["payload"]["book"] == PROVINCE]
    assert inscribed == [a, b]
    assert open_round(client, province, PROVINCIAL, "provincial", str(q)).status_code == 409


def test_a_runoff_that_ties_again_runs_off_again(client, runtime, auth, province, province_voters, org_document) -> None:
    doc = copy.deepcopy(org_document)
    doc["province"]["council"]["cap_per_quarter"] = 1
    DECLARATION.load_org(runtime, doc)
    q = last_quarter()
    a, b = (x["id"] for x in recognised_and_proposed(client, runtime, auth, "CATP-GN", 2, q))
    prov = open_round(client, province, PROVINCIAL, "provincial", str(q)).get_json()
    ballot_round(client, prov, province_voters, {a: 10, b: 10})
    first = close(client, prov, province)
    assert first["decision"] is None and first["runoff"]
    runoff = client.get(f"/api/v1/rounds/{first['runoff']}", headers=province).get_json()
    ballot_round(client, runoff, province_voters, {a: 11, b: 11})
    second = close(client, runoff, province)
    assert second["runoff"] and second["runoff"] != runoff["id"]
    again = client.get(f"/api/v1/rounds/{second['runoff']}", headers=province).get_json()
    assert again["runoff_of"] == runoff["id"] and {x["deed_id"] for x in again["candidates"]} == {a, b}


def test_runoffs_close_by_schedule_too(client, runtime, auth, province, province_voters, org_document) -> None:
    doc = copy.deepcopy(org_document)
    doc["province"]["council"]["cap_per_quarter"] = 1
    DECLARATION.load_org(runtime, doc)
    q = last_quarter()
    a, b = (x["id"] for x in recognised_and_proposed(client, runtime, auth, "CATP-GN", 2, q))
    prov = open_round(client, province, PROVINCIAL, "provincial", str(q)).get_json()
    ballot_round(client, prov, province_voters, {a: 10, b: 10})
    runoff_id = close(client, prov, province)["runoff"]
    runoff = client.get(f"/api/v1/rounds/{runoff_id}", headers=province).get_json()
    ballot_round(client, runoff, province_voters[:10], {a: 9, b: 8})
    after = dt.datetime.fromisoformat(runoff["closes_at"]) + dt.timedelta(seconds=1)
    assert runs.close_due_rounds(runtime, now=after) == [runoff_id]
    result = client.get(f"/api/v1/rounds/{runoff_id}/result").get_json()
    assert {x["deed_id"] for x in result["candidates"] if x["selected"]} == {a}


def proposed_not_received(client, runtime, auth, unit: str, n: int, q: Quarter) -> list[dict]:  # noqa: ANN001
    """Drive ``n`` deeds of ``unit`` through a monthly and a quarterly round; their ``n``
    dossiers are left in the outbox, on their way to the provincial council."""
    sec = auth("unit_secretary", f"{unit}-0008")
    voters = [auth("council_member", f"{unit}-000{i}") for i in range(1, 8)]
    month = str(q.months[0])
    deeds = [deed_copy(unit=unit, month=month, title=f"Việc tốt {unit} số {i}",
                       author={"officer": f"{unit}-0020", "name": "Cán bộ"}) for i in range(n)]
    rnd = open_monthly(client, sec, runtime, deeds, period=month, council=f"HD-{unit}", unit=unit)
    ballot_round(client, rnd, voters, {d["id"]: 7 for d in deeds})
    close(client, rnd, sec)
    quarterly = open_round(client, sec, f"HD-{unit}", "quarterly", str(q)).get_json()
    ballot_round(client, quarterly, voters, {d["id"]: 7 for d in deeds})
    close(client, quarterly, sec)
    return deeds


def test_r12_a_provincial_round_waits_for_the_dossiers_still_on_their_way(
        client, runtime, auth, province, monkeypatch) -> None:  # noqa: ANN001
    """R12: the candidates are the dossiers received; one sent by a quarterly round a moment ago
    is received before the provincial round freezes its candidates, not left out of it."""
    import threading

    q = last_quarter()
    received = recognised_and_proposed(client, runtime, auth, "CATP-GN", 1, q)
    on_their_way = proposed_not_received(client, runtime, auth, "CAH-DM", 2, q)
    with runtime.db.reading() as s:
        assert Dossiers(lambda: s).in_flight(str(q)) == 2
        assert Dossiers(lambda: s).in_flight(str(Quarter(q.year - 1, q.q))) == 0

    # Who may not open it is told so at once, dossiers on their way or not.
    started = time.monotonic()
    r = open_round(client, auth("unit_secretary", "CATP-GN-0008"), PROVINCIAL, "provincial", str(q))
    assert r.status_code == 403 and time.monotonic() - started < services.DOSSIER_WAIT_SECONDS / 2

    # Nobody delivers them: after the wait, 409 and no round.
    monkeypatch.setattr(services, "DOSSIER_WAIT_SECONDS", 0.3)
    r = open_round(client, province, PROVINCIAL, "provincial", str(q))
    assert r.status_code == 409 and "2 hồ sơ" in r.get_json()["detail"], r.get_json()
    listed = client.get(f"/api/v1/rounds?council={PROVINCIAL}", headers=province).get_json()
    assert listed["items"] == []

    # The worker delivers them while the opening waits: every dossier is a candidate.
    monkeypatch.setattr(services, "DOSSIER_WAIT_SECONDS", 10.0)
    worker = threading.Timer(0.3, deliver_dossiers, args=(runtime,))
    worker.start()
    r = open_round(client, province, PROVINCIAL, "provincial", str(q))
    worker.join()
    assert r.status_code == 201, r.get_json()
    assert {c["deed_id"] for c in r.get_json()["candidates"]} == {d["id"] for d in received + on_their_way}


@pytest.mark.distributed
def test_r12_dossiers_on_their_way_are_counted_on_postgresql(pg_settings, org_document) -> None:
    """The count reads the quarter out of the outbox's JSON envelopes: on PostgreSQL as on SQLite."""
    rt = make_runtime(pg_settings, copy.deepcopy(org_document))
    try:
        q = last_quarter()
        sent = [DossierSent(dossier_id=new_id(), deed_id=new_id(), quarter=str(q), unit=UNIT, quarterly_round_id=new_id(),
                            deed=deed_copy(), evidence=[], monthly_decision={}, monthly_tally={}, quarterly_tally={})
                for _ in range(2)]
        with rt.db.unit_of_work() as uow:
            uow.emit_many(sent)
            uow.commit()
        with rt.db.reading() as s:
            assert Dossiers(lambda: s).in_flight(str(q)) == 2
            assert Dossiers(lambda: s).in_flight(str(Quarter(q.year - 1, q.q))) == 0
        assert deliver_dossiers(rt) == 2
        with rt.db.reading() as s:
            assert Dossiers(lambda: s).in_flight(str(q)) == 0
    finally:
        rt.db.dispose()
