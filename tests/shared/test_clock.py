"""R21: months, quarters and the default deadlines, in Asia/Ho_Chi_Minh."""

import datetime as dt

import pytest

from shared import clock
from shared.clock import Month, Quarter


@pytest.mark.parametrize(
    ("text", "first", "last", "quarter"),
    [
        ("2021-09", dt.date(2021, 9, 1), dt.date(2021, 9, 30), "2021-Q3"),
        ("2024-02", dt.date(2024, 2, 1), dt.date(2024, 2, 29), "2024-Q1"),
        ("2025-12", dt.date(2025, 12, 1), dt.date(2025, 12, 31), "2025-Q4"),
    ],
)
def test_month_bounds(text, first, last, quarter):
    m = Month.parse(text)
    assert (m.first_day, m.last_day, str(m.quarter), str(m)) == (first, last, quarter, text)


@pytest.mark.parametrize("bad", ["2025-13", "2025-1", "25-01", "", "2025-00", "2025-Q1"])
def test_month_rejects(bad):
    with pytest.raises(ValueError):
        Month.parse(bad)


def test_quarter_months_and_parse():
    q = Quarter.parse("2026-Q4")
    assert [str(m) for m in q.months] == ["2026-10", "2026-11", "2026-12"]
    with pytest.raises(ValueError):
        Quarter.parse("2026-Q5")


def test_default_deadlines_are_local_time():
    closes = clock.monthly_round_closes_at(Month(2025, 12))
    assert closes.isoformat() == "2026-01-07T17:00:00+07:00"
    assert clock.quarterly_round_closes_at(Quarter(2025, 4)).isoformat() == "2026-01-16T00:00:00+07:00"
    assert clock.provincial_round_closes_at(Quarter(2025, 4)).isoformat() == "2026-02-01T00:00:00+07:00"


def test_a_utc_evening_is_the_next_local_day():
    instant = dt.datetime(2026, 1, 31, 18, 30, tzinfo=dt.UTC)  # 01:30 on 1 February in Hà Nội
    assert clock.local(instant).date() == dt.date(2026, 2, 1)
    assert Month.of(clock.local(instant).date()) == Month(2026, 2)
    assert clock.isoformat(instant) == "2026-02-01T01:30:00+07:00"
