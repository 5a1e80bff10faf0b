"""Council's use cases called as their entrypoints call them, ``fn(uow, ctx, actor, …)``: they
write in the unit of work they are given and never commit it; what the entrypoint rolls back
never happened. And the one place the API's view commits before it answers (a monthly round
waiting for intake's answer), seen from the client."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
from pathlib import Path

import pytest

from services.council import runs, services
from services.council.domain.rounds import Round
from services.council.repository import Rounds
from shared.auth import Principal
from shared.config import Settings
from shared.context import Context
from shared.messages import (
    CloseIntroductions,
    DeedFateDecided,
    DeedRevoked,
    DossierSent,
    Inscribe,
    IntroductionsClosed,
    ReopenIntroductions,
)
from shared.org import Organisation
from shared.refusals import Conflict, Forbidden, Invalid, NotFound
from tests.council.conftest import (
    COUNCIL,
    MEMBERS,
    PROVINCE_SECRETARY,
    PROVINCIAL,
    PROVINCIAL_MEMBERS,
    SECRETARY,
    UNIT,
    deed_copy,
    deliver,
    in_future,
    open_monthly,
    outbox_messages,
    this_month,
)
from tests.council.fakes import FakeWork


def test_r18_a_ballot_counts_once_its_entrypoint_commits_it(runtime, client, secretary) -> None:
    rnd = open_monthly(client, secretary, runtime, [deed_copy()])
    (c,) = rnd["candidates"]
    member = Principal("council_member", MEMBERS[0])
    with runtime.db.unit_of_work() as uow:
        receipt = services.cast_ballot(uow, runtime.context(uow), member, rnd["id"], {c["id"]: "approve"})
        assert receipt["receipt"]
        assert services.round_view(uow, rnd["id"])["voted"] == 1  # seen in its own transaction
    assert runs.get_round_view(runtime, rnd["id"])["voted"] == 0  # rolled back: never cast
    runs.cast_ballot(runtime, member, rnd["id"], {c["id"]: "approve"})
    assert runs.get_round_view(runtime, rnd["id"])["voted"] == 1
    with pytest.raises(Conflict):  # R18: the ballot cast is final
        runs.cast_ballot(runtime, member, rnd["id"], {c["id"]: "reject"})


def test_r20a_a_cancellation_rolled_back_leaves_the_round_open(runtime, client, secretary) -> None:
    rnd = open_monthly(client, secretary, runtime, [deed_copy()])
    who = Principal("unit_secretary", SECRETARY)
    with runtime.db.unit_of_work() as uow:
        assert services.cancel_round(uow, runtime.context(uow), who, rnd["id"])["status"] == "cancelled"
    assert runs.get_round_view(runtime, rnd["id"])["status"] == "open"
    assert runs.cancel_round(runtime, who, rnd["id"])["status"] == "cancelled"


def test_r20_a_close_reads_the_instant_from_its_context(runtime, client, secretary) -> None:
    rnd = open_monthly(client, secretary, runtime, [deed_copy()], closes_at=in_future(hours=1))
    who = Principal("unit_secretary", SECRETARY)
    with runtime.db.unit_of_work() as uow:
        ctx = runtime.context(uow)
        with pytest.raises(Conflict):  # before the deadline, nobody having voted
            services.close_round(uow, ctx, who, rnd["id"])
        later = dataclasses.replace(ctx, now=ctx.now + dt.timedelta(hours=1, seconds=1))
        assert services.close_round(uow, later, who, rnd["id"])["round"] == rnd["id"]
        assert services.round_view(uow, rnd["id"])["status"] == "closed"
    assert runs.get_round_view(runtime, rnd["id"])["status"] == "open"  # its entrypoint never committed


def test_a_month_with_nothing_introduced_is_answered_409_once_under_its_key(
        client, runtime, secretary, monkeypatch) -> None:  # noqa: ANN001
    """API.md: a round with no candidate is 409. The monthly round is committed before its answer
    waits for intake's; the 409 intake's empty answer causes is the key's answer, replayed."""
    monkeypatch.setattr(services, "UNSENT_WAIT_SECONDS", 5.0)  # no relay here: wait for the thread

    def intake_answers_empty() -> None:
        deadline = time.monotonic() + 5
        while not (asked := outbox_messages(runtime, "intake.close_introductions")):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        payload = asked[0]["payload"]
        deliver(runtime, IntroductionsClosed(round_id=payload["round_id"], unit=UNIT, month=payload["month"],
                                             recorded=0, deeds=[]))

    body = {"council": COUNCIL, "kind": "monthly", "period": this_month()}
    h = {**secretary, "Idempotency-Key": "empty-month"}
    intake = threading.Thread(target=intake_answers_empty)
    intake.start()
    first = client.post("/api/v1/rounds", json=body, headers=h)
    intake.join()
    assert first.status_code == 409, first.get_json()
    assert "không được mở" in first.get_json()["detail"]
    again = client.post("/api/v1/rounds", json=body, headers=h)
    assert (again.status_code, again.data) == (409, first.data)
    assert len(outbox_messages(runtime, "intake.close_introductions")) == 1
    assert len(outbox_messages(runtime, "intake.reopen_introductions")) == 1



