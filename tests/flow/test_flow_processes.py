"""The cases where a deed flows across the three services, on a running ``sovang up`` (real
worker processes), on the embedded default and on PostgreSQL + Redis, through API.md only."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

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
    r = system.http("POST", "/api/v1/rounds", secretary, {"council": p.council, "kind": "monthly",
                                                          "period": this_month()})
    assert r.status == 201, r.body
    nxt = settled(system, secretary, r.json["id"])
    in_first = {c["deed_id"] for c in first["candidates"]}
    in_next = {c["deed_id"] for c in nxt["candidates"]}
    assert not in_first & in_next and in_first | in_next == set(ids)
    assert in_next == {i for i, (_, carried) in answers.items() if carried}
    assert all(c["carried_over"] and c["month"] == last for c in nxt["candidates"])
    assert not any(c["carried_over"] for c in first["candidates"])
