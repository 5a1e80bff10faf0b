"""The walking skeleton end to end, through the contract only (API.md): one deed from a unit's
POST to the unit book's Atom feed, on the embedded default and on PostgreSQL + Redis with
real Celery worker processes, closed once by the secretary and once by the scheduler."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from services.council.domain.ballots import vote_receipt
from tests.e2e.harness import System, poll

pytestmark = pytest.mark.slow

TZ = dt.timezone(dt.timedelta(hours=7))
ORG_FILE = Path(__file__).resolve().parents[2] / "shared" / "data" / "dak-nong.json"


def people(unit_code: str) -> dict:
    org = json.loads(ORG_FILE.read_text("utf-8"))
    unit = next(u for u in org["units"] if u["code"] == unit_code)
    members = unit["council"]["members"]
    for sub in unit["subunits"]:
        plain = [o["code"] for o in org["officers"] if o.get("subunit") == sub["code"]
                 and o["code"] not in {*members, sub["lead"], unit["secretary"]}]
        if plain:
            return {"council": unit["council"]["code"], "members": members, "secretary": unit["secretary"],
                    "lead": sub["lead"], "officer": plain[0]}
    raise AssertionError(f"no plain officer in {unit_code}")


@pytest.fixture(params=["embedded", "distributed"])
def system(request, tmp_path):
    if request.param == "distributed":
        pg = request.getfixturevalue("pg_database")
        redis_url = request.getfixturevalue("redis_url")
        env = {"SOVANG_DATABASE_URL": pg, "SOVANG_BROKER_URL": redis_url}
    else:
        env = {"SOVANG_DATABASE_URL": "", "SOVANG_BROKER_URL": ""}
    env["SOVANG_SWEEP_SECONDS"] = "1"
    s = System(tmp_path / "home", env)
    s.start()
    try:
        yield s
    finally:
        code = s.stop()
        print(s.tail(30))
    assert code == 0, f"sovang up did not stop cleanly (exit {code}):\n{s.tail()}"
    if request.param == "embedded":
        assert not (tmp_path / "home" / "broker.sock").exists(), "the embedded broker outlived sovang up"


def record(system: System, token: str, officer: str, title: str) -> dict:
    today = dt.datetime.now(TZ).date()
    r = system.http("POST", "/api/v1/deeds", token, {
        "author": {"officer": officer}, "occurred_on": today.isoformat(), "kind": "good_deed",
        "relation": "direct", "title": title, "description": f"{title}. Bà con địa phương ghi nhận.",
        "place": "Đắk Mil", "beneficiaries": "Hộ bà Nguyễn Thị H'Lan",
    })
    assert r.status == 201, r.body
    deed = r.json
    assert deed["status"] == "recorded" and deed["month"] == today.strftime("%Y-%m")
    return deed


def open_round(system: System, token: str, council: str, **extra) -> dict:
    month = dt.datetime.now(TZ).strftime("%Y-%m")
    r = system.http("POST", "/api/v1/rounds", token, {"council": council, "kind": "monthly", "period": month, **extra})
    assert r.status == 201, r.body
    rid = r.json["id"]
    got = poll(lambda: system.http("GET", f"/api/v1/rounds/{rid}", token),
               lambda g: g.status == 200 and g.json["status"] == "open")
    assert got.status == 200 and got.json["status"] == "open", got.body
    return got.json


def vote(system: System, rnd: dict, member_tokens: list[str], approvals: dict[str, int]) -> list[str]:
    receipts = []
    for i, tok in enumerate(member_tokens):
        choices = {c["id"]: "approve" if i < approvals[c["deed_id"]] else "reject" for c in rnd["candidates"]}
        r = system.http("POST", f"/api/v1/rounds/{rnd['id']}/ballots", tok, {"choices": choices})
        assert r.status == 201, r.body
        receipts.append(r.json["receipt"])
    return receipts


def test_one_deed_from_post_to_feed(system: System) -> None:
    org_load = system.cli("org", "load", str(ORG_FILE))
    again = system.cli("org", "load", str(ORG_FILE))
    assert "không có gì thay đổi" in again.stdout, (org_load.stdout, again.stdout)

    dm = people("CAH-DM")
    x = system.token("officer", dm["officer"])
    lead = system.token("subunit_lead", dm["lead"])
    sec = system.token("unit_secretary", dm["secretary"])
    members = system.tokens("council_member", dm["members"])
    refused = system.cli("token", "issue", "--role", "province_secretary", "--subject", dm["officer"], check=False)
    assert refused.returncode != 0 and not refused.stdout.strip()

    # API.md: a round with no candidate is 409 — a monthly one too, once intake answered that
    # nothing was introduced; the month still takes introductions (they are not carried over).
    month = dt.datetime.now(TZ).strftime("%Y-%m")
    empty = system.http("POST", "/api/v1/rounds", sec, {"council": dm["council"], "kind": "monthly", "period": month})
    assert empty.status == 409 and "Không có việc tốt nào" in empty.json["detail"], empty.body
    reopened = poll(lambda: system.http("GET", "/api/v1/audit/intake", sec),
                    lambda g: g.status == 200 and any(x["action"] == "month.reopened_to_introductions"
                                                      for x in g.json["items"]))
    assert any(x["action"] == "month.reopened_to_introductions" for x in reopened.json["items"]), reopened.body

    run = secrets.token_hex(3)
    titles = [f"Dẫn đường cho đoàn khách lạc trong rừng cao su [{run}]",
              f"Sửa mái nhà cho cụ ông neo đơn sau trận lốc [{run}]"]
    d1, d2 = (record(system, x, dm["officer"], t) for t in titles)
    for d in (d1, d2):
        r = system.http("POST", f"/api/v1/deeds/{d['id']}/introduce", lead, {})
        assert r.status == 200 and r.json["status"] == "introduced" and r.json["carried_over"] is False, r.body

    rnd = open_round(system, sec, dm["council"])
    assert {c["deed_id"] for c in rnd["candidates"]} == {d1["id"], d2["id"]}
    assert rnd["entitled"] == 7

    # Once the month's round has opened, an introduction is carried into the next round (R5a).
    late = record(system, x, dm["officer"], f"Giúp học sinh qua suối mùa lũ [{run}]")
    r = system.http("POST", f"/api/v1/deeds/{late['id']}/introduce", lead, {})
    assert r.status == 200 and r.json["carried_over"] is True, r.body

    receipts = vote(system, rnd, members, {d1["id"]: 6, d2["id"]: 5})
    assert len(set(receipts)) == 7
    again = system.http("POST", f"/api/v1/rounds/{rnd['id']}/ballots", members[0],
                        {"choices": {c["id"]: "approve" for c in rnd["candidates"]}})
    assert again.status == 409

    r = system.http("POST", f"/api/v1/rounds/{rnd['id']}/close", sec, {})
    assert r.status == 200, r.body
    result = {c["deed_id"]: c for c in r.json["candidates"]}
    assert (result[d1["id"]]["approve"], result[d1["id"]]["reject"], result[d1["id"]]["ratio"]) == (6, 1, "6/7")
    assert result[d1["id"]]["passed"] is True and result[d1["id"]]["selected"] is True
    assert result[d2["id"]]["ratio"] == "5/7" and result[d2["id"]]["passed"] is False
    assert r.json["decision"]["number"]
    assert r.json["quota_met"] is True
    # R19: published vote by vote, each found through its voter's receipt.
    assert sorted(b["receipt"] for b in r.json["ballots"]) == sorted(
        vote_receipt(receipt, c["id"]) for receipt in receipts for c in rnd["candidates"])
    assert system.http("POST", f"/api/v1/rounds/{rnd['id']}/close", sec, {}).status == 409

    entries = poll(lambda: system.http("GET", "/api/v1/books/CAH-DM/entries").json,
                   lambda e: e and any(x["deed"]["id"] == d1["id"] for x in e["items"]))
    entry = next(x for x in entries["items"] if x["deed"]["id"] == d1["id"])
    assert entry["deed"]["title"] == titles[0]
    assert "beneficiaries" not in json.dumps(entry) and "H'Lan" not in json.dumps(entry, ensure_ascii=False)
    verify = system.http("GET", "/api/v1/books/CAH-DM/verify").json
    assert verify["valid"] is True and verify["head"] == entry["hash"]

    feed = system.http("GET", "/feeds/CAH-DM.atom")
    assert feed.status == 200
    texts = [el.text or "" for el in ET.fromstring(feed.body).iter()]
    assert any(titles[0] in t for t in texts)
    assert not any(titles[1] in t for t in texts)

    s1 = poll(lambda: system.http("GET", f"/api/v1/deeds/{d1['id']}", x).json,
              lambda d: d["status"] == "recognised" and d["book_entries"])
    assert s1["status"] == "recognised"
    assert s1["book_entries"] == [{"book": "CAH-DM", "seq": entry["seq"]}]
    s2 = poll(lambda: system.http("GET", f"/api/v1/deeds/{d2['id']}", x).json,
              lambda d: d["status"] == "not_selected")
    assert s2["status"] == "not_selected"


def test_the_scheduler_closes_a_round_at_its_deadline(system: System) -> None:
    system.cli("org", "load", str(ORG_FILE))
    cj = people("CAH-CJ")
    x = system.token("officer", cj["officer"])
    lead = system.token("subunit_lead", cj["lead"])
    sec = system.token("unit_secretary", cj["secretary"])
    members = system.tokens("council_member", cj["members"])
    deed = record(system, x, cj["officer"], f"Trả lại ví cho người đánh rơi [{secrets.token_hex(3)}]")
    assert system.http("POST", f"/api/v1/deeds/{deed['id']}/introduce", lead, {}).status == 200

    closes_at = dt.datetime.now(TZ) + dt.timedelta(seconds=12)
    rnd = open_round(system, sec, cj["council"], closes_at=closes_at.isoformat(timespec="seconds"))
    vote(system, rnd, members[:6], {deed["id"]: 6})  # one member never votes
    early = system.http("POST", f"/api/v1/rounds/{rnd['id']}/close", sec, {})
    assert early.status == 409, "a secretary cannot close before the deadline while a member has not voted"

    result = poll(lambda: system.http("GET", f"/api/v1/rounds/{rnd['id']}/result", sec),
                  lambda r: r.status == 200 and r.json["status"] == "closed", timeout=40)
    assert result.json["status"] == "closed", result.body
    closed = system.http("GET", f"/api/v1/rounds/{rnd['id']}", sec).json
    assert closed["status"] == "closed"
    (cand,) = result.json["candidates"]
    assert (cand["approve"], cand["entitled"], cand["ratio"], cand["passed"]) == (6, 7, "6/7", True)
    entries = poll(lambda: system.http("GET", "/api/v1/books/CAH-CJ/entries").json,
                   lambda e: e and len(e["items"]) == 1)
    assert [e["deed"]["id"] for e in entries["items"]] == [deed["id"]]