def test_a_failure_after_the_monthly_rounds_early_commit_frees_its_key(client, runtime, secretary, monkeypatch):
    """The monthly round and its key's claim are committed before the answer waits for intake's. A
    failure after that commit releases the claim: the key's retry is answered at once as a new
    request is (the round is there: 409, kept and replayed), not held up by a pending claim until
    it expires (``PENDING_EXPIRES_SECONDS``)."""
    def lost(uow: object, round_id: str) -> str:
        raise RuntimeError("the wait for intake's answer failed")

    monkeypatch.setattr(runs, "answered", lost)
    body = {"council": COUNCIL, "kind": "monthly", "period": this_month()}
    h = {**secretary, "Idempotency-Key": "fails-after-commit"}
    assert client.post("/api/v1/rounds", json=body, headers=h).status_code == 500
    assert len(outbox_messages(runtime, "intake.close_introductions")) == 1  # the round was committed
    started = time.monotonic()
    again = client.post("/api/v1/rounds", json=body, headers=h)
    assert time.monotonic() - started < 5
    assert again.status_code == 409 and "đã có phiên" in again.get_json()["detail"], again.get_json()
    replayed = client.post("/api/v1/rounds", json=body, headers=h)
    assert (replayed.status_code, replayed.data) == (409, again.data)
    assert len(outbox_messages(runtime, "intake.close_introductions")) == 1


def test_r21_a_round_that_found_no_candidate_is_not_one_its_secretary_cancelled(client, runtime, secretary):
    """API.md, R20a, R21: intake's empty answer cancels the round as ``found_empty`` and frees its
    period, which the calendar may open again; a round its secretary cancels keeps it from that."""
    empty = open_monthly(client, secretary, runtime, [])
    assert empty["status"] == "cancelled"
    with runtime.db.reading() as s:
        assert Rounds(lambda: s).get(empty["id"]).found_empty is True
        assert not Rounds(lambda: s).cancelled_by_secretary(COUNCIL, "monthly", this_month())
    rnd = open_monthly(client, secretary, runtime, [deed_copy()])
    assert client.post(f"/api/v1/rounds/{rnd['id']}/cancel", headers=secretary).status_code == 200
    with runtime.db.reading() as s:
        assert Rounds(lambda: s).get(rnd["id"]).found_empty is False
        assert Rounds(lambda: s).cancelled_by_secretary(COUNCIL, "monthly", this_month())

# -- the rules on a unit of work held in memory (tests/council/fakes.py) ------------------------------
# No database below: each use case runs on a FakeWork, as its entrypoint would call it, and what it
# wrote, emitted and recorded is read back from the fake.
NOW = dt.datetime(2026, 7, 15, 3, 0, tzinfo=dt.UTC)
MONTH = "2026-07"
QUARTER = "2026-Q2"
UNIT_SECRETARY = Principal("unit_secretary", SECRETARY)
PROVINCE_SECRETARY_ = Principal("province_secretary", PROVINCE_SECRETARY)


@pytest.fixture
def org(org_document: dict) -> Organisation:
    return Organisation.from_document(org_document)


@pytest.fixture
def ctx(tmp_path: Path, org: Organisation) -> Context:
    return Context.fixed(Settings(home=tmp_path), org, NOW, NOW.date())


@pytest.fixture
def uow(ctx: Context, org_document: dict) -> FakeWork:
    work = FakeWork()
    assert services.load_org(work, ctx, org_document) is True
    work.lines.clear()
    return work


def at(ctx: Context, when: dt.datetime) -> Context:
    return dataclasses.replace(ctx, now=when)


def member(code: str) -> Principal:
    return Principal("council_member", code)


def a_deed(author: dict[str, str] | None = None, month: str = MONTH, unit: str = UNIT) -> dict:
    return deed_copy(author=author, month=month, unit=unit)


def monthly_round(uow: FakeWork, ctx: Context, deeds: list[dict], month: str = MONTH) -> Round:
    """A secretary's monthly round, its candidates frozen from intake's answer."""
    round_id = services.open_round(uow, ctx, UNIT_SECRETARY, {"council": COUNCIL, "kind": "monthly", "period": month})
    services.introductions_closed(uow, ctx, IntroductionsClosed(round_id=round_id, unit=UNIT, month=month,
                                                                recorded=len(deeds), deeds=deeds))
    rnd = uow.rounds.get(round_id)
    assert rnd is not None
    return rnd


def vote_all(uow: FakeWork, ctx: Context, rnd: Round, choice_of: dict[str, list[str]]) -> None:
    """Each member casts ``choice_of[member]``, one choice per candidate of the round, in order."""
    cands = uow.candidates.of(rnd.id)
    for code, choices in choice_of.items():
        mine = uow.candidates.entitled_to(rnd.id, code)
        ballot = {c.id: choice for c, choice in zip(cands, choices, strict=True) if c.id in mine}
        services.cast_ballot(uow, ctx, member(code), rnd.id, ballot)


