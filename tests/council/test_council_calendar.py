"""R21: the calendar opens the rounds by itself once their period has ended: each unit's monthly
round, then its quarterly round once the quarter's last month has settled, then the provincial
round after the quarterly deadline; every date from the settings."""

from __future__ import annotations

import datetime as dt

import pytest

from services.council import runs
from services.council.config import CouncilConfig, config_of, configure
from services.council.domain.rounds import Calendar
from services.council.worker import OPEN_DUE_ROUNDS, create_worker
from shared.auth import Principal
from shared.clock import TZ
from shared.config import Settings
from shared.messages import IntroductionsClosed
from tests.council.conftest import (
    MEMBERS,
    SECRETARY,
    UNIT,
    deed_copy,
    deliver,
    deliver_dossiers,
    outbox_messages,
)

pytestmark = pytest.mark.filterwarnings("ignore::celery.exceptions.DuplicateTaskNameWarning")

NOW = dt.datetime(2025, 7, 2, 9, 0, tzinfo=TZ)


def test_the_calendar_opens_monthly_quarterly_and_provincial_rounds(runtime) -> None:
    opened = runs.open_due_rounds(runtime, now=NOW)
    assert len(opened) == 15  # every unit council, for June
    assert runs.open_due_rounds(runtime, now=NOW) == []
    monthly = {runs.get_round_view(runtime, r)["council"]: runs.get_round_view(runtime, r) for r in opened}
    mine = monthly["HD-CATP-GN"]
    assert (mine["kind"], mine["period"], mine["status"]) == ("monthly", "2025-06", "opening")
    assert mine["closes_at"] == "2025-07-07T17:00:00+07:00"
    assert len(outbox_messages(runtime, "intake.close_introductions")) == 15

    deed = deed_copy(month="2025-06")
    deliver(runtime, IntroductionsClosed(round_id=mine["id"], unit=UNIT, month="2025-06", recorded=1, deeds=[deed]))
    rnd = runs.get_round_view(runtime, mine["id"])
    for m in MEMBERS:
        runs.cast_ballot(runtime, Principal("council_member", m), rnd["id"], {rnd["candidates"][0]["id"]: "approve"},
                             now=NOW + dt.timedelta(minutes=5))
    runs.close_round(runtime, Principal("unit_secretary", SECRETARY), rnd["id"], now=NOW + dt.timedelta(minutes=10))

    # The quarter's last monthly round has closed: the unit's quarterly round opens (and only it).
    later = NOW + dt.timedelta(hours=1)
    (quarterly_id,) = runs.open_due_rounds(runtime, now=later)
    quarterly = runs.get_round_view(runtime, quarterly_id)
    assert (quarterly["kind"], quarterly["period"], quarterly["status"]) == ("quarterly", "2025-Q2", "open")
    assert [c["deed_id"] for c in quarterly["candidates"]] == [deed["id"]]
    assert quarterly["closes_at"] == "2025-07-16T00:00:00+07:00"
    for m in MEMBERS:
        runs.cast_ballot(runtime, Principal("council_member", m), quarterly_id,
                             {quarterly["candidates"][0]["id"]: "approve"}, now=later)
    runs.close_round(runtime, Principal("unit_secretary", SECRETARY), quarterly_id, now=later)
    assert deliver_dossiers(runtime) == 1
    assert runs.open_due_rounds(runtime, now=later) == []  # the province waits for the deadline

    after_deadline = dt.datetime(2025, 7, 16, 0, 0, 1, tzinfo=TZ)
    (provincial_id,) = runs.open_due_rounds(runtime, now=after_deadline)
    provincial = runs.get_round_view(runtime, provincial_id)
    assert (provincial["council"], provincial["kind"], provincial["period"]) == ("HD-CAT", "provincial", "2025-Q2")
    assert provincial["closes_at"] == "2025-08-01T00:00:00+07:00"
    assert [c["deed_id"] for c in provincial["candidates"]] == [deed["id"]]


def test_the_calendar_is_a_setting(runtime) -> None:
    assert config_of(runtime).calendar_enabled is False
    app = create_worker(runtime=runtime)
    runtime.db.after_commit.clear()
    assert OPEN_DUE_ROUNDS not in app.conf.beat_schedule
    assert app.tasks[OPEN_DUE_ROUNDS]() == []  # off: opens nothing

    cfg = CouncilConfig.from_settings(Settings.from_env({
        "SOVANG_MONTHLY_CLOSE_DAY": "5", "SOVANG_MONTHLY_CLOSE_HOUR": "9",
        "SOVANG_CALENDAR": "1", "SOVANG_RUNOFF_HOURS": "24", "SOVANG_OPEN_BALLOT_COUNCILS": "HD-CAT, HD-P-TM",
    }))
    assert cfg.calendar_enabled and cfg.open_ballot_councils == {"HD-CAT", "HD-P-TM"}
    assert cfg.calendar == Calendar(monthly_close_day=5, monthly_close_hour=9, runoff_hours=24)
    configure(runtime, cfg)
    assert OPEN_DUE_ROUNDS in create_worker(runtime=runtime).conf.beat_schedule
    runtime.db.after_commit.clear()
    opened = runs.open_due_rounds(runtime, now=NOW)
    assert runs.get_round_view(runtime, opened[0])["closes_at"] == "2025-07-05T09:00:00+07:00"
