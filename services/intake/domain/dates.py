"""R3: when a deed may be recorded, and the month it belongs to (R21: local dates)."""

from __future__ import annotations

import datetime as dt

from shared.clock import Month


def month_of(day: dt.date) -> str:
    """The ``YYYY-MM`` month of a deed: the month of the day it happened."""
    return str(Month.of(day))


def occurred_on_problem(day: dt.date, today: dt.date, since: dt.date, late_days: int) -> str | None:
    """R3: why a deed dated ``day`` cannot be recorded on ``today``, or None.

    Refused: a day after today (local), a day before the programme began, or a day whose month
    ended more than ``late_days`` days before today.
    """
    if day > today:
        return f"Ngày {day.isoformat()} ở tương lai (hôm nay là {today.isoformat()})."
    if day < since:
        return f"Ngày {day.isoformat()} trước khi chương trình bắt đầu ({since.isoformat()})."
    last_accepted = Month.of(day).last_day + dt.timedelta(days=late_days)
    if today > last_accepted:
        return (
            f"Việc tốt tháng {month_of(day)} chỉ được ghi đến hết ngày {last_accepted.isoformat()} "
            f"({late_days} ngày sau khi tháng kết thúc)."
        )
    return None
