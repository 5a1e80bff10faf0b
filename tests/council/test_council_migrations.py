"""The council's migrations over rows written before them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from services.council import MIGRATIONS
from services.council.orm import rounds
from tests.council.conftest import COUNCIL, UNIT


def test_a_round_whose_key_said_empty_is_found_empty_after_0009(tmp_path: Path) -> None:
    """0009: a round cancelled for finding no candidate, which only its natural key's ``#empty:``
    said before, is ``found_empty`` after the migration, so R21's calendar may still open its
    period; a round its secretary cancelled (R20a) is not, nor is any other."""
    url = f"sqlite:///{tmp_path / 'council.db'}"
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url)
    now = dt.datetime(2026, 6, 1, 3, 0, tzinfo=dt.UTC)
    common = {"council": COUNCIL, "unit": UNIT, "kind": "monthly", "status": "cancelled", "opens_at": now,
              "closes_at": now, "created_at": now, "opened_by": "unit_secretary:x", "threshold_percent": 80,
              "base": "entitled", "open_ballots": False, "entitled": 0, "paper": False}
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0008_council_revocations")
            conn.commit()
            conn.execute(rounds.insert(), [
                {**common, "id": "empty", "period": "2026-04", "natural_key": f"{COUNCIL}:monthly:2026-04#empty:empty"},
                {**common, "id": "cancelled", "period": "2026-05",
                 "natural_key": f"{COUNCIL}:monthly:2026-05#cancelled:cancelled"},
                {**common, "id": "open", "period": "2026-05", "status": "open",
                 "natural_key": f"{COUNCIL}:monthly:2026-05"},
            ])
            conn.commit()
            command.upgrade(cfg, "head")
            conn.commit()
            found = dict(conn.execute(sa.select(rounds.c.id, rounds.c.found_empty)).all())
    finally:
        engine.dispose()
    assert found == {"empty": True, "cancelled": False, "open": False}
