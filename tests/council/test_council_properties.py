"""Property tests (hypothesis) of the tally and the ranking: the order of ballots never matters,
never more than the cap is selected, every selected deed has R7's share of its base, a tie across
the last place always goes to a runoff of exactly the tied, and recounting a closed round's
published ballots gives its published result."""

from __future__ import annotations

import datetime as dt
import random
from fractions import Fraction
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from services.council import runs, services
from services.council.domain.ballots import split_ballot
from services.council.domain.ranking import Standing, select
from services.council.domain.tally import CHOICES, Count, count_ballots, count_votes, passes
from shared.auth import Principal
from shared.clock import Month
from shared.config import Settings
from shared.messages import IntroductionsClosed
from tests.council.conftest import deed_copy, deliver, make_runtime

choice = st.sampled_from(CHOICES)


@given(st.integers(0, 200), st.integers(0, 200), st.integers(1, 100))
def test_r7_is_the_exact_fraction(approve: int, base: int, threshold: int) -> None:
    expected = base > 0 and Fraction(approve, base) >= Fraction(threshold, 100)
    assert passes(approve, base, threshold) is expected


@given(st.lists(st.dictionaries(st.sampled_from("abcd"), choice), max_size=15), st.randoms())
def test_the_order_of_ballots_never_matters(ballots: list[dict[str, str]], rnd: random.Random) -> None:
    entitled = {c: 15 for c in "abcd"}
    shuffled = list(ballots)
    rnd.shuffle(shuffled)
    assert count_ballots(entitled, ballots) == count_ballots(entitled, shuffled)


@given(st.lists(st.dictionaries(st.sampled_from("abcd"), choice), max_size=15))
def test_r19_a_ballot_counts_the_same_as_the_votes_it_is_published_as(ballots: list[dict[str, str]]) -> None:
    entitled = {c: 15 for c in "abcd"}
    published = [vote for i, b in enumerate(ballots) for vote in split_ballot(f"{i:016x}", b)]
    assert count_votes(entitled, ((cid, ch) for _receipt, cid, ch in published)) == count_ballots(entitled, ballots)


counts = st.builds(
    lambda a, r, ab, extra: Count(a, r, ab, a + r + ab + extra),
    st.integers(0, 11), st.integers(0, 11), st.integers(0, 11), st.integers(0, 3),
)


@given(st.lists(counts, max_size=40), st.integers(1, 25), st.sampled_from(["entitled", "cast"]))
def test_selection_respects_the_cap_the_threshold_and_ties(tallies: list[Count], cap: int, base: str) -> None:
    passing = [Standing(f"c{i}", t.approve, t.base(base)) for i, t in enumerate(tallies) if t.passes(80, base)]
    result = select(passing, cap)
    by_id = {s.candidate: s for s in passing}
    assert len(result.selected) <= cap and len(result.selected) + result.places <= cap
    for cid in result.selected + result.tied:
        assert passes(by_id[cid].approve, by_id[cid].base, 80)  # ≥ 80 % of its base
    if len(passing) <= cap:
        assert set(result.selected) == set(by_id) and not result.tied
        return
    if not result.tied:
        assert len(result.selected) == cap
        worst = min(by_id[c].key for c in result.selected)
        assert all(s.key < worst for s in passing if s.candidate not in result.selected)
        return
    # A tie across the last place: exactly the tied, all equal, between the selected and the rest.
    key = by_id[result.tied[0]].key
    assert {s.candidate for s in passing if s.key == key} == set(result.tied)
    assert all(by_id[c].key > key for c in result.selected)
    assert {s.candidate for s in passing if s.key > key} == set(result.selected)
    assert len(result.selected) < cap < len(result.selected) + len(result.tied)
    assert result.places == cap - len(result.selected)


def months_since_programme() -> list[str]:
    m, out = Month(2021, 9), []
    today = Month.of(dt.date.today())
    while m <= today:
        out.append(str(m))
        m = m.next()
    return out


ballot_plans = st.lists(
    st.one_of(st.none(), st.lists(choice, min_size=4, max_size=4)), min_size=7, max_size=7,
)
author_plans = st.lists(st.integers(0, 9), min_size=1, max_size=4)


def test_recounting_the_published_ballots_gives_the_published_result_and_the_close_answered_it(tmp_path: Path, org_document: dict) -> None:
    runtime = make_runtime(Settings(home=tmp_path / "home"), org_document)
    org = runtime.orgs.require()
    slots = iter([(u, m) for u in org.units.values() for m in months_since_programme()])

    @settings(max_examples=25, deadline=None)
    @given(authors=author_plans, plan=ballot_plans)
    def check(authors: list[int], plan: list[list[str] | None]) -> None:
        unit, month = next(slots)
        members = sorted(org.councils[unit.council].members)
        secretary = Principal("unit_secretary", unit.secretary)
        deeds = []
        for a in authors:  # an author index below 7 is a council member (R17)
            code = members[a] if a < 7 else f"{unit.code}-0020"
            deeds.append(deed_copy(unit=unit.code, month=month, author={"officer": code, "name": code}))
        rnd = runs.open_round(runtime, secretary, {"council": unit.council, "kind": "monthly", "period": month})
        deliver(runtime, IntroductionsClosed(round_id=rnd["id"], unit=unit.code, month=month, recorded=len(deeds),
                                             deeds=deeds))
        rnd = runs.get_round_view(runtime, rnd["id"])
        for member, choices in zip(members, plan, strict=True):
            if choices is None:
                continue
            ballot = {c["id"]: ch for c, ch, d in zip(rnd["candidates"], choices, deeds, strict=False)
                      if d["author"]["officer"] != member}
            if ballot:
                runs.cast_ballot(runtime, Principal("council_member", member), rnd["id"], ballot)
        closing = dt.datetime.fromisoformat(rnd["closes_at"]) + dt.timedelta(seconds=1)
        answer = runs.close_round(runtime, secretary, rnd["id"], now=closing)
        result = runs.run(runtime, services.read_result, lambda: secretary, rnd["id"])  # public once closed
        # The close answers with what it counted, not a read-back: it must be what is stored.
        assert answer == result
        assert result["status"] == "closed"

        # R19: vote by vote, one candidate each, sorted by receipt.
        assert all(len(b["choices"]) == 1 for b in result["ballots"])
        assert [b["receipt"] for b in result["ballots"]] == sorted(b["receipt"] for b in result["ballots"])
        recount = count_ballots({c["id"]: c["entitled"] for c in result["candidates"]},
                                (b["choices"] for b in result["ballots"]))
        for c in result["candidates"]:
            n = recount[c["id"]]
            assert (n.approve, n.reject, n.abstain) == (c["approve"], c["reject"], c["abstain"])
            assert n.ratio_text("entitled") == c["ratio"]
            assert c["passed"] is n.passes(80, "entitled") is c["selected"]
        assert result["quota_met"] is any(c["selected"] for c in result["candidates"])
        assert (result["decision"] is not None) is result["quota_met"]
        # R19: no member is named in the public result, except as R16 has it: the author of a
        # deed the round selected is named with its title (an author may sit on the council,
        # R17); a deed not selected shows neither.
        unnamed = []
        for c in result["candidates"]:
            if c["selected"]:
                unnamed.append({k: v for k, v in c.items() if k != "author"})
            else:
                assert c.get("title") is None and c.get("author") is None, c
                unnamed.append(c)
        assert not any(m in str({**result, "candidates": unnamed}) for m in members)

    check()
    runtime.db.dispose()
