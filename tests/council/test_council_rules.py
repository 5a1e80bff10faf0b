"""The council's pure rules as plain tables: R7 thresholds, abstentions, recusal (R17), the R13
ranking and runoff, ballot and paper-count checks (R19a), decision numbers and the R21 calendar."""

from __future__ import annotations

import datetime as dt

import pytest

from services.council.domain.ballots import ballot_errors, paper_errors
from services.council.domain.decisions import decision_number
from services.council.domain.ranking import Standing, select
from services.council.domain.rounds import (
    Calendar,
    PeriodError,
    check_openable,
    entitled_members,
    latest_ended_month,
    latest_ended_quarter,
    parse_period,
    recused,
)
from services.council.domain.tally import Count, TallyError, count_ballots, count_votes, passes
from shared.clock import TZ, Month, Quarter


# -- R7 ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("approve", "base", "expected"),
    [
        (4, 5, True),    # exactly 80 %
        (5, 7, False),   # 71.4 %
        (6, 7, True),    # 85.7 %
        (9, 11, True),   # 81.8 %
        (8, 11, False),  # 72.7 %
        (7, 7, True),
        (0, 7, False),
        (80, 100, True),
        (79, 100, False),
        (0, 0, False),   # nobody may vote on it: it cannot pass
    ],
)
def test_r7_threshold_boundaries(approve: int, base: int, expected: bool) -> None:
    assert passes(approve, base, 80) is expected


@pytest.mark.parametrize(
    ("count", "base_rule", "ratio", "expected"),
    [
        # base "entitled": abstaining and not voting count against.
        (Count(approve=6, abstain=1, entitled=7), "entitled", "6/7", True),
        (Count(approve=5, abstain=2, entitled=7), "entitled", "5/7", False),
        (Count(approve=5, reject=0, abstain=0, entitled=7), "entitled", "5/7", False),  # two did not vote
        (Count(approve=4, reject=1, entitled=5), "entitled", "4/5", True),
        # base "cast": only ballots that expressed a choice on the deed; an abstention is cast.
        (Count(approve=4, reject=1, entitled=7), "cast", "4/5", True),
        (Count(approve=4, abstain=1, entitled=7), "cast", "4/5", True),
        (Count(approve=3, abstain=1, entitled=7), "cast", "3/4", False),
        (Count(entitled=7), "cast", "0/0", False),
    ],
)
def test_r7_abstentions_and_bases(count: Count, base_rule: str, ratio: str, expected: bool) -> None:
    assert count.ratio_text(base_rule) == ratio
    assert count.passes(80, base_rule) is expected


def test_threshold_is_per_council() -> None:
    assert Count(approve=5, reject=2, entitled=7).passes(70, "entitled")
    assert not Count(approve=5, reject=2, entitled=7).passes(80, "entitled")


# -- R17 --------------------------------------------------------------------------------------------
MEMBERS = ["M1", "M2", "M3", "M4", "M5", "M6", "M7"]


@pytest.mark.parametrize(
    ("author", "collective", "entitled"),
    [
        ({"officer": "X9"}, set(), 7),                     # not a member
        ({"officer": "M3"}, set(), 6),                     # the author is recused
        ({"collective": "TEAM"}, {"X1", "X2"}, 7),         # a team without members of the council
        ({"collective": "HQ"}, {"M1", "M2", "X1"}, 5),     # members of the collective are recused
        ({"collective": "UNIT"}, set(MEMBERS), 0),         # the whole council authored it
    ],
)
def test_r17_recusal_takes_members_out_of_the_base(author: dict, collective: set, entitled: int) -> None:
    roll = entitled_members(MEMBERS, author, collective)
    assert len(roll) == entitled
    assert all(not recused(m, author, collective) for m in roll)


def test_r17_recusal_changes_the_ratio() -> None:
    # Author M3 recused: 5 approvals of 6 entitled = 83 % passes; 5 of 7 would not.
    counts = count_ballots({"c": 6}, [{"c": "approve"}] * 5 + [{"c": "reject"}])
    assert counts["c"] == Count(approve=5, reject=1, abstain=0, entitled=6)
    assert counts["c"].ratio_text("entitled") == "5/6" and counts["c"].passes(80, "entitled")


