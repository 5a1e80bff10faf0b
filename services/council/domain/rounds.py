"""Rounds: their kinds and periods, who may vote on what (R17), and when they close (R21)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass

from shared import clock
from shared.clock import Month, Quarter

MONTHLY, SUPPLEMENTARY, QUARTERLY, PROVINCIAL, RUNOFF, REFERRAL = (
    "monthly", "supplementary", "quarterly", "provincial", "runoff", "referral",
)
KINDS = (MONTHLY, SUPPLEMENTARY, QUARTERLY, PROVINCIAL, RUNOFF, REFERRAL)
# The kinds a secretary opens; runoffs (R13) and referral rounds (R17a) are opened by the system.
OPENABLE = (MONTHLY, SUPPLEMENTARY, QUARTERLY, PROVINCIAL)
MONTH_KINDS = (MONTHLY, SUPPLEMENTARY)
# The kinds whose selection recognises deeds for the unit book (R8) and whose quota is tracked (R9).
RECOGNISING = (MONTHLY, SUPPLEMENTARY)
# R17a: the provincial council's referral round recognises for the deed's unit book too, under its
# own decision, and counts toward no unit's quota.
RECOGNISING_FOR_UNIT = (*RECOGNISING, REFERRAL)

OPENING, OPEN, CLOSED, CANCELLED = "opening", "open", "closed", "cancelled"
# R20a: a round cancelled by its secretary before any ballot; final, as closed is.
STATUSES = (OPENING, OPEN, CLOSED, CANCELLED)


class PeriodError(ValueError):
    """A period that does not fit the round's kind, or that may not be opened yet."""


def parse_period(kind: str, text: str) -> Month | Quarter:
    """``YYYY-MM`` for monthly and supplementary rounds, ``YYYY-Qn`` for the others."""
    try:
        return Month.parse(text) if kind in MONTH_KINDS else Quarter.parse(text)
    except ValueError:
        shape = "YYYY-MM" if kind in MONTH_KINDS else "YYYY-Qn"
        raise PeriodError(f"Kỳ phải có dạng {shape}.") from None


def period_start(period: Month | Quarter) -> dt.date:
    return period.first_day if isinstance(period, Month) else period.months[0].first_day


def period_ended(period: Month | Quarter, now: dt.datetime) -> bool:
    return clock.local(now) >= period.ends_at()


def check_openable(period: Month | Quarter, now: dt.datetime, since: dt.date = clock.PROGRAMME_SINCE) -> None:
    """API.md: the current, unfinished period may be opened early; a future one may not, nor one
    before the programme began."""
    if period.ends_at() <= clock.at_local(since):
        raise PeriodError(f"Kỳ {period} ở trước khi chương trình bắt đầu ({since.isoformat()}).")
    if period_start(period) > clock.local(now).date():
        raise PeriodError(f"Kỳ {period} chưa bắt đầu.")


@dataclass(frozen=True)
class Calendar:
    """R21 (chosen): the default deadlines, all settings."""

    monthly_close_day: int = 7
    monthly_close_hour: int = 17
    quarterly_close_day: int = 15
    # A round opened when its calendar deadline has already passed gets this long instead.
    late_round_hours: int = 72
    supplementary_days: int = 7
    runoff_hours: int = 72

    def default_closes_at(self, kind: str, period: Month | Quarter, now: dt.datetime) -> dt.datetime:
        """R21: the calendar deadline of a round of ``kind`` over ``period`` opened at ``now``."""
        if kind == MONTHLY:
            assert isinstance(period, Month)
            due = clock.monthly_round_closes_at(period, self.monthly_close_day, self.monthly_close_hour)
        elif kind == QUARTERLY:
            assert isinstance(period, Quarter)
            due = clock.quarterly_round_closes_at(period, self.quarterly_close_day)
        elif kind == PROVINCIAL:
            assert isinstance(period, Quarter)
            due = clock.provincial_round_closes_at(period)
        elif kind == SUPPLEMENTARY:
            due = now + dt.timedelta(days=self.supplementary_days)
        else:
            due = now + dt.timedelta(hours=self.runoff_hours)
        if due <= now:
            due = now + dt.timedelta(hours=self.late_round_hours)
        return clock.local(due)


# -- R17 ------------------------------------------------------------------------------------------
def recused(member: str, author: Mapping[str, str], collective_members: Set[str]) -> bool:
    """R17: the deed's author, or a member of the collective that authored it."""
    if author.get("officer"):
        return author["officer"] == member
    return member in collective_members


def undecidable(members: Iterable[str], author: Mapping[str, str], collective_members: Set[str]) -> bool:
    """R17a: a deed no member of the council may vote on (a deed of the whole unit)."""
    return not entitled_members(members, author, collective_members)


def entitled_members(
    members: Iterable[str], author: Mapping[str, str], collective_members: Set[str]
) -> tuple[str, ...]:
    """The council members entitled to vote on one deed (R17)."""
    return tuple(sorted(m for m in members if not recused(m, author, collective_members)))


# -- R21: what the calendar opens ----------------------------------------------------------------
def latest_ended_month(now: dt.datetime) -> Month:
    """The month before the current local month: the one whose monthly round the calendar opens."""
    today = clock.local(now).date()
    return Month.of(today.replace(day=1) - dt.timedelta(days=1))


def latest_ended_quarter(now: dt.datetime) -> Quarter:
    """The quarter before the current local quarter."""
    current = Month.of(clock.local(now).date()).quarter
    return Quarter(current.year - 1, 4) if current.q == 1 else Quarter(current.year, current.q - 1)


@dataclass(frozen=True)
class Round:
    """A round as the use cases read it and hand it on (to the tally, the views, a referral):
    what it is, where it stands, and the council's rules frozen when it opened."""

    id: str
    natural_key: str  # "HD-X:monthly:2025-05": one round per council, kind and period
    council: str
    unit: str
    kind: str
    period: str
    status: str
    opens_at: dt.datetime
    closes_at: dt.datetime
    created_at: dt.datetime
    opened_by: str
    runoff_of: str | None
    places: int | None
    threshold_percent: int
    base: str
    cap: int | None
    open_ballots: bool
    entitled: int
    paper: bool
    paper_voters: int | None
    paper_ballots: int | None  # R19a
    recorded: int | None
    referred_from: str | None  # R17a
    # API.md: cancelled because intake's answer held no candidate: no R20a cancellation, so R21's
    # calendar may open the period again.
    found_empty: bool = False


@dataclass(frozen=True)
class CouncilRules:
    """A council as the council keeps it from the organisation: its secretary, and the rules a
    round freezes when it opens (R7 threshold and base, R12 the provincial cap, open ballots)."""

    code: str
    unit: str
    secretary: str
    threshold_percent: int
    base: str
    cap: int | None  # set for the provincial council only
    open_ballots: bool

    @property
    def provincial(self) -> bool:
        return self.cap is not None

    def led_by(self, role: str, subject: str) -> bool:
        """Whether the person is this council's secretary (the province's for its council)."""
        return role == ("province_secretary" if self.provincial else "unit_secretary") and subject == self.secretary


@dataclass(frozen=True)
class Candidate:
    """A deed put to a round, frozen at opening (R17: its voter roll kept beside it); ``withdrawn``
    once its recognition was revoked while the round was open (R15a)."""

    id: str
    round_id: str
    position: int
    deed_id: str
    title: str
    author: dict
    unit: str
    deed: dict
    dossier_id: str | None = None
    withdrawn: bool = False
