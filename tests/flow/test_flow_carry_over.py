"""R5a across the services: a deed of last month introduced after that month's round opened is
answered 200 ``carried_over`` and becomes a candidate of the unit's next monthly round, shown
with its own month; never of two rounds, never lost, whatever the order of the messages."""

from __future__ import annotations

from typing import Any

from shared import clock
from tests.flow.flow_harness import Flow, previous_month, this_month
from tests.intake.conftest import deed_body, people_of


def record(flow: Flow, headers: dict[str, str], officer: str, title: str, day: Any) -> dict[str, Any]:
    body = deed_body({"officer": officer}, title=title, occurred_on=day.isoformat())
    return flow.post("intake", "/api/v1/deeds", headers, body, 201).get_json()


def open_monthly(flow: Flow, headers: dict[str, str], council: str, period: str) -> dict[str, Any]:
    return flow.post("council", "/api/v1/rounds", headers, {"council": council, "kind": "monthly",
                                                             "period": period}, 201).get_json()


def test_a_deed_introduced_after_its_round_opened_is_carried_into_the_next(flow: Flow, org_document) -> None:
    p = people_of(org_document)
    secretary = flow.token("unit_secretary", p.secretary)
    last, day = previous_month()
    on_time = record(flow, secretary, p.officer, "Giới thiệu kịp tháng", day)
    late = record(flow, secretary, p.colleague, "Giới thiệu sau khi phiên tháng đã mở", day)
    assert flow.post("intake", f"/api/v1/deeds/{on_time['id']}/introduce", secretary, {}, 200).get_json()[
        "carried_over"] is False
    first = open_monthly(flow, secretary, p.council, last)
    flow.pump()
    first = flow.get("council", f"/api/v1/rounds/{first['id']}", secretary)
    assert first["status"] == "open"
    assert [c["deed_id"] for c in first["candidates"]] == [on_time["id"]]
    assert first["candidates"][0]["carried_over"] is False

    # R5a: the month is closed to introductions, but the deed is not stranded.
    answer = flow.post("intake", f"/api/v1/deeds/{late['id']}/introduce", secretary, {}, 200).get_json()
    assert (answer["status"], answer["carried_over"], answer["month"]) == ("introduced", True, last)
    again = flow.post("intake", f"/api/v1/deeds/{late['id']}/introduce", secretary, {}, 200).get_json()
    assert again == answer
    flow.pump()
    assert [c["deed_id"] for c in flow.get("council", f"/api/v1/rounds/{first['id']}", secretary)["candidates"]] == [
        on_time["id"]]

    current = record(flow, secretary, p.officer, "Việc của tháng này", clock.today())
    flow.post("intake", f"/api/v1/deeds/{current['id']}/introduce", secretary, {}, 200)
    nxt = open_monthly(flow, secretary, p.council, this_month())
    flow.pump()
    nxt = flow.get("council", f"/api/v1/rounds/{nxt['id']}", secretary)
    assert nxt["status"] == "open"
    by_deed = {c["deed_id"]: c for c in nxt["candidates"]}
    assert set(by_deed) == {late["id"], current["id"]}
    assert (by_deed[late["id"]]["carried_over"], by_deed[late["id"]]["month"]) == (True, last)
    assert (by_deed[current["id"]]["carried_over"], by_deed[current["id"]]["month"]) == (False, this_month())
    got = flow.get("intake", f"/api/v1/deeds/{late['id']}", secretary)
    assert (got["status"], got["carried_over"]) == ("in_round", True)

    # R10: the carried deed counts as introduced in its own month, put to the vote in the next.
    province = flow.token("province_secretary", p.province_secretary)
    rows = {r["month"]: r for m in (last, this_month())
            for r in flow.get("council", f"/api/v1/reports/monthly?month={m}", province)["items"] if r["unit"] == p.unit}
    assert (rows[last]["introduced"], rows[last]["candidates"]) == (2, 1)
    assert (rows[this_month()]["introduced"], rows[this_month()]["candidates"]) == (1, 2)

    # Every message again: nothing more anywhere.
    assert flow.redeliver_everything() == 0
    assert {c["deed_id"] for c in flow.get("council", f"/api/v1/rounds/{nxt['id']}", secretary)["candidates"]} == {
        late["id"], current["id"]}


def test_the_order_of_messages_changes_nothing(flow: Flow, org_document) -> None:
    """The introduction's message reaches council after the round it was carried into opened, and
    the next round's closing message is delivered twice: the deed is in that round once."""
    p = people_of(org_document)
    secretary = flow.token("unit_secretary", p.secretary)
    last, day = previous_month()
    first = flow.open_by_calendar(p.council, p.secretary, "monthly", last)
    flow.pump()
    assert flow.get("council", f"/api/v1/rounds/{first['id']}", secretary)["status"] == "closed"  # empty
    late = record(flow, secretary, p.officer, "Ghi muộn trong hạn R3", day)
    flow.post("intake", f"/api/v1/deeds/{late['id']}/introduce", secretary, {}, 200)
    nxt = open_monthly(flow, secretary, p.council, this_month())
    flow.pump(skip=("council.deed_introduced", "council.deeds_recorded"))
    (closed,) = [e for e in flow.delivered if e["type"] == "council.introductions_closed"
                 and e["payload"]["round_id"] == nxt["id"]]
    flow.deliver(closed)
    flow.pump()
    got = flow.get("council", f"/api/v1/rounds/{nxt['id']}", secretary)
    assert [(c["deed_id"], c["carried_over"], c["month"]) for c in got["candidates"]] == [(late["id"], True, last)]
    assert flow.redeliver_everything() == 0
