"""The council's HTTP API through the Flask test client, with real tokens (API.md, council)."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from services.council import DECLARATION, runs, services
from services.council.domain.ballots import vote_receipt
from services.council.orm import voters, votes
from shared import clock
from shared.auth import Principal
from shared.clock import Month
from shared.messages import IntroductionsClosed
from shared.problems import as_problem
from shared.refusals import Refused
from tests.council.conftest import (
    AUTHORS,
    COUNCIL,
    MEMBERS,
    PROVINCE_SECRETARY,
    SECRETARY,
    UNIT,
    deed_copy,
    deliver,
    in_future,
    open_monthly,
    outbox_messages,
    this_month,
    vote,
)

PROBLEM = "application/problem+json"


def previous_month(n: int = 1) -> str:
    m = Month.of(clock.today())
    for _ in range(n):
        m = Month.of(m.first_day - dt.timedelta(days=1))
    return str(m)


# -- opening ----------------------------------------------------------------------------------------
def test_a_secretary_opens_a_monthly_round_which_waits_for_intake(client, runtime, secretary) -> None:
    r = client.post("/api/v1/rounds", json={"council": COUNCIL, "kind": "monthly", "period": this_month()},
                    headers=secretary)
    assert r.status_code == 201, r.get_json()
    rnd = r.get_json()
    assert set(rnd) == {"id", "council", "kind", "period", "status", "opens_at", "closes_at", "entitled", "voted",
                        "candidates", "runoff_of", "referred_from"}
    assert (rnd["council"], rnd["kind"], rnd["period"], rnd["status"]) == (COUNCIL, "monthly", this_month(), "opening")
    assert rnd["candidates"] == [] and rnd["voted"] == 0 and rnd["runoff_of"] is None
    # R21: day 7 of the next month, 17:00 local.
    nxt = Month.parse(this_month()).next()
    assert rnd["closes_at"] == f"{nxt}-07T17:00:00+07:00"
    assert rnd["opens_at"].endswith("+07:00")
    (env,) = outbox_messages(runtime, "intake.close_introductions")
    assert env["payload"] == {"round_id": rnd["id"], "council": COUNCIL, "unit": UNIT, "month": this_month()}


def test_a_given_deadline_is_kept(client, secretary) -> None:
    closes_at = (clock.now() + dt.timedelta(days=2)).replace(microsecond=0)
    r = client.post("/api/v1/rounds", headers=secretary, json={
        "council": COUNCIL, "kind": "monthly", "period": this_month(), "closes_at": closes_at.astimezone(dt.UTC).isoformat()})
    assert r.status_code == 201
    assert dt.datetime.fromisoformat(r.get_json()["closes_at"]) == closes_at


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"council": COUNCIL, "kind": "monthly"}, "period"),
        ({"council": COUNCIL, "kind": "weekly", "period": "2025-05"}, "kind"),
        ({"council": COUNCIL, "kind": "runoff", "period": "2025-05"}, "kind"),
        ({"council": COUNCIL, "kind": "monthly", "period": "2025-5"}, "period"),
        ({"council": COUNCIL, "kind": "monthly", "period": "2025-Q2"}, "period"),
        ({"council": COUNCIL, "kind": "quarterly", "period": "2025-05"}, "period"),
        ({"council": COUNCIL, "kind": "monthly", "period": "2099-01"}, "period"),      # future
        ({"council": COUNCIL, "kind": "monthly", "period": "2021-08"}, "period"),      # before the programme
        ({"council": COUNCIL, "kind": "monthly", "period": "THIS", "closes_at": "2030-01-01T10:00:00"}, "closes_at"),
        ({"council": COUNCIL, "kind": "monthly", "period": "THIS", "closes_at": "2020-01-01T10:00:00+07:00"}, "closes_at"),
        ({"council": COUNCIL, "kind": "monthly", "period": "THIS", "closes_at": "tomorrow"}, "closes_at"),
        ({"council": COUNCIL, "kind": "monthly", "period": "THIS", "extra": 1}, "extra"),
        ({"council": COUNCIL, "kind": "provincial", "period": "2025-Q1"}, "kind"),
        ({"council": "HD-NOWHERE", "kind": "monthly", "period": "THIS"}, "council"),
        ({"council": 5, "kind": "monthly", "period": "THIS"}, "council"),
    ],
)
def test_bad_fields_are_422(client, secretary, body: dict, field: str) -> None:
    body = {k: (this_month() if v == "THIS" else v) for k, v in body.items()}
    r = client.post("/api/v1/rounds", json=body, headers=secretary)
    assert r.status_code == 422, r.get_json()
    assert r.content_type == PROBLEM
    assert field in r.get_json()["errors"]


def test_unreadable_bodies(client, secretary) -> None:
    assert client.post("/api/v1/rounds", data="council=x", headers=secretary).status_code == 415
    r = client.post("/api/v1/rounds", data="{", content_type="application/json", headers=secretary)
    assert r.status_code == 400 and r.content_type == PROBLEM
    assert client.post("/api/v1/rounds", json=[1], headers=secretary).status_code == 422


def test_only_that_councils_secretary_opens_its_rounds(client, auth) -> None:
    body = {"council": COUNCIL, "kind": "monthly", "period": this_month()}
    assert client.post("/api/v1/rounds", json=body).status_code == 401
    bad = client.post("/api/v1/rounds", json=body, headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and bad.content_type == PROBLEM
    other = auth("unit_secretary", "CAH-DM-0008")
    r = client.post("/api/v1/rounds", json=body, headers=other)
    assert r.status_code == 403 and r.content_type == PROBLEM
    assert client.post("/api/v1/rounds", json=body, headers=auth("council_member", MEMBERS[0])).status_code == 403
    assert client.post("/api/v1/rounds", json=body, headers=auth("province_secretary", PROVINCE_SECRETARY)).status_code == 403
    # The secretary's subject under another role is not the secretary.
    assert client.post("/api/v1/rounds", json=body, headers=auth("officer", SECRETARY)).status_code == 403


def test_one_monthly_round_per_council_and_month(client, secretary) -> None:
    body = {"council": COUNCIL, "kind": "monthly", "period": this_month()}
    assert client.post("/api/v1/rounds", json=body, headers=secretary).status_code == 201
    again = client.post("/api/v1/rounds", json=body, headers=secretary)
    assert again.status_code == 409 and again.content_type == PROBLEM
    assert client.post("/api/v1/rounds", json={**body, "period": previous_month()}, headers=secretary).status_code == 201


def test_rounds_without_candidates_are_409(client, secretary, auth) -> None:
    quarter = str(Month.parse(this_month()).quarter)
    r = client.post("/api/v1/rounds", json={"council": COUNCIL, "kind": "quarterly", "period": quarter}, headers=secretary)
    assert r.status_code == 409
    r = client.post("/api/v1/rounds", json={"council": "HD-CAT", "kind": "provincial", "period": quarter},
                    headers=auth("province_secretary", PROVINCE_SECRETARY))
    assert r.status_code == 409
    r = client.post("/api/v1/rounds", json={"council": COUNCIL, "kind": "supplementary", "period": this_month()},
                    headers=secretary)
    assert r.status_code == 409  # no monthly round closed with its quota unmet


def test_idempotency_key_replays_the_first_response(client, runtime, secretary) -> None:
    body = {"council": COUNCIL, "kind": "monthly", "period": this_month()}
    h = {**secretary, "Idempotency-Key": "k-1"}
    first = client.post("/api/v1/rounds", json=body, headers=h)
    second = client.post("/api/v1/rounds", json=body, headers=h)
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.data == second.data
    assert len(outbox_messages(runtime, "intake.close_introductions")) == 1
    other = client.post("/api/v1/rounds", json={**body, "period": previous_month()}, headers=h)
    assert other.status_code == 422


# -- reading --------------------------------------------------------------------------------------
def test_who_reads_a_round(client, runtime, secretary, members, auth) -> None:
    rnd = open_monthly(client, secretary, runtime, [deed_copy()])
    path = f"/api/v1/rounds/{rnd['id']}"
    assert client.get(path, headers=members[MEMBERS[0]]).status_code == 200
    assert client.get(path, headers=auth("province_secretary", PROVINCE_SECRETARY)).status_code == 200
    assert client.get(path, headers=auth("council_member", "CAH-DM-0001")).status_code == 403
    assert client.get(path, headers=auth("unit_secretary", "CAH-DM-0008")).status_code == 403
    assert client.get(path, headers=auth("officer", AUTHORS[0])).status_code == 403
    assert client.get(path).status_code == 401
    missing = client.get("/api/v1/rounds/nope", headers=secretary)
    assert missing.status_code == 404 and missing.content_type == PROBLEM


def test_listing_rounds_with_filters_and_cursor(client, runtime, secretary, members, auth) -> None:
    ids = []
    for n in range(3):
        body = {"council": COUNCIL, "kind": "monthly", "period": previous_month(n)}
        ids.append(client.post("/api/v1/rounds", json=body, headers=secretary).get_json()["id"])
    dm = auth("unit_secretary", "CAH-DM-0008")
    client.post("/api/v1/rounds", json={"council": "HD-CAH-DM", "kind": "monthly", "period": this_month()}, headers=dm)

    page1 = client.get("/api/v1/rounds?limit=2", headers=secretary).get_json()
    assert [r["id"] for r in page1["items"]] == ids[:2] and page1["next"]
    page2 = client.get(f"/api/v1/rounds?limit=2&cursor={page1['next']}", headers=secretary).get_json()
    assert [r["id"] for r in page2["items"]] == ids[2:] and page2["next"] is None

    mine = client.get("/api/v1/rounds", headers=members[MEMBERS[0]]).get_json()
    assert {r["council"] for r in mine["items"]} == {COUNCIL}
    everyone = client.get("/api/v1/rounds", headers=auth("province_secretary", PROVINCE_SECRETARY)).get_json()
    assert {r["council"] for r in everyone["items"]} == {COUNCIL, "HD-CAH-DM"}
    by_period = client.get(f"/api/v1/rounds?period={previous_month(1)}", headers=secretary).get_json()
    assert [r["id"] for r in by_period["items"]] == [ids[1]]
    by_status = client.get(f"/api/v1/rounds?council={COUNCIL}&status=open", headers=secretary).get_json()
    assert by_status["items"] == []
    assert client.get("/api/v1/rounds?council=HD-CAH-DM", headers=secretary).status_code == 403
    assert client.get("/api/v1/rounds?status=done", headers=secretary).status_code == 422
    assert client.get("/api/v1/rounds?limit=501", headers=secretary).status_code == 422
    assert client.get("/api/v1/rounds?cursor=%%%", headers=secretary).status_code == 422
    for nonsense in ("abc", "7", "~eyJ4IjoxfQ", ids[0].upper()):  # not a round's id, as `next` gives
        assert "cursor" in client.get(f"/api/v1/rounds?cursor={nonsense}", headers=secretary).get_json()["errors"]
    assert client.get("/api/v1/rounds", headers=auth("officer", AUTHORS[0])).status_code == 403


# -- ballots --------------------------------------------------------------------------------------
def test_ballots_wait_for_the_round_to_open(client, secretary, members) -> None:
    r = client.post("/api/v1/rounds", json={"council": COUNCIL, "kind": "monthly", "period": this_month()},
                    headers=secretary)
    rnd = r.get_json()
    assert vote(client, rnd, members[MEMBERS[0]], {}).status_code == 409


def test_casting_ballots(client, runtime, secretary, members, auth) -> None:
    rnd = open_monthly(client, secretary, runtime, [deed_copy(), deed_copy(title="Bắt kẻ trộm")])
    assert rnd["status"] == "open" and rnd["entitled"] == 7 and len(rnd["candidates"]) == 2
    a, b = (c["id"] for c in rnd["candidates"])
    m0 = members[MEMBERS[0]]

    assert vote(client, rnd, m0, {a: "approve"}).status_code == 422                      # one missing
    assert vote(client, rnd, m0, {a: "approve", b: "approve", "x": "reject"}).status_code == 422
    bad = vote(client, rnd, m0, {a: "approve", b: "perhaps"})
    assert bad.status_code == 422 and f"choices.{b}" in bad.get_json()["errors"]  # flat, by field path
    assert client.post(f"/api/v1/rounds/{rnd['id']}/ballots", json={"choices": {a: "approve", b: "approve"},
                       "voter": "me"}, headers=m0).status_code == 422
    assert client.post(f"/api/v1/rounds/{rnd['id']}/ballots", json={"choices": [a]}, headers=m0).status_code == 422

    ok = vote(client, rnd, m0, {a: "approve", b: "reject"})
    assert ok.status_code == 201 and set(ok.get_json()) == {"receipt"}
    again = vote(client, rnd, m0, {a: "approve", b: "approve"})
    assert again.status_code == 409 and again.content_type == PROBLEM

    assert vote(client, rnd, auth("council_member", "CAH-DM-0001"), "approve").status_code == 403
    assert vote(client, rnd, secretary, "approve").status_code == 403
    assert vote(client, rnd, auth("council_member", MEMBERS[1]) | {}, "approve").status_code == 201
    assert client.get(f"/api/v1/rounds/{rnd['id']}", headers=m0).get_json()["voted"] == 2
    assert vote(client, {"id": "nope", "candidates": []}, m0, {}).status_code == 404
    # The round and the voter are judged before the body.
    outsider = auth("council_member", "CAH-DM-0001")
    assert client.post(f"/api/v1/rounds/{rnd['id']}/ballots", json={"x": 1}, headers=outsider).status_code == 403
    assert client.post("/api/v1/rounds/nope/ballots", json={"x": 1}, headers=m0).status_code == 404


def test_a_ballot_retried_with_its_idempotency_key_counts_once(client, runtime, secretary, members) -> None:
    rnd = open_monthly(client, secretary, runtime, [deed_copy()])
    h = {**members[MEMBERS[0]], "Idempotency-Key": "ballot-1"}
    first = vote(client, rnd, h, "approve")
    second = vote(client, rnd, h, "approve")
    assert first.status_code == second.status_code == 201
    assert first.get_json() == second.get_json()
    assert client.get(f"/api/v1/rounds/{rnd['id']}", headers=h).get_json()["voted"] == 1


def test_recused_members_vote_only_on_what_they_may(client, runtime, secretary, members) -> None:
    """R17: the author sits on the council; they vote on the other deed only, and a member who
    may vote on nothing casts no ballot and is not waited for."""
    own = deed_copy(author={"officer": MEMBERS[0], "name": "Trung tá Hoàng Văn Hoà"})
    rnd = open_monthly(client, secretary, runtime, [own, deed_copy()])
    a, b = (c["id"] for c in rnd["candidates"])
    assert rnd["entitled"] == 7
    assert vote(client, rnd, members[MEMBERS[0]], {a: "approve", b: "approve"}).status_code == 422
    assert vote(client, rnd, members[MEMBERS[0]], {b: "approve"}).status_code == 201
    result = client.get(f"/api/v1/rounds/{rnd['id']}/result", headers=secretary).get_json()
    assert {c["id"]: c["entitled"] for c in result["candidates"]} == {a: 6, b: 7}

    own_earlier = deed_copy(author=own["author"], month=previous_month())
    solo = open_monthly(client, secretary, runtime, [own_earlier], period=previous_month())
    assert solo["entitled"] == 6
    (c,) = solo["candidates"]
    assert vote(client, solo, members[MEMBERS[0]], {c["id"]: "approve"}).status_code == 409
    for m in MEMBERS[1:]:
        assert vote(client, solo, members[m], "approve").status_code == 201
    closed = client.post(f"/api/v1/rounds/{solo['id']}/close", headers=secretary)
    assert closed.status_code == 200, closed.get_json()
    assert closed.get_json()["candidates"][0]["ratio"] == "6/6"


def test_a_ballot_after_the_deadline_is_refused_even_before_the_sweep(runtime, client, secretary, members) -> None:
    rnd = open_monthly(client, secretary, runtime, [deed_copy()], closes_at=in_future(hours=1))
    (c,) = rnd["candidates"]
    who = Principal("council_member", MEMBERS[0])
    late = clock.now() + dt.timedelta(hours=1, seconds=1)
    with pytest.raises(Refused) as exc:
        runs.cast_ballot(runtime, who, rnd["id"], {c["id"]: "approve"}, now=late)
    assert as_problem(exc.value).status == 409


# -- closing --------------------------------------------------------------------------------------
def test_closing_early_needs_every_entitled_member(client, runtime, secretary, members, auth) -> None:
    rnd = open_monthly(client, secretary, runtime, [deed_copy()])
    for m in MEMBERS[:6]:
        assert vote(client, rnd, members[m], "approve").status_code == 201
    early = client.post(f"/api/v1/rounds/{rnd['id']}/close", headers=secretary)
    assert early.status_code == 409 and early.content_type == PROBLEM
    assert client.post(f"/api/v1/rounds/{rnd['id']}/close", headers=members[MEMBERS[0]]).status_code == 403
    assert client.post(f"/api/v1/rounds/{rnd['id']}/close", headers=auth("unit_secretary", "CAH-DM-0008")).status_code == 403
    assert vote(client, rnd, members[MEMBERS[6]], "reject").status_code == 201
    closed = client.post(f"/api/v1/rounds/{rnd['id']}/close", headers=secretary)
    assert closed.status_code == 200
    again = client.post(f"/api/v1/rounds/{rnd['id']}/close", headers=secretary)
    assert again.status_code == 409
    assert client.get(f"/api/v1/rounds/{rnd['id']}/result").get_json() == closed.get_json()
    assert vote(client, rnd, members[MEMBERS[0]], "approve").status_code == 409


def test_the_result_and_the_messages_of_a_monthly_round(client, runtime, secretary, members) -> None:
    """R7, R8: 6/7 passes and is recognised (decision, Inscribe in the unit book, recognised);
    5/7 fails (not_selected)."""
    d1, d2 = deed_copy(title="Cứu người đuối nước"), deed_copy(title="Trả lại tài sản")
    rnd = open_monthly(client, secretary, runtime, [d1, d2])
    c1, c2 = rnd["candidates"]
    receipts = []
    for i, m in enumerate(MEMBERS):
        choices = {c1["id"]: "approve" if i < 6 else "abstain", c2["id"]: "approve" if i < 5 else "reject"}
        receipts.append(vote(client, rnd, members[m], choices).get_json()["receipt"])

    before = client.get(f"/api/v1/rounds/{rnd['id']}/result", headers=members[MEMBERS[0]]).get_json()
    assert before["status"] == "open" and before["ballots"] == [] and before["candidates"][0]["approve"] is None
    assert client.get(f"/api/v1/rounds/{rnd['id']}/result").status_code == 401  # not public yet

    r = client.post(f"/api/v1/rounds/{rnd['id']}/close", headers=secretary)
    assert r.status_code == 200
    result = r.get_json()
    assert set(result) == {"round", "status", "candidates", "ballots", "decision", "runoff", "quota_met"}
    assert (result["round"], result["status"], result["runoff"], result["quota_met"]) == (rnd["id"], "closed", None, True)
    by_deed = {c["deed_id"]: c for c in result["candidates"]}
    assert by_deed[d1["id"]] == {"id": c1["id"], "deed_id": d1["id"], "approve": 6, "reject": 0, "abstain": 1,
                                 "entitled": 7, "ratio": "6/7", "passed": True, "selected": True,
                                 "withdrawn": False, "title": "Cứu người đuối nước", "author": d1["author"]}
    assert by_deed[d2["id"]] | {} == {"id": c2["id"], "deed_id": d2["id"], "approve": 5, "reject": 2, "abstain": 0,
                                      "entitled": 7, "ratio": "5/7", "passed": False, "selected": False,
                                      "withdrawn": False}
    # R19: published vote by vote, each found by its voter through their receipt.
    assert sorted(b["receipt"] for b in result["ballots"]) == sorted(
        vote_receipt(r, c["id"]) for r in receipts for c in (c1, c2))
    assert all(set(b) == {"receipt", "choices"} and len(b["choices"]) == 1 for b in result["ballots"])
    assert [b["receipt"] for b in result["ballots"]] == sorted(b["receipt"] for b in result["ballots"])
    year = clock.today().year
    assert result["decision"] == {"number": f"1/QĐ-{UNIT}", "date": clock.today().isoformat()}

    (inscribe,) = outbox_messages(runtime, "book.inscribe")
    p = inscribe["payload"]
    assert p["book"] == UNIT and p["source"] == f"{rnd['id']}:{c1['id']}"
    assert p["deed"]["id"] == d1["id"] and p["deed"]["title"] == "Cứu người đuối nước"
    assert p["decision"] == {"number": f"1/QĐ-{UNIT}", "date": clock.today().isoformat(), "issuer": UNIT,
                             "issuer_name": "Công an thành phố Gia Nghĩa"}
    assert p["tally"] == {"approve": 6, "reject": 0, "abstain": 1, "entitled": 7, "ratio": "6/7",
                          "round": rnd["id"], "round_kind": "monthly", "period": this_month()}
    fates = {m["payload"]["deed_id"]: m["payload"] for m in outbox_messages(runtime, "intake.deed_fate")}
    assert fates == {d1["id"]: {"deed_id": d1["id"], "status": "recognised", "round_id": rnd["id"]},
                     d2["id"]: {"deed_id": d2["id"], "status": "not_selected", "round_id": rnd["id"]}}
    assert str(year) in result["decision"]["date"]


def test_decisions_are_numbered_per_unit_per_year(client, runtime, secretary, members, auth) -> None:
    numbers = []
    for n in (1, 0):
        rnd = open_monthly(client, secretary, runtime, [deed_copy(month=previous_month(n))], period=previous_month(n))
        for m in MEMBERS:
            vote(client, rnd, members[m], "approve")
        numbers.append(client.post(f"/api/v1/rounds/{rnd['id']}/close", headers=secretary).get_json()["decision"]["number"])
    assert numbers == [f"1/QĐ-{UNIT}", f"2/QĐ-{UNIT}"]

    dm_sec = auth("unit_secretary", "CAH-DM-0008")
    rnd = open_monthly(client, dm_sec, runtime, [deed_copy(unit="CAH-DM", author={"officer": "CAH-DM-0020", "name": "X"})],
                       council="HD-CAH-DM", unit="CAH-DM")
    for m in [f"CAH-DM-000{i}" for i in range(1, 8)]:
        vote(client, rnd, auth("council_member", m), "approve")
    r = client.post(f"/api/v1/rounds/{rnd['id']}/close", headers=dm_sec)
    assert r.get_json()["decision"]["number"] == "1/QĐ-CAH-DM"


def test_no_deed_passes_quota_unmet_and_no_decision(client, runtime, secretary, members) -> None:
    rnd = open_monthly(client, secretary, runtime, [deed_copy()])
    for m in MEMBERS:
        vote(client, rnd, members[m], "reject")
    result = client.post(f"/api/v1/rounds/{rnd['id']}/close", headers=secretary).get_json()
    assert result["quota_met"] is False and result["decision"] is None
    assert outbox_messages(runtime, "book.inscribe") == []
    assert [m["payload"]["status"] for m in outbox_messages(runtime, "intake.deed_fate")] == ["not_selected"]


def test_a_month_with_no_introduction_is_not_opened(client, runtime, secretary) -> None:
    """API.md: a round with no candidate is 409. A monthly round learns its candidates from
    intake's answer: when that says the month had nothing, the secretary's round is cancelled
    and the month given back to introductions (ReopenIntroductions); nothing is decided, and
    the month can be opened again once something is introduced."""
    rnd = open_monthly(client, secretary, runtime, [], recorded=3)
    assert rnd["status"] == "cancelled" and rnd["candidates"] == [] and rnd["entitled"] == 0
    assert [m["payload"]["round_id"] for m in outbox_messages(runtime, "intake.reopen_introductions")] == [rnd["id"]]
    assert outbox_messages(runtime, "book.inscribe") == [] and outbox_messages(runtime, "intake.deed_fate") == []
    assert client.post(f"/api/v1/rounds/{rnd['id']}/close", headers=secretary).status_code == 409
    # The same answer again changes nothing (the round is no longer waiting for it).
    deliver(runtime, IntroductionsClosed(round_id=rnd["id"], unit=UNIT, month=rnd["period"], recorded=3, deeds=[]))
    assert len(outbox_messages(runtime, "intake.reopen_introductions")) == 1
    again = open_monthly(client, secretary, runtime, [deed_copy()])
    assert again["status"] == "open" and again["period"] == rnd["period"] and again["id"] != rnd["id"]


# -- R19: secrecy ---------------------------------------------------------------------------------
def test_who_voted_is_kept_apart_from_how(client, runtime, secretary, members) -> None:
    rnd = open_monthly(client, secretary, runtime, [deed_copy()])
    for i, m in enumerate(MEMBERS):
        vote(client, rnd, members[m], "approve" if i % 2 else "reject")
    with runtime.db.reading() as s:
        assert set(s.execute(sa.select(voters.c.member)).scalars()) == set(MEMBERS)
        stored = list(s.execute(sa.select(votes)))
        tables = sa.inspect(s.get_bind()).get_table_names()
        for table in tables:
            columns = {c["name"] for c in sa.inspect(s.get_bind()).get_columns(table)}
            if "member" in columns or "voter" in columns:
                assert "choice" not in columns or table == "votes"
        # No timestamp, serial id or rowid to line a vote up with a voter.
        assert {c["name"] for c in sa.inspect(s.get_bind()).get_columns("votes")} == {
            "round_id", "receipt", "candidate_id", "choice", "voter"}
        assert {c["name"] for c in sa.inspect(s.get_bind()).get_columns("voters")} == {"round_id", "member"}
        for t in ("votes", "voters"):
            with pytest.raises(sa.exc.OperationalError):
                s.execute(sa.text(f"SELECT rowid FROM {t}"))
    assert all(b.voter is None for b in stored)
    # Votes are kept in receipt order, which is random; voters in member order.
    assert [b.receipt for b in stored] == sorted(b.receipt for b in stored)
    result = client.post(f"/api/v1/rounds/{rnd['id']}/close", headers=secretary).get_json()
    body = str(result)
    assert not any(m in body for m in MEMBERS)


def test_open_ballots_name_the_voter_when_the_council_chose_them(client, runtime, secretary, members, org_document) -> None:
    doc = {**org_document, "units": [dict(u) for u in org_document["units"]]}
    unit = next(u for u in doc["units"] if u["code"] == UNIT)
    unit["council"] = {**unit["council"], "open_ballots": True}
    assert DECLARATION.load_org(runtime, doc) is True
    assert DECLARATION.load_org(runtime, doc) is False
    rnd = open_monthly(client, secretary, runtime, [deed_copy()])
    receipt = vote(client, rnd, members[MEMBERS[0]], "approve").get_json()["receipt"]
    for m in MEMBERS[1:]:
        vote(client, rnd, members[m], "approve")
    result = client.post(f"/api/v1/rounds/{rnd['id']}/close", headers=secretary).get_json()
    named = {b["receipt"]: b["voter"] for b in result["ballots"]}
    assert named[vote_receipt(receipt, rnd["candidates"][0]["id"])] == MEMBERS[0]


# -- R19a: paper ballots and minutes --------------------------------------------------------------
def test_paper_ballots_and_the_counting_minutes(client, runtime, secretary, members) -> None:
    rnd = open_monthly(client, secretary, runtime, [deed_copy(), deed_copy(title="Hiến máu cứu người")])
    a, b = (c["id"] for c in rnd["candidates"])
    path = f"/api/v1/rounds/{rnd['id']}/paper-ballots"
    papers = [{"choices": {a: "approve", b: "approve"}}] * 6 + [{"choices": {a: "reject", b: "abstain"}}]
    assert client.post(path, json={"voters": 8, "ballots": papers}, headers=secretary).status_code == 422
    r = client.post(path, json={"voters": 6, "ballots": papers}, headers=secretary)
    assert r.status_code == 422 and "ballots" in r.get_json()["errors"]
    assert client.post(path, json={"voters": 7, "ballots": papers}, headers=members[MEMBERS[0]]).status_code == 403
    assert client.post(path, json={"voters": "7", "ballots": papers}, headers=secretary).status_code == 422
    assert client.get(f"/api/v1/rounds/{rnd['id']}/minutes.pdf", headers=secretary).status_code == 409

    # R20a: a count entered first with a mistake, corrected before the close: the new one replaces it.
    wrong = [{"choices": {a: "reject", b: "reject"}}] * 5
    r = client.post(path, json={"voters": 5, "ballots": wrong}, headers=secretary)
    assert r.status_code == 201, r.get_json()
    assert client.get(f"/api/v1/rounds/{rnd['id']}", headers=secretary).get_json()["voted"] == 5
    r = client.post(path, json={"voters": 7, "ballots": papers}, headers=secretary)
    assert r.status_code == 201, r.get_json()
    counted = r.get_json()
    # R19: the answer is the votes as published, one candidate each, never a paper ballot whole.
    assert counted["voters"] == 7 and len(counted["ballots"]) == 14
    assert all(len(x["choices"]) == 1 for x in counted["ballots"])
    assert client.get(f"/api/v1/rounds/{rnd['id']}", headers=secretary).get_json()["voted"] == 7
    assert vote(client, rnd, members[MEMBERS[0]], "approve").status_code == 409

    result = client.post(f"/api/v1/rounds/{rnd['id']}/close", headers=secretary).get_json()
    by_id = {c["id"]: c for c in result["candidates"]}
    assert (by_id[a]["approve"], by_id[a]["reject"], by_id[a]["ratio"], by_id[a]["passed"]) == (6, 1, "6/7", True)
    assert (by_id[b]["approve"], by_id[b]["abstain"], by_id[b]["passed"]) == (6, 1, True)
    assert result["ballots"] == counted["ballots"]
    # Once closed, the count stays as it was.
    assert client.post(path, json={"voters": 5, "ballots": wrong}, headers=secretary).status_code == 409

    pdf = client.get(f"/api/v1/rounds/{rnd['id']}/minutes.pdf", headers=secretary)
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF") and len(pdf.data) > 2000
    assert client.get("/api/v1/rounds/nope/minutes.pdf", headers=secretary).status_code == 404


def test_paper_ballots_after_electronic_ones_are_409(client, runtime, secretary, members) -> None:
    rnd = open_monthly(client, secretary, runtime, [deed_copy()])
    assert vote(client, rnd, members[MEMBERS[0]], "approve").status_code == 201
    papers = [{"choices": {rnd["candidates"][0]["id"]: "approve"}}]
    r = client.post(f"/api/v1/rounds/{rnd['id']}/paper-ballots", json={"voters": 1, "ballots": papers}, headers=secretary)
    assert r.status_code == 409


# -- R10: the monthly report ----------------------------------------------------------------------
def test_the_monthly_report(client, runtime, secretary, members, auth) -> None:
    from shared.messages import DeedIntroduced, DeedRecorded

    month = this_month()
    d1, d2 = deed_copy(), deed_copy()
    for d in (d1, d2, deed_copy()):
        deliver(runtime, DeedRecorded(deed_id=d["id"], unit=UNIT, month=month),
                handle=lambda uow, m: services.deed_recorded(uow, m))
    introduced = DeedIntroduced(deed_id=d1["id"], unit=UNIT, month=month)
    for _ in range(2):  # a redelivered message (another id) is still counted once
        deliver(runtime, introduced, handle=lambda uow, m: services.deed_introduced(uow, m))
    province = auth("province_secretary", PROVINCE_SECRETARY)
    r = client.get(f"/api/v1/reports/monthly?month={month}", headers=province)
    assert r.status_code == 200
    body = r.get_json()
    assert body["next"] is None and len(body["items"]) == 15
    row = next(x for x in body["items"] if x["unit"] == UNIT)
    assert row == {"unit": UNIT, "month": month, "recorded": 3, "introduced": 1, "candidates": 0, "recognised": 0,
                   "revoked": 0, "quota_met": None}

    rnd = open_monthly(client, secretary, runtime, [d1, d2], recorded=3)
    for m in MEMBERS:
        vote(client, rnd, members[m], {rnd["candidates"][0]["id"]: "approve", rnd["candidates"][1]["id"]: "reject"})
    client.post(f"/api/v1/rounds/{rnd['id']}/close", headers=secretary)
    mine = client.get(f"/api/v1/reports/monthly?month={month}", headers=secretary).get_json()
    assert mine["items"] == [{"unit": UNIT, "month": month, "recorded": 3, "introduced": 2, "candidates": 2,
                              "recognised": 1, "revoked": 0, "quota_met": True}]

    csv = client.get(f"/api/v1/reports/monthly?month={month}", headers={**secretary, "Accept": "text/csv"})
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    # UTF-8 with a BOM, so that a spreadsheet shows its diacritics (API.md).
    assert csv.data.startswith(b"\xef\xbb\xbf")
    assert csv.data.decode("utf-8-sig").splitlines() == [
        "unit,month,recorded,introduced,candidates,recognised,revoked,quota_met",
        f"{UNIT},{month},3,2,2,1,0,true",
    ]
    assert client.get("/api/v1/reports/monthly?month=2025-13", headers=province).status_code == 422
    assert client.get("/api/v1/reports/monthly", headers=province).status_code == 422
    assert client.get(f"/api/v1/reports/monthly?month={month}", headers=members[MEMBERS[0]]).status_code == 403
    assert client.get(f"/api/v1/reports/monthly?month={month}").status_code == 401


def test_the_handshake_is_idempotent(client, runtime, secretary) -> None:
    r = client.post("/api/v1/rounds", json={"council": COUNCIL, "kind": "monthly", "period": this_month()},
                    headers=secretary)
    rnd = r.get_json()
    msg = IntroductionsClosed(round_id=rnd["id"], unit=UNIT, month=this_month(), recorded=1, deeds=[deed_copy()])
    from shared.messages import envelope

    env = envelope(msg, clock.isoformat(clock.now()))
    assert deliver(runtime, msg, env=env) is True
    assert deliver(runtime, msg, env=env) is False  # the same message again: the inbox
    # Another message for the round (intake answering twice): the round is no longer opening.
    assert deliver(runtime, IntroductionsClosed(round_id=rnd["id"], unit=UNIT, month=this_month(), recorded=2,
                                                deeds=[deed_copy(), deed_copy()])) is True
    got = client.get(f"/api/v1/rounds/{rnd['id']}", headers=secretary).get_json()
    assert got["status"] == "open" and [c["deed_id"] for c in got["candidates"]] == [msg.deeds[0]["id"]]
    # A message about a round this council never opened changes nothing.
    assert deliver(runtime, IntroductionsClosed(round_id="unknown", unit=UNIT, month=this_month(), recorded=0, deeds=[]))


def test_a_retried_ballot_leaves_no_trace_of_its_voter(client, runtime, secretary, members) -> None:
    """R19 with Idempotency-Key: the stored answer cannot be found or read without the client's key."""
    from services.council.orm import ballot_requests
    from shared.tables import idempotency_records

    rnd = open_monthly(client, secretary, runtime, [deed_copy()])
    h = {**members[MEMBERS[0]], "Idempotency-Key": "my-secret-key"}
    receipt = vote(client, rnd, h, "approve").get_json()["receipt"]
    assert vote(client, rnd, h, "approve").get_json() == {"receipt": receipt}
    assert vote(client, rnd, h, "reject").status_code == 422  # same key, another body
    with runtime.db.reading() as s:
        assert s.execute(sa.select(idempotency_records)).all() == []
        (row,) = s.execute(sa.select(ballot_requests)).all()
    stored = repr(tuple(row))
    assert receipt not in stored and MEMBERS[0] not in stored and "my-secret-key" not in stored
    assert runs.forget_ballot_requests(runtime) == 0
    assert runs.forget_ballot_requests(runtime, now=clock.now() + dt.timedelta(days=3)) == 1
