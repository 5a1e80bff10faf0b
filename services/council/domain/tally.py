"""R7: the tally of one candidate, in exact integer arithmetic.

A candidate passes when ``100 * approve >= threshold * base``. The base is set per council:
``entitled`` (every member entitled to vote on the deed, R17 recusals removed: abstaining or not
voting counts against) or ``cast`` (the ballots that expressed a choice on it, abstentions
included). A candidate with an empty base passes nothing: no one could approve it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction

APPROVE, REJECT, ABSTAIN = "approve", "reject", "abstain"
CHOICES = (APPROVE, REJECT, ABSTAIN)
BASES = ("entitled", "cast")


class TallyError(ValueError):
    """Ballots that cannot be counted against these candidates."""


def passes(approve: int, base: int, threshold_percent: int) -> bool:
    """R7: ``100 * approve >= threshold * base``, never with an empty base."""
    return base > 0 and 100 * approve >= threshold_percent * base


@dataclass(frozen=True)
class Count:
    """The counted ballots of one candidate."""

    approve: int = 0
    reject: int = 0
    abstain: int = 0
    entitled: int = 0

    @property
    def cast(self) -> int:
        return self.approve + self.reject + self.abstain

    def base(self, rule: str) -> int:
        """R7: the denominator of the ratio under the council's base rule."""
        if rule == "entitled":
            return self.entitled
        if rule == "cast":
            return self.cast
        raise TallyError(f"unknown base {rule!r}")

    def ratio(self, rule: str) -> Fraction | None:
        base = self.base(rule)
        return Fraction(self.approve, base) if base else None

    def ratio_text(self, rule: str) -> str:
        """The ratio as the Result shows it: ``"6/7"`` (approvals over the base, not reduced)."""
        return f"{self.approve}/{self.base(rule)}"

    def passes(self, threshold_percent: int, rule: str) -> bool:
        return passes(self.approve, self.base(rule), threshold_percent)


def count_ballots(entitled: Mapping[str, int], ballots: Iterable[Mapping[str, str]]) -> dict[str, Count]:
    """Count ballots (``{candidate: choice}``) for candidates with their number of entitled members.

    The order of the ballots never matters. A ballot naming an unknown candidate or choice, or more
    choices on a candidate than it has entitled members, is refused (R17, R19a).
    """
    return count_votes(entitled, (choice for ballot in ballots for choice in ballot.items()))


def count_votes(entitled: Mapping[str, int], votes: Iterable[tuple[str, str]]) -> dict[str, Count]:
    """Count votes, each ``(candidate, choice)``: R19 publishes a ballot as its votes, one
    candidate each, and a vote counts as the one-candidate ballot it is published as. Refused as
    ``count_ballots`` refuses."""
    tallies = {cid: {APPROVE: 0, REJECT: 0, ABSTAIN: 0} for cid in entitled}
    for cid, choice in votes:
        counted = tallies.get(cid)
        if counted is None:
            raise TallyError(f"unknown candidate {cid!r}")
        if choice not in counted:
            raise TallyError(f"unknown choice {choice!r}")
        counted[choice] += 1
    counts = {}
    for cid, t in tallies.items():
        count = Count(t[APPROVE], t[REJECT], t[ABSTAIN], entitled[cid])
        if count.cast > count.entitled:
            raise TallyError(f"{count.cast} choices on {cid!r} but only {count.entitled} entitled members")
        counts[cid] = count
    return counts


@dataclass(frozen=True)
class Tally:
    """What a round's close recorded (R20): when and by whom, how many voted, the quota (R9), the
    decision (R8, R14) and the runoff it opened (R13)."""

    round_id: str
    closed_at: dt.datetime
    closed_by: str
    voted: int
    quota_met: bool | None = None
    decision_number: str | None = None
    decision_date: str | None = None
    runoff_round_id: str | None = None
