"""R21: days, months and quarters of Asia/Ho_Chi_Minh, and the default calendar of rounds.

Pure standard library, so every service's domain may use it.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
PROGRAMME_SINCE = dt.date(2021, 9, 1)

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")


def now() -> dt.datetime:
    """The current instant, aware, in Asia/Ho_Chi_Minh."""
    return dt.datetime.now(TZ)


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
        m = _MONTH.match(text or "")
        if not m:
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

    def ends_at(self) -> dt.datetime:
        """The first instant after the month, local time."""
        return dt.datetime.combine(self.next().first_day, dt.time(), TZ)


@dataclass(frozen=True, order=True)
class Quarter:
    year: int
    q: int

    @classmethod
    def parse(cls, text: str) -> Quarter:
        m = _QUARTER.match(text or "")
        if not m:
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

    def ends_at(self) -> dt.datetime:
        return self.last_month.ends_at()


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