def provincial_round(uow: FakeWork, ctx: Context, dossiers: int, cap: int) -> Round:
    """R12: a provincial round over ``dossiers`` dossiers received, the council's cap ``cap``."""
    rules = uow.councils.get(PROVINCIAL)
    assert rules is not None
    uow.councils.by_code[PROVINCIAL] = dataclasses.replace(rules, cap=cap)
    for i in range(dossiers):
        deed = a_deed(month="2026-05")
        services.dossier_sent(uow, DossierSent(
            dossier_id=f"dossier-{i}", deed_id=deed["id"], quarter=QUARTER, unit=UNIT, quarterly_round_id="q",
            deed=deed, evidence=[], monthly_decision={}, monthly_tally={}, quarterly_tally={}))
    round_id = services.open_round(uow, ctx, PROVINCE_SECRETARY_,
                                   {"council": PROVINCIAL, "kind": "provincial", "period": QUARTER})
    rnd = uow.rounds.get(round_id)
    assert rnd is not None
    return rnd


# -- the organisation (R25) ---------------------------------------------------------------------------
def test_the_organisation_makes_the_councils_and_the_same_one_again_changes_nothing(uow, ctx, org_document):
    unit = uow.councils.get(COUNCIL)
    assert unit is not None and (unit.secretary, unit.threshold_percent, unit.provincial) == (SECRETARY, 80, False)
    assert uow.councils.members(COUNCIL) == sorted(MEMBERS)
    assert uow.councils.get(PROVINCIAL).cap == 20
    assert services.load_org(uow, ctx, org_document) is False
    assert uow.lines == []


# -- opening ------------------------------------------------------------------------------------------
def test_a_monthly_round_opens_waiting_for_intake(uow, ctx):
    """API.md: a monthly round asks intake for the month's introductions and waits, ``opening``."""
    round_id = services.open_round(uow, ctx, UNIT_SECRETARY, {"council": COUNCIL, "kind": "monthly", "period": MONTH})
    rnd = uow.rounds.get(round_id)
    assert (rnd.status, rnd.natural_key, rnd.entitled) == ("opening", f"{COUNCIL}:monthly:{MONTH}", len(MEMBERS))
    assert (rnd.threshold_percent, rnd.base) == (80, "entitled")  # the council's rules, frozen (R7)
    (asked,) = uow.messages
    assert isinstance(asked, CloseIntroductions) and (asked.round_id, asked.month) == (round_id, MONTH)
    assert uow.actions() == ["round.opened"] and uow.candidates.of(round_id) == []
    assert not uow.committed


def test_who_may_open_what(uow, ctx):
    data = {"council": COUNCIL, "kind": "monthly", "period": MONTH}
    with pytest.raises(Forbidden):
        services.open_round(uow, ctx, member(MEMBERS[0]), data)
    with pytest.raises(Forbidden):
        services.open_round(uow, ctx, PROVINCE_SECRETARY_, data)
    with pytest.raises(Invalid) as wrong_kind:
        services.open_round(uow, ctx, UNIT_SECRETARY, {**data, "kind": "provincial", "period": QUARTER})
    assert "kind" in wrong_kind.value.errors
    with pytest.raises(Invalid) as future:
        services.open_round(uow, ctx, UNIT_SECRETARY, {**data, "period": "2026-09"})
    assert "period" in future.value.errors
    with pytest.raises(Invalid):
        services.open_round(uow, ctx, UNIT_SECRETARY, {**data, "council": "HD-NONE"})
    assert uow.rounds.by_id == {} and uow.messages == []


def test_one_round_per_council_kind_and_period(uow, ctx):
    data = {"council": COUNCIL, "kind": "monthly", "period": MONTH}
    services.open_round(uow, ctx, UNIT_SECRETARY, data)
    with pytest.raises(Conflict):
        services.open_round(uow, ctx, UNIT_SECRETARY, data)
    assert len(uow.rounds.by_id) == 1


def test_a_key_taken_by_a_concurrent_opening_is_a_conflict(uow, ctx, monkeypatch):
    """Two secretaries at once: the unique natural key refuses the second (``Taken``), said 409."""
    data = {"council": COUNCIL, "kind": "monthly", "period": MONTH}
    monkeypatch.setattr(uow.rounds, "by_key", lambda key: None)  # the other opening not seen yet
    services.open_round(uow, ctx, UNIT_SECRETARY, data)
    with pytest.raises(Conflict, match="đã có phiên"):
        services.open_round(uow, ctx, UNIT_SECRETARY, data)