def test_count_refuses_what_cannot_be_counted() -> None:
    with pytest.raises(TallyError):
        count_ballots({"a": 2}, [{"b": "approve"}])
    with pytest.raises(TallyError):
        count_ballots({"a": 2}, [{"a": "maybe"}])
    with pytest.raises(TallyError):
        count_ballots({"a": 1}, [{"a": "approve"}, {"a": "reject"}])


def test_counting_votes_refuses_what_counting_ballots_refuses() -> None:
    assert count_votes({"a": 2, "b": 1}, [("a", "approve"), ("b", "abstain"), ("a", "reject")]) == {
        "a": Count(approve=1, reject=1, abstain=0, entitled=2), "b": Count(abstain=1, entitled=1)}
    with pytest.raises(TallyError, match="unknown candidate"):
        count_votes({"a": 2}, [("b", "approve")])
    with pytest.raises(TallyError, match="unknown choice"):
        count_votes({"a": 2}, [("a", "maybe")])
    with pytest.raises(TallyError, match="only 1 entitled"):
        count_votes({"a": 1}, [("a", "approve"), ("a", "reject")])


# -- R13 --------------------------------------------------------------------------------------------
def s(cid: str, approve: int, base: int) -> Standing:
    return Standing(cid, approve, base)


@pytest.mark.parametrize(
    ("standings", "cap", "selected", "tied", "places"),
    [
        # Fewer than the cap: all selected.
        ([s("a", 7, 7), s("b", 6, 7)], 3, {"a", "b"}, set(), 0),
        # Exactly the cap, with a tie inside it: all selected.
        ([s("a", 7, 7), s("b", 6, 7), s("c", 6, 7)], 3, {"a", "b", "c"}, set(), 0),
        # A clear cut.
        ([s("a", 7, 7), s("b", 6, 7), s("c", 9, 11)], 2, {"a", "b"}, set(), 0),
        # The exact ratio decides before the count: 9/10 beats 9/11 and 10/12.
        ([s("a", 9, 11), s("b", 9, 10), s("c", 10, 12)], 1, {"b"}, set(), 0),
        # Equal ratios: more approvals rank first (8/10 before 4/5).
        ([s("a", 4, 5), s("b", 8, 10)], 1, {"b"}, set(), 0),
        # A tie across the last place: those above are selected, exactly the tied go to a runoff.
        ([s("a", 7, 7), s("b", 6, 7), s("c", 6, 7), s("d", 6, 7), s("e", 9, 11)], 3, {"a"}, {"b", "c", "d"}, 2),
        # Everyone tied: nobody selected outright, all in the runoff for every place.
        ([s("a", 6, 7), s("b", 6, 7), s("c", 6, 7)], 2, set(), {"a", "b", "c"}, 2),
        # No cap (unit rounds): every passing deed.
        ([s("a", 6, 7), s("b", 6, 7)], None, {"a", "b"}, set(), 0),
    ],
)
def test_r13_ranking_and_runoff(standings, cap, selected, tied, places) -> None:  # noqa: ANN001
    result = select(standings, cap)
    assert set(result.selected) == selected
    assert set(result.tied) == tied
    assert result.places == places


def test_r13_does_not_depend_on_insertion_order() -> None:
    standings = [s("a", 7, 7), s("b", 6, 7), s("c", 6, 7), s("d", 6, 7)]
    assert select(standings, 2) == select(list(reversed(standings)), 2)


# -- ballots ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("choices", "entitled_to", "bad"),
    [
        ({"a": "approve", "b": "reject"}, {"a", "b"}, set()),
        ({"a": "approve"}, {"a", "b"}, {"b"}),                    # missing one
        ({"a": "approve", "b": "abstain", "c": "approve"}, {"a", "b"}, {"c"}),  # one too many (recused)
        ({"a": "yes", "b": "reject"}, {"a", "b"}, {"a"}),         # not a choice
        ({}, {"a"}, {"a"}),
    ],
)
def test_a_ballot_names_exactly_the_candidates_the_member_may_vote_on(choices, entitled_to, bad) -> None:  # noqa: ANN001
    assert set(ballot_errors(choices, entitled_to)) == bad


