"""The cases where a deed flows across the three services, on a running ``sovang up`` (real
worker processes), on the embedded default and on PostgreSQL + Redis, through API.md only."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from shared import clock
from tests.conftest import ORG_FILE
from tests.e2e.harness import System, poll
from tests.flow.flow_harness import previous_month, this_month
from tests.intake.conftest import deed_body, people_of

pytestmark = pytest.mark.slow


@pytest.fixture(params=["embedded", "distributed"])
def system(request: pytest.FixtureRequest, tmp_path) -> Iterator[System]:
    if request.param == "distributed":
        env = {"SOVANG_DATABASE_URL": request.getfixturevalue("pg_database"),
               "SOVANG_BROKER_URL": request.getfixturevalue("redis_url")}
    else:
        env = {"SOVANG_DATABASE_URL": "", "SOVANG_BROKER_URL": ""}
    # R3: last month's deeds stay recordable whatever today's date (R5a is about them).
    env.update(SOVANG_SWEEP_SECONDS="1", SOVANG_LATE_DAYS="45")
    s = System(tmp_path / "home", env)
    s.start()
    s.cli("org", "load", str(ORG_FILE))
    try:
        yield s
    finally:
        s.stop()


def settled(system: System, token: str, round_id: str) -> dict:
    got = poll(lambda: system.http("GET", f"/api/v1/rounds/{round_id}", token),
               lambda g: g.status == 200 and g.json["status"] != "opening", timeout=60)
    assert got.status == 200 and got.json["status"] != "opening", got.body
    return got.json


def test_introductions_racing_the_round_s_opening_each_land_in_exactly_one_round(system: System,
                                                                                 org_document) -> None:
    """R5a: a month's round opens while its deeds are being introduced: every introduction is
    answered 200; those answered before intake closed the month are candidates of that round, the
    others (``carried_over``) of the unit's next monthly round, with their own month shown."""
    p = people_of(org_document)
    secretary = system.token("unit_secretary", p.secretary)
    last, day = previous_month()
    ids = []
    for i in range(12):
        body = deed_body({"officer": (p.officer, p.colleague, p.other_officer)[i % 3]},
                         title=f"Giúp dân trong mùa lũ #{i}", occurred_on=day.isoformat())
        r = system.http("POST", "/api/v1/deeds", secretary, body)
        assert r.status == 201, r.body
        ids.append(r.json["id"])
    barrier = threading.Barrier(len(ids) + 1)
    answers: dict[str, tuple[int, bool]] = {}
    opened: list = []

    def introduce(deed_id: str) -> None:
        barrier.wait()
        r = system.http("POST", f"/api/v1/deeds/{deed_id}/introduce", secretary, {})
        answers[deed_id] = (r.status, (r.json or {}).get("carried_over"))

    def open_round() -> None:
        barrier.wait()
        opened.append(system.http("POST", "/api/v1/rounds", secretary,
                                  {"council": p.council, "kind": "monthly", "period": last}))

    threads = [threading.Thread(target=introduce, args=(i,)) for i in ids] + [threading.Thread(target=open_round)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert opened[0].status == 201, opened[0].body
    assert {status for status, _ in answers.values()} == {200} and len(answers) == len(ids)
    first = settled(system, secretary, opened[0].json["id"])
    carried = {i for i, (_, was_carried) in answers.items() if was_carried}
    r = system.http("POST", "/api/v1/rounds", secretary, {"council": p.council, "kind": "monthly",
                                                          "period": this_month()})
    if not carried:
        # Every introduction beat the opening: the next round has no candidate (API.md: 409).
        assert r.status == 409, r.body
        nxt = {"candidates": []}
    else:
        assert r.status == 201, r.body
        nxt = settled(system, secretary, r.json["id"])
    in_first = {c["deed_id"] for c in first["candidates"]}
    in_next = {c["deed_id"] for c in nxt["candidates"]}
    assert not in_first & in_next and in_first | in_next == set(ids)
    assert in_next == carried
    assert all(c["carried_over"] and c["month"] == last for c in nxt["candidates"])
    assert not any(c["carried_over"] for c in first["candidates"])


def test_a_unit_deed_is_referred_and_a_revocation_reaches_every_service(system: System, org_document) -> None:
    """R17a and R15a on running workers: a deed of the whole unit goes to the province's referral
    round and is inscribed in the unit's book under its decision; a revocation in that book makes
    the deed ``revoked`` in intake, ``revoked`` in the R10 report, and keeps it out of the quarter."""
    p = people_of(org_document)
    unit = next(u for u in org_document["units"] if u["code"] == p.unit)
    province = org_document["province"]
    secretary = system.token("unit_secretary", p.secretary)
    province_secretary = system.token("province_secretary", p.province_secretary)
    unit_members = system.tokens("council_member", unit["council"]["members"])
    province_members = system.tokens("council_member", province["council"]["members"])
    today = clock.today().isoformat()
    whole = system.http("POST", "/api/v1/deeds", secretary, deed_body(
        {"collective": p.unit}, title="Cả đơn vị cứu dân vùng lũ", occurred_on=today)).json
    single = system.http("POST", "/api/v1/deeds", secretary, deed_body(
        {"officer": p.officer}, title="Dắt cụ bà qua đường", occurred_on=today)).json
    for deed in (whole, single):
        assert system.http("POST", f"/api/v1/deeds/{deed['id']}/introduce", secretary, {}).status == 200
    r = system.http("POST", "/api/v1/rounds", secretary, {"council": p.council, "kind": "monthly",
                                                          "period": this_month()})
    assert r.status == 201, r.body
    monthly = settled(system, secretary, r.json["id"])
    assert [c["deed_id"] for c in monthly["candidates"]] == [single["id"]]
    status = poll(lambda: system.http("GET", f"/api/v1/deeds/{whole['id']}", secretary).json["status"],
                  lambda s: s == "referred")
    assert status == "referred"
    (referral,) = system.http("GET", "/api/v1/rounds?kind=referral", province_secretary).json["items"]
    assert (referral["referred_from"], [c["deed_id"] for c in referral["candidates"]]) == (p.council, [whole["id"]])

    def vote_all(rnd: dict, tokens: list[str]) -> None:
        for token in tokens:
            r = system.http("POST", f"/api/v1/rounds/{rnd['id']}/ballots", token,
                            {"choices": {c["id"]: "approve" for c in rnd["candidates"]}})
            assert r.status == 201, r.body

    vote_all(monthly, unit_members)
    assert system.http("POST", f"/api/v1/rounds/{monthly['id']}/close", secretary, {}).status == 200
    vote_all(referral, province_members)
    closed = system.http("POST", f"/api/v1/rounds/{referral['id']}/close", province_secretary, {})
    assert closed.status == 200 and closed.json["candidates"][0]["selected"], closed.body
    entries = poll(lambda: system.http("GET", f"/api/v1/books/{p.unit}/entries").json["items"],
                   lambda items: len(items) == 2)
    by_deed = {e["deed"]["id"]: e for e in entries}
    assert set(by_deed) == {whole["id"], single["id"]}
    assert by_deed[whole["id"]]["decision"]["number"] == closed.json["decision"]["number"]

    r = system.http("POST", f"/api/v1/books/{p.unit}/revocations", secretary,
                    {"seq": by_deed[single["id"]]["seq"], "reason": "Khai không đúng sự thật"})
    assert r.status == 201, r.body
    got = poll(lambda: system.http("GET", f"/api/v1/deeds/{single['id']}", secretary).json,
               lambda d: d["status"] == "revoked")
    assert got["status"] == "revoked"

    def row() -> dict:
        items = system.http("GET", f"/api/v1/reports/monthly?month={this_month()}", province_secretary).json["items"]
        return next(i for i in items if i["unit"] == p.unit)

    counted = poll(row, lambda r: r["revoked"] == 1)
    assert (counted["recognised"], counted["revoked"], counted["quota_met"]) == (1, 1, True)
    today_ = clock.today()
    r = system.http("POST", "/api/v1/rounds", secretary, {
        "council": p.council, "kind": "quarterly", "period": f"{today_.year}-Q{(today_.month - 1) // 3 + 1}"})
    assert r.status == 201, r.body
    assert [c["deed_id"] for c in r.json["candidates"]] == [whole["id"]]