def test_candidates_are_frozen_from_intakes_answer_with_the_recusals(uow, ctx):
    """R17: the author of a deed who sits on the council does not vote on it; R5a: a deed of an
    earlier month is carried; a deed of another unit or of a later month is not put to the vote."""
    own = a_deed(author={"officer": MEMBERS[0], "name": "Thành viên"})
    other, carried = a_deed(), a_deed(month="2026-06")
    stray, later = a_deed(unit="CAH-DM"), a_deed(month="2026-08")
    rnd = monthly_round(uow, ctx, [own, other, carried, stray, later])
    cands = uow.candidates.of(rnd.id)
    assert [c.deed_id for c in cands] == [own["id"], other["id"], carried["id"]]
    assert [c.position for c in cands] == [0, 1, 2]
    assert uow.candidates.entitled_counts(rnd.id) == {cands[0].id: 6, cands[1].id: 7, cands[2].id: 7}
    assert uow.candidates.entitled_to(rnd.id, MEMBERS[0]) == {cands[1].id, cands[2].id}
    assert (rnd.status, rnd.entitled, rnd.recorded) == ("open", 7, 5)
    assert uow.actions() == ["round.opened", "round.candidates_frozen"]
    assert set(uow.counts.tracked) == {own["id"], other["id"], carried["id"]}
    # A second delivery of the answer changes nothing.
    services.introductions_closed(uow, ctx, IntroductionsClosed(round_id=rnd.id, unit=UNIT, month=MONTH,
                                                                recorded=9, deeds=[a_deed()]))
    assert len(uow.candidates.of(rnd.id)) == 3 and uow.rounds.get(rnd.id).recorded == 5


def test_a_secretarys_round_with_nothing_introduced_is_cancelled_and_the_month_reopened(uow, ctx):
    """API.md: a round with no candidate never was: cancelled under a key that frees the period."""
    rnd = monthly_round(uow, ctx, [])
    assert (rnd.status, rnd.found_empty) == ("cancelled", True)
    assert rnd.natural_key == f"{COUNCIL}:monthly:{MONTH}#cancelled:{rnd.id}"
    assert isinstance(uow.messages[-1], ReopenIntroductions)
    assert not uow.rounds.cancelled_by_secretary(COUNCIL, "monthly", MONTH)  # R21 may open it again
    again = services.open_round(uow, ctx, UNIT_SECRETARY, {"council": COUNCIL, "kind": "monthly", "period": MONTH})
    assert again != rnd.id


def test_r17a_a_deed_nobody_on_the_council_may_vote_on_goes_to_the_provincial_council(uow, ctx):
    """R17a: a deed of the whole unit is referred: the provincial council's referral round opens
    with it, its own recusals applied; the unit's round goes on with the others."""
    whole_unit = a_deed(author={"collective": UNIT, "name": "Công an thành phố"})
    decidable = a_deed()
    rnd = monthly_round(uow, ctx, [whole_unit, decidable])
    assert [c.deed_id for c in uow.candidates.of(rnd.id)] == [decidable["id"]]
    referral = uow.rounds.by_key(f"{PROVINCIAL}:referral:{MONTH}:{COUNCIL}")
    assert referral is not None and (referral.kind, referral.status, referral.referred_from) == (
        "referral", "open", COUNCIL)
    assert [c.deed_id for c in uow.candidates.of(referral.id)] == [whole_unit["id"]]
    assert referral.entitled == len(PROVINCIAL_MEMBERS)
    fate = [m for m in uow.sent(DeedFateDecided) if m.deed_id == whole_unit["id"]]
    assert [(m.status, m.round_id) for m in fate] == [("referred", referral.id)]
    assert "deed.referred" in uow.actions()
    # Referred once: the same deed again goes nowhere.
    from services.council import referral as referring
    assert referring.refer(uow, rnd, [whole_unit], ctx.organisation, NOW, 72) is None


def test_r17a_a_round_whose_every_deed_was_referred_closes_empty(uow, ctx):
    rnd = monthly_round(uow, ctx, [a_deed(author={"collective": UNIT, "name": "Công an thành phố"})])
    assert (rnd.status, rnd.entitled) == ("closed", 0)
    tally = uow.outcomes.tally(rnd.id)
    assert (tally.closed_by, tally.quota_met, tally.voted) == ("empty", False, 0)


def test_r15a_a_revoked_deed_is_never_put_to_the_vote_again(uow, ctx):
    gone = a_deed()
    uow.recognitions.revoke(deed_id=gone["id"], unit=UNIT, month="2026-06", book=UNIT, seq=1, revoked_at=NOW)
    kept = a_deed()
    rnd = monthly_round(uow, ctx, [gone, kept])
    assert [c.deed_id for c in uow.candidates.of(rnd.id)] == [kept["id"]]


def test_r12_a_provincial_round_waits_while_dossiers_are_on_their_way(uow, ctx):
    uow.dossiers.on_their_way[QUARTER] = 2
    with pytest.raises(services.DossiersInFlight) as waiting:
        provincial_round(uow, ctx, dossiers=1, cap=20)
    assert waiting.value.pending == 2 and uow.rounds.by_id == {}


def test_r12_a_provincial_round_puts_every_dossier_received_and_none_revoked(uow, ctx):
    rnd = provincial_round(uow, ctx, dossiers=3, cap=20)
    cands = uow.candidates.of(rnd.id)
    assert [c.dossier_id for c in cands] == ["dossier-0", "dossier-1", "dossier-2"]
    assert (rnd.status, rnd.cap, rnd.entitled) == ("open", 20, len(PROVINCIAL_MEMBERS))
    # The same dossier again is received once.
    first = uow.dossiers.received_[0]
    services.dossier_sent(uow, DossierSent(
        dossier_id="again", deed_id=first["deed_id"], quarter=QUARTER, unit=UNIT, quarterly_round_id="q",
        deed=first["deed"], evidence=[], monthly_decision={}, monthly_tally={}, quarterly_tally={}))
    assert len(uow.dossiers.received_) == 3