@pytest.mark.parametrize(
    ("voters", "ballots", "entitled_members", "per_candidate", "bad"),
    [
        (7, [{"a": "approve"}] * 7, 7, {"a": 7}, set()),
        (7, [{"a": "approve"}] * 5, 7, {"a": 7}, set()),          # two took a ballot and did not return it
        (5, [{"a": "approve"}] * 6, 7, {"a": 7}, {"ballots"}),    # more ballots than voters
        (8, [{"a": "approve"}] * 7, 7, {"a": 7}, {"voters"}),     # more voters than entitled
        (7, [{"a": "approve"}] * 7, 7, {"a": 6}, {"ballots"}),    # a recused member's choice counted
        (1, [{"z": "approve"}], 7, {"a": 7}, {"ballots.0"}),      # not a candidate
        (1, [{"a": "oui"}], 7, {"a": 7}, {"ballots.0"}),
    ],
)
def test_r19a_paper_counts_must_reconcile(voters, ballots, entitled_members, per_candidate, bad) -> None:  # noqa: ANN001
    assert set(paper_errors(voters, ballots, entitled_members, per_candidate)) == bad


# -- decisions and periods --------------------------------------------------------------------------
def test_decision_numbers_name_the_issuing_unit() -> None:
    assert decision_number(3, "CAH-DM") == "3/QĐ-CAH-DM"


@pytest.mark.parametrize(
    ("kind", "text", "ok"),
    [("monthly", "2025-05", True), ("monthly", "2025-13", False), ("monthly", "2025-Q2", False),
     ("supplementary", "2025-05", True), ("quarterly", "2025-Q2", True), ("quarterly", "2025-05", False),
     ("provincial", "2025-Q4", True), ("provincial", "2025-Q5", False)],
)
def test_periods_fit_their_kind(kind: str, text: str, ok: bool) -> None:
    if ok:
        assert str(parse_period(kind, text)) == text
    else:
        with pytest.raises(PeriodError):
            parse_period(kind, text)


NOW = dt.datetime(2025, 5, 20, 10, 0, tzinfo=TZ)


@pytest.mark.parametrize(
    ("period", "ok"),
    [(Month(2025, 5), True),      # the current, unfinished month may be opened early
     (Month(2025, 4), True),
     (Month(2025, 6), False),     # a future month may not
     (Quarter(2025, 2), True),
     (Quarter(2025, 3), False),
     (Month(2021, 9), True),
     (Month(2021, 8), False)],    # before the programme began
)
def test_which_periods_may_be_opened(period, ok: bool) -> None:  # noqa: ANN001
    if ok:
        check_openable(period, NOW)
    else:
        with pytest.raises(PeriodError):
            check_openable(period, NOW)


def test_r21_default_deadlines() -> None:
    cal = Calendar()
    monthly = cal.default_closes_at("monthly", Month(2025, 5), NOW)
    assert monthly.isoformat() == "2025-06-07T17:00:00+07:00"
    assert cal.default_closes_at("quarterly", Quarter(2025, 2), NOW).isoformat() == "2025-07-16T00:00:00+07:00"
    assert cal.default_closes_at("provincial", Quarter(2025, 2), NOW).isoformat() == "2025-08-01T00:00:00+07:00"
    # A round opened after its calendar deadline gets the late window instead of closing at once.
    late = cal.default_closes_at("monthly", Month(2025, 3), NOW)
    assert late == NOW + dt.timedelta(hours=72)
    assert Calendar(monthly_close_day=5, monthly_close_hour=9).default_closes_at(
        "monthly", Month(2025, 5), NOW).isoformat() == "2025-06-05T09:00:00+07:00"


def test_r21_what_the_calendar_opens() -> None:
    assert latest_ended_month(NOW) == Month(2025, 4)
    assert latest_ended_quarter(NOW) == Quarter(2025, 1)
    new_year = dt.datetime(2026, 1, 1, 0, 5, tzinfo=TZ)
    assert latest_ended_month(new_year) == Month(2025, 12)
    assert latest_ended_quarter(new_year) == Quarter(2025, 4)
    # Midnight local is still the previous day in UTC: the local calendar decides.
    assert latest_ended_month(new_year.astimezone(dt.UTC)) == Month(2025, 12)
