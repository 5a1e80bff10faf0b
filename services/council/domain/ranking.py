"""R12, R13: at most ``cap`` deeds, ranked by exact approval ratio then approvals; a tie across
the last place goes to a runoff among exactly the tied, never to insertion order or chance."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True)
class Standing:
    """A candidate that passed R7: its approvals over its base."""

    candidate: str
    approve: int
    base: int

    @property
    def key(self) -> tuple[Fraction, int]:
        """R13: the exact ratio first, then the number of approvals."""
        return Fraction(self.approve, self.base), self.approve


@dataclass(frozen=True)
class Selection:
    """Who is selected, who is tied across the last place, and how many places the tied share."""

    selected: tuple[str, ...]
    tied: tuple[str, ...] = ()
    places: int = 0

    @property
    def needs_runoff(self) -> bool:
        return bool(self.tied)


def rank(passing: Sequence[Standing]) -> list[Standing]:
    """Best first; candidates with equal keys keep no meaningful order among themselves."""
    return sorted(passing, key=lambda s: (s.key[0], s.key[1], s.candidate), reverse=True)


def select(passing: Sequence[Standing], cap: int | None) -> Selection:
    """R13: every passing candidate when they fit under ``cap`` (or there is none), else the best
    ``cap``, unless candidates tie across the last place: then those strictly above are selected and
    exactly the tied go to a runoff for the places left."""
    ranked = rank(passing)
    if cap is None or len(ranked) <= cap:
        return Selection(tuple(s.candidate for s in ranked))
    if cap <= 0:
        return Selection(())
    last = ranked[cap - 1].key
    if ranked[cap].key != last:
        return Selection(tuple(s.candidate for s in ranked[:cap]))
    above = tuple(s.candidate for s in ranked if s.key > last)
    tied = tuple(sorted(s.candidate for s in ranked if s.key == last))
    return Selection(above, tied, cap - len(above))