def test_a_round_other_than_monthly_with_no_candidate_is_not_opened(uow, ctx):
    with pytest.raises(Conflict, match="Không có ứng viên"):
        services.open_round(uow, ctx, PROVINCE_SECRETARY_, {"council": PROVINCIAL, "kind": "provincial",
                                                            "period": QUARTER})
    assert uow.rounds.by_id == {}


# -- ballots (R18, R19) --------------------------------------------------------------------------------
def test_a_ballot_names_exactly_the_candidates_its_member_may_vote_on(uow, ctx):
    own = a_deed(author={"officer": MEMBERS[0], "name": "Thành viên"})
    rnd = monthly_round(uow, ctx, [own, a_deed()])
    mine, other = uow.candidates.of(rnd.id)
    with pytest.raises(Invalid) as recused:  # R17: not on their own deed
        services.cast_ballot(uow, ctx, member(MEMBERS[0]), rnd.id, {mine.id: "approve", other.id: "approve"})
    assert mine.id in recused.value.errors["choices"]
    with pytest.raises(Invalid):  # one choice for every candidate they may vote on
        services.cast_ballot(uow, ctx, member(MEMBERS[1]), rnd.id, {mine.id: "approve"})
    with pytest.raises(Invalid):
        services.cast_ballot(uow, ctx, member(MEMBERS[1]), rnd.id, {mine.id: "yes", other.id: "approve"})
    assert uow.ballots.cast_votes == [] and uow.ballots.voters(rnd.id) == []
    services.cast_ballot(uow, ctx, member(MEMBERS[0]), rnd.id, {other.id: "approve"})
    assert uow.ballots.voters(rnd.id) == [MEMBERS[0]]


def test_who_may_not_vote(uow, ctx):
    rnd = monthly_round(uow, ctx, [a_deed()])
    (c,) = uow.candidates.of(rnd.id)
    with pytest.raises(NotFound):
        services.cast_ballot(uow, ctx, member(MEMBERS[0]), "no-such-round", {c.id: "approve"})
    with pytest.raises(Forbidden):  # not a member of this council
        services.cast_ballot(uow, ctx, member(PROVINCIAL_MEMBERS[0]), rnd.id, {c.id: "approve"})
    with pytest.raises(Forbidden):  # members vote, secretaries do not
        services.cast_ballot(uow, ctx, UNIT_SECRETARY, rnd.id, {c.id: "approve"})
    with pytest.raises(Conflict):  # R20: not after the deadline, swept or not
        services.cast_ballot(uow, at(ctx, rnd.closes_at), member(MEMBERS[0]), rnd.id, {c.id: "approve"})
    assert uow.ballots.cast_votes == []


def test_r18_r19_one_final_ballot_kept_apart_from_its_voter(uow, ctx):
    """R18: one ballot per member, final. R19: its votes carry no voter and a receipt of their
    own each, the mark that the member voted is kept apart, and the round's rows are rewritten in
    key order (reshuffled) under the round's lock."""
    rnd = monthly_round(uow, ctx, [a_deed(), a_deed()])
    first, second = uow.candidates.of(rnd.id)
    answer = services.cast_ballot(uow, ctx, member(MEMBERS[2]), rnd.id, {first.id: "approve", second.id: "reject"})
    votes = uow.ballots.votes(rnd.id)
    assert sorted((v.candidate_id, v.choice) for v in votes) == sorted([(first.id, "approve"), (second.id, "reject")])
    assert all(v.voter is None for v in votes)
    assert answer["receipt"] not in {v.receipt for v in votes} and len({v.receipt for v in votes}) == 2
    assert uow.ballots.voters(rnd.id) == [MEMBERS[2]] and uow.ballots.reshuffled == [rnd.id]
    assert rnd.id in uow.rounds.locked
    with pytest.raises(Conflict, match="cuối cùng"):
        services.cast_ballot(uow, ctx, member(MEMBERS[2]), rnd.id, {first.id: "reject", second.id: "reject"})
    assert len(uow.ballots.votes(rnd.id)) == 2
    assert "ballot.cast" not in uow.actions()  # R19: not while the round is open


def test_a_ballot_of_the_same_member_at_the_same_moment_is_a_conflict(uow, ctx, monkeypatch):
    rnd = monthly_round(uow, ctx, [a_deed()])
    (c,) = uow.candidates.of(rnd.id)
    services.cast_ballot(uow, ctx, member(MEMBERS[3]), rnd.id, {c.id: "approve"})
    monkeypatch.setattr(uow.ballots, "has_voted", lambda round_id, code: False)  # the other not seen yet
    with pytest.raises(Conflict, match="cuối cùng"):
        services.cast_ballot(uow, ctx, member(MEMBERS[3]), rnd.id, {c.id: "approve"})


