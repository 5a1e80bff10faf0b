"""R21: days, months and quarters of Asia/Ho_Chi_Minh, and the default calendar of rounds.

Pure standard library, so every service's domain may use it.

Every instant the project stamps is read here (``utcnow``, ``now``; ``shared.columns.utcnow`` too),
from one source: the system's clock, or the one ``Settings.clock`` names, which the composition
root puts in place for as long as it runs on it (``using``). Time is read in too many places,
column defaults and rules among them, to hand each one the settings; one seam keeps them all on
the same clock.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
PROGRAMME_SINCE = dt.date(2021, 9, 1)

# Matched whole (``fullmatch``): ``$`` would let a trailing newline through, and a second
# spelling of a period would be a second address of the same page.
_MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")
_QUARTER = re.compile(r"(\d{4})-Q([1-4])")


class Clock(Protocol):
    """A source of the current instant (``Settings.clock``)."""

    def utcnow(self) -> dt.datetime:
        """The current instant, aware, in UTC."""
        ...


class SystemClock:
    """The machine's clock."""

    def utcnow(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


SYSTEM = SystemClock()
_source: Clock = SYSTEM


@contextlib.contextmanager
def using(source: Clock | None) -> Iterator[None]:
    """Read every instant from ``source`` within the block (None: the clock already in use)."""
    global _source
    if source is None:
        yield
        return
    before, _source = _source, source
    try:
        yield
    finally:
        _source = before


def utcnow() -> dt.datetime:
    """The current instant, aware, in UTC."""
    return _source.utcnow()


def now() -> dt.datetime:
    """The current instant, aware, in Asia/Ho_Chi_Minh."""
    return _source.utcnow().astimezone(TZ)


def today() -> dt.date:
    return now().date()


def local(instant: dt.datetime) -> dt.datetime:
    """An aware instant seen in Asia/Ho_Chi_Minh (naive instants are taken as UTC)."""
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=dt.UTC)
    return instant.astimezone(TZ)


def isoformat(instant: dt.datetime) -> str:
    """ISO 8601 with the +07:00 offset, to the second."""
    return local(instant).isoformat(timespec="seconds")


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        m = _MONTH.fullmatch(text) if isinstance(text, str) else None
        # Year 0 and 9999 have no calendar around them (no first day, no next month).
        if not m or not 1 <= int(m.group(1)) <= 9998:
            raise ValueError(f"not a month YYYY-MM: {text!r}")
        return cls(int(m.group(1)), int(m.group(2)))

    @classmethod
    def of(cls, day: dt.date) -> Month:
        return cls(day.year, day.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first_day(self) -> dt.date:
        return dt.date(self.year, self.month, 1)

    @property
    def last_day(self) -> dt.date:
        return self.next().first_day - dt.timedelta(days=1)

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    @property
    def quarter(self) -> Quarter:
        return Quarter(self.year, (self.month - 1) // 3 + 1)

    def starts_at(self) -> dt.datetime:
        return dt.datetime.combine(self.first_day, dt.time(), TZ)

    def ends_at(self) -> dt.datetime:
        """The first instant after the month, local time."""
        return dt.datetime.combine(self.next().first_day, dt.time(), TZ)


@dataclass(frozen=True, order=True)
class Quarter:
    year: int
    q: int

    @classmethod
    def parse(cls, text: str) -> Quarter:
        m = _QUARTER.fullmatch(text) if isinstance(text, str) else None
        if not m or not 1 <= int(m.group(1)) <= 9998:
            raise ValueError(f"not a quarter YYYY-Qn: {text!r}")
        return cls(int(m.group(1)), int(m.group(2)))

    def __str__(self) -> str:
        return f"{self.year:04d}-Q{self.q}"

    @property
    def months(self) -> tuple[Month, Month, Month]:
        first = 3 * (self.q - 1) + 1
        return tuple(Month(self.year, first + i) for i in range(3))  # type: ignore[return-value]

    @property
    def last_month(self) -> Month:
        return self.months[-1]

    def starts_at(self) -> dt.datetime:
        return self.months[0].starts_at()

    def ends_at(self) -> dt.datetime:
        return self.last_month.ends_at()


PROGRAMME_MONTH = Month.of(PROGRAMME_SINCE)
# The periods of the programme as patterns (2021-09 … 2099-12), for schemas and the OpenAPI
# document: a month or a quarter before it names nothing (whether it has begun, a pattern
# cannot say; ``in_programme`` does).
MONTH_PATTERN = r"^(2021-(09|1[0-2])|20(2[2-9]|[3-9][0-9])-(0[1-9]|1[0-2]))$"
QUARTER_PATTERN = r"^(2021-Q[34]|20(2[2-9]|[3-9][0-9])-Q[1-4])$"
PERIOD_PATTERN = f"^({MONTH_PATTERN[1:-1]}|{QUARTER_PATTERN[1:-1]})$"


def parse_period(text: object) -> Month | Quarter:
    """A month ``YYYY-MM`` or a quarter ``YYYY-Qn``; ValueError for anything else."""
    for kind in (Month, Quarter):
        try:
            return kind.parse(text)  # type: ignore[arg-type]
        except ValueError:
            continue
    raise ValueError(f"not a period YYYY-MM or YYYY-Qn: {text!r}")


def in_programme(period: Month | Quarter, at: dt.datetime | None = None, *, ended: bool = False) -> bool:
    """Whether the programme has ``period``: it does not end before 1 September 2021, and it has
    begun by ``at`` (now), or, with ``ended``, it is over. A page or a publication of any other
    period names nothing (R16): there is nothing to show, and nothing to render for anyone."""
    first, last = (period, period) if isinstance(period, Month) else (period.months[0], period.last_month)
    if last < PROGRAMME_MONTH:
        return False
    current = Month.of(local(at or now()).date())
    return last < current if ended else first <= current


def at_local(day: dt.date, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), TZ)


def monthly_round_closes_at(month: Month, close_day: int = 7, close_hour: int = 17) -> dt.datetime:
    """R21 default: a month's round closes on day 7 of the next month at 17:00."""
    nxt = month.next()
    return at_local(dt.date(nxt.year, nxt.month, close_day), close_hour)


def quarterly_round_closes_at(quarter: Quarter, close_day: int = 15) -> dt.datetime:
    """R21 default: the quarterly unit round closes on day 15 of the next month (end of that day)."""
    nxt = quarter.last_month.next()
    return at_local(dt.date(nxt.year, nxt.month, close_day)) + dt.timedelta(days=1)


def provincial_round_closes_at(quarter: Quarter) -> dt.datetime:
    """R21 default: the provincial round closes at the end of the month after the quarter."""
    return quarter.last_month.next().ends_at()