def test_an_open_ballot_council_names_its_voters(uow, ctx):
    rules = uow.councils.get(COUNCIL)
    uow.councils.by_code[COUNCIL] = dataclasses.replace(rules, open_ballots=True)
    rnd = monthly_round(uow, ctx, [a_deed()])
    (c,) = uow.candidates.of(rnd.id)
    services.cast_ballot(uow, ctx, member(MEMBERS[4]), rnd.id, {c.id: "abstain"})
    assert [v.voter for v in uow.ballots.votes(rnd.id)] == [MEMBERS[4]]


def test_r19a_paper_ballots_reconcile_and_a_new_count_replaces_the_old(uow, ctx):
    rnd = monthly_round(uow, ctx, [a_deed()])
    (c,) = uow.candidates.of(rnd.id)
    with pytest.raises(Invalid):  # more ballots than members who took one
        services.enter_paper_ballots(uow, ctx, UNIT_SECRETARY, rnd.id, 1, [{c.id: "approve"}] * 2)
    with pytest.raises(Forbidden):
        services.enter_paper_ballots(uow, ctx, member(MEMBERS[0]), rnd.id, 1, [{c.id: "approve"}])
    answer = services.enter_paper_ballots(uow, ctx, UNIT_SECRETARY, rnd.id, 3, [{c.id: "approve"}] * 3)
    assert len(answer["ballots"]) == 3 and len(uow.ballots.votes(rnd.id)) == 3
    services.enter_paper_ballots(uow, ctx, UNIT_SECRETARY, rnd.id, 2, [{c.id: "reject"}] * 2)
    assert [v.choice for v in uow.ballots.votes(rnd.id)] == ["reject", "reject"]
    rnd = uow.rounds.get(rnd.id)
    assert (rnd.paper, rnd.paper_voters, rnd.paper_ballots) == (True, 2, 2)
    assert uow.ballots.voters(rnd.id) == []  # no member is marked as having voted electronically
    with pytest.raises(Conflict):
        services.cast_ballot(uow, ctx, member(MEMBERS[0]), rnd.id, {c.id: "approve"})


# -- closing (R20) and counting (R7, R8, R13) -----------------------------------------------------------
def test_r20_a_round_closes_early_only_once_everyone_voted_and_only_once(uow, ctx):
    rnd = monthly_round(uow, ctx, [a_deed()])
    vote_all(uow, ctx, rnd, {m: ["approve"] for m in MEMBERS[:6]})
    with pytest.raises(Conflict, match="chưa bỏ phiếu"):
        services.close_round(uow, ctx, UNIT_SECRETARY, rnd.id)
    with pytest.raises(Forbidden):
        services.close_round(uow, ctx, member(MEMBERS[0]), rnd.id)
    vote_all(uow, ctx, rnd, {MEMBERS[6]: ["approve"]})
    result = services.close_round(uow, ctx, UNIT_SECRETARY, rnd.id)
    assert result["status"] == "closed" and result["decision"]["number"]
    with pytest.raises(Conflict, match="đã đóng"):
        services.close_round(uow, ctx, UNIT_SECRETARY, rnd.id)
    assert not services.close_due(uow, at(ctx, rnd.closes_at), rnd.id)  # nor by the sweep after it
    assert len(uow.outcomes.tallies) == 1 and len(uow.outcomes.decisions) == 1
    assert uow.actions().count("round.closed") == 1


def test_r20_the_sweep_closes_what_is_due_exactly_once(uow, ctx):
    rnd = monthly_round(uow, ctx, [a_deed()])
    assert services.due_rounds(uow, ctx) == []
    later = at(ctx, rnd.closes_at)
    assert services.due_rounds(uow, later) == [rnd.id]
    assert services.close_due(uow, later, rnd.id) is True
    assert services.close_due(uow, later, rnd.id) is False
    assert uow.outcomes.tally(rnd.id).closed_by == "schedule"
    assert services.due_rounds(uow, later) == []


@pytest.mark.parametrize(("approvals", "passes"), [(6, True), (5, False)])
def test_r7_the_threshold_of_the_entitled_at_its_boundary(uow, ctx, approvals, passes):
    """R7: 80 % of the 7 entitled is 5.6: six approvals pass, five do not (abstaining counts
    against); R8: what passes a monthly round is recognised and inscribed in the unit's book."""
    rnd = monthly_round(uow, ctx, [a_deed()])
    choices = ["approve"] * approvals + ["abstain"] * (len(MEMBERS) - approvals)
    vote_all(uow, ctx, rnd, {m: [choice] for m, choice in zip(MEMBERS, choices, strict=True)})
    result = services.close_round(uow, ctx, UNIT_SECRETARY, rnd.id)
    (counted,) = result["candidates"]
    assert (counted["approve"], counted["ratio"], counted["passed"], counted["selected"]) == (
        approvals, f"{approvals}/7", passes, passes)
    assert result["quota_met"] is passes and bool(result["decision"]) is passes
    inscribed = uow.sent(Inscribe)
    assert len(inscribed) == (1 if passes else 0)
    fate = uow.sent(DeedFateDecided)[-1]
    assert fate.status == ("recognised" if passes else "not_selected")
    assert (counted["deed_id"] in uow.recognitions.by_deed) is passes


def test_r7_the_threshold_of_a_recused_members_deed_counts_only_the_entitled(uow, ctx):
    """R17: the author's own deed has 6 entitled: 80 % is 4.8, so five approvals pass it."""
    rnd = monthly_round(uow, ctx, [a_deed(author={"officer": MEMBERS[0], "name": "Thành viên"})])
    vote_all(uow, ctx, rnd, {m: ["approve" if i < 5 else "reject"] for i, m in enumerate(MEMBERS[1:])})
    (counted,) = services.close_round(uow, ctx, UNIT_SECRETARY, rnd.id)["candidates"]
    assert (counted["entitled"], counted["ratio"], counted["passed"]) == (6, "5/6", True)


def test_r19_r23_the_close_records_who_voted_in_the_order_of_their_codes(uow, ctx):
    rnd = monthly_round(uow, ctx, [a_deed()])
    voters = [MEMBERS[5], MEMBERS[1], MEMBERS[3]]
    vote_all(uow, ctx, rnd, {m: ["approve"] for m in voters})
    services.close_round(uow, at(ctx, rnd.closes_at), UNIT_SECRETARY, rnd.id)
    cast = [line for line in uow.lines if line[1] == "ballot.cast"]
    assert [line[0].subject for line in cast] == sorted(voters)
    assert all(line[4] == {} for line in cast)  # nothing of their choices


def test_r8_decision_numbers_follow_each_other_in_the_unit_and_the_year(uow, ctx):
    rejected = monthly_round(uow, ctx, [a_deed(month="2026-05")], month="2026-05")
    vote_all(uow, ctx, rejected, {m: ["reject"] for m in MEMBERS})
    services.close_round(uow, ctx, UNIT_SECRETARY, rejected.id)  # nothing selected: no decision
    numbers = []
    for month in ("2026-06", MONTH):
        rnd = monthly_round(uow, ctx, [a_deed(month=month)], month=month)
        vote_all(uow, ctx, rnd, {m: ["approve"] for m in MEMBERS})
        numbers.append(services.close_round(uow, ctx, UNIT_SECRETARY, rnd.id)["decision"]["number"])
    assert [d["seq"] for d in uow.outcomes.decisions] == [1, 2]
    assert [d["number"] for d in uow.outcomes.decisions] == numbers and numbers[0] != numbers[1]


def test_r12_the_provincial_cap_selects_the_most_approved(uow, ctx):
    """R12: at most ``cap`` deeds of the quarter are selected, the most approved first."""
    rnd = provincial_round(uow, ctx, dossiers=3, cap=2)
    approvals = [11, 9, 10]
    vote_all(uow, ctx, rnd, {m: ["approve" if i < n else "reject" for n in approvals]
                             for i, m in enumerate(PROVINCIAL_MEMBERS)})
    result = services.close_round(uow, ctx, PROVINCE_SECRETARY_, rnd.id)
    assert [(c["approve"], c["passed"], c["selected"]) for c in result["candidates"]] == [
        (11, True, True), (9, True, False), (10, True, True)]
    assert result["runoff"] is None
    assert len(uow.sent(Inscribe)) == 2  # R14: in the provincial book


def test_r13_a_tie_at_the_cap_opens_a_runoff_among_exactly_the_tied(uow, ctx):
    """R13: two deeds tied for the last place: neither is selected, a runoff for that one place
    opens among exactly them, with their voter rolls, in the closing step."""
    rnd = provincial_round(uow, ctx, dossiers=3, cap=2)
    approvals = [11, 10, 10]
    vote_all(uow, ctx, rnd, {m: ["approve" if i < n else "reject" for n in approvals]
                             for i, m in enumerate(PROVINCIAL_MEMBERS)})
    result = services.close_round(uow, ctx, PROVINCE_SECRETARY_, rnd.id)
    assert [c["selected"] for c in result["candidates"]] == [True, False, False]
    runoff = uow.rounds.get(result["runoff"])
    assert (runoff.kind, runoff.places, runoff.runoff_of, runoff.status) == ("runoff", 1, rnd.id, "open")
    cands = uow.candidates.of(rnd.id)
    assert [c.deed_id for c in uow.candidates.of(runoff.id)] == [cands[1].deed_id, cands[2].deed_id]
    assert runoff.entitled == len(PROVINCIAL_MEMBERS)
    assert "round.opened" in uow.actions()[-len(PROVINCIAL_MEMBERS) - 3:]
    with pytest.raises(Conflict):  # R20a: part of the close, not the secretary's to cancel
        services.cancel_round(uow, ctx, PROVINCE_SECRETARY_, runoff.id)


# -- the secretary runs the round (R20a) ------------------------------------------------------------------
def test_r20a_a_round_is_cancelled_only_before_any_ballot(uow, ctx):
    rnd = monthly_round(uow, ctx, [a_deed()])
    (c,) = uow.candidates.of(rnd.id)
    services.cast_ballot(uow, ctx, member(MEMBERS[0]), rnd.id, {c.id: "approve"})
    with pytest.raises(Conflict, match="R20a"):
        services.cancel_round(uow, ctx, UNIT_SECRETARY, rnd.id)
    other = provincial_round(uow, ctx, dossiers=1, cap=20)
    services.cancel_round(uow, ctx, PROVINCE_SECRETARY_, other.id)
    other = uow.rounds.get(other.id)
    assert other.status == "cancelled" and other.natural_key.endswith(f"#cancelled:{other.id}")
    assert uow.rounds.cancelled_by_secretary(PROVINCIAL, "provincial", QUARTER)


def test_r20a_a_monthly_round_cancelled_gives_its_month_back_to_intake(uow, ctx):
    rnd = monthly_round(uow, ctx, [a_deed()])
    services.cancel_round(uow, ctx, UNIT_SECRETARY, rnd.id)
    assert isinstance(uow.messages[-1], ReopenIntroductions) and uow.messages[-1].round_id == rnd.id
    assert uow.actions()[-1] == "round.cancelled"


def test_r20a_the_deadline_moves_only_forward_while_open(uow, ctx):
    rnd = monthly_round(uow, ctx, [a_deed()])
    later = rnd.closes_at + dt.timedelta(days=1)
    services.move_deadline(uow, ctx, UNIT_SECRETARY, rnd.id, later)
    assert uow.rounds.get(rnd.id).closes_at == later
    with pytest.raises(Invalid):
        services.move_deadline(uow, ctx, UNIT_SECRETARY, rnd.id, NOW - dt.timedelta(hours=1))
    with pytest.raises(Conflict, match="R20"):  # past its deadline: the sweep closes it
        services.move_deadline(uow, at(ctx, later), UNIT_SECRETARY, rnd.id, later + dt.timedelta(days=1))


# -- R15a: a revocation reaches the rounds still open -------------------------------------------------------
def test_r15a_a_revocation_withdraws_the_deed_from_the_open_rounds_once(uow, ctx):
    own = a_deed(author={"officer": MEMBERS[0], "name": "Thành viên"})
    rnd = monthly_round(uow, ctx, [own, a_deed()])
    mine, _ = uow.candidates.of(rnd.id)
    revoked = DeedRevoked(deed_id=own["id"], unit=UNIT, month=MONTH, book=UNIT, seq=4, revokes=2)
    services.deed_revoked(uow, revoked)
    assert uow.candidates.by_id[mine.id].withdrawn and rnd.id in uow.rounds.locked
    assert uow.rounds.get(rnd.id).entitled == 7
    assert mine.id not in uow.candidates.entitled_to(rnd.id, MEMBERS[1])
    services.deed_revoked(uow, revoked)
    assert list(uow.recognitions.revocations) == [own["id"]]


# -- reading --------------------------------------------------------------------------------------------
def test_members_read_their_councils_rounds_and_nobody_elses(uow, ctx):
    rnd = monthly_round(uow, ctx, [a_deed()])
    assert services.read_round(uow, ctx, member(MEMBERS[0]), rnd.id)["id"] == rnd.id
    assert services.read_round(uow, ctx, PROVINCE_SECRETARY_, rnd.id)["id"] == rnd.id
    with pytest.raises(Forbidden):
        services.read_round(uow, ctx, member(PROVINCIAL_MEMBERS[0]), rnd.id)
    with pytest.raises(Forbidden):
        services.list_rounds(uow, ctx, member(PROVINCIAL_MEMBERS[0]), {"council": COUNCIL}, 10, None)
    assert [r["id"] for r in services.list_rounds(uow, ctx, member(MEMBERS[0]), {}, 10, None)] == [rnd.id]
    assert services.list_rounds(uow, ctx, member(PROVINCIAL_MEMBERS[0]), {}, 10, None) == []
    with pytest.raises(Forbidden):  # R19: counts are for after the close
        services.read_result(uow, ctx, lambda: member(PROVINCIAL_MEMBERS[0]), rnd.id)


# -- R21: the calendar ----------------------------------------------------------------------------------
def test_r21_the_calendar_opens_the_last_months_round_unless_its_secretary_cancelled_it(uow, ctx, org):
    council = org.councils[COUNCIL]
    due = services.due_openings(uow, ctx, council)
    assert [data for _, data in due] == [{"council": COUNCIL, "kind": "monthly", "period": "2026-06"}]
    system, data = due[0]
    round_id = services.open_round(uow, ctx, system, data, "calendar")
    assert services.due_openings(uow, ctx, council) == []
    services.introductions_closed(uow, ctx, IntroductionsClosed(round_id=round_id, unit=UNIT, month="2026-06",
                                                                recorded=1, deeds=[a_deed(month="2026-06")]))
    services.cancel_round(uow, ctx, UNIT_SECRETARY, round_id)
    assert services.due_openings(uow, ctx, council) == []
