"""The council's settings beyond ``shared.config.Settings``: the rest of the R21 calendar and the
per-council ballot mode, read from the environment once per runtime.

``SOVANG_LATE_ROUND_HOURS`` (72): a round opened after its calendar deadline closes this long after.
``SOVANG_SUPPLEMENTARY_DAYS`` (7): how long a supplementary round (R9) stays open by default.
``SOVANG_RUNOFF_HOURS`` (72): how long a runoff round (R13) stays open.
``SOVANG_CALENDAR`` (off): let beat open the rounds of the R21 calendar by itself.
``SOVANG_OPEN_BALLOT_COUNCILS`` (none): comma-separated council codes that vote by open (named)
ballot; a council may also say ``"open_ballots": true`` in the organisation file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from services.council.domain.rounds import Calendar
from shared.config import Settings
from shared.runtime import Runtime


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    return int(raw) if raw not in (None, "") else default


@dataclass(frozen=True)
class CouncilConfig:
    calendar: Calendar = field(default_factory=Calendar)
    calendar_enabled: bool = False
    open_ballot_councils: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, settings: Settings, environ: dict[str, str] | None = None) -> CouncilConfig:
        env = dict(os.environ if environ is None else environ)
        calendar = Calendar(
            monthly_close_day=settings.monthly_close_day,
            monthly_close_hour=settings.monthly_close_hour,
            quarterly_close_day=settings.quarterly_close_day,
            late_round_hours=_int(env, "SOVANG_LATE_ROUND_HOURS", Calendar.late_round_hours),
            supplementary_days=_int(env, "SOVANG_SUPPLEMENTARY_DAYS", Calendar.supplementary_days),
            runoff_hours=_int(env, "SOVANG_RUNOFF_HOURS", Calendar.runoff_hours),
        )
        enabled = (env.get("SOVANG_CALENDAR") or "").strip().lower() in {"1", "true", "yes", "on"}
        councils = frozenset(c.strip() for c in (env.get("SOVANG_OPEN_BALLOT_COUNCILS") or "").split(",") if c.strip())
        return cls(calendar, enabled, councils)


def config_of(runtime: Runtime) -> CouncilConfig:
    """The council settings of this runtime, read from the environment the first time."""
    cfg = getattr(runtime, "council_config", None)
    if cfg is None:
        cfg = CouncilConfig.from_settings(runtime.settings)
        runtime.council_config = cfg  # type: ignore[attr-defined]
    return cfg


def configure(runtime: Runtime, cfg: CouncilConfig) -> None:
    """Set this runtime's council settings explicitly (tests, the embedded runner)."""
    runtime.council_config = cfg  # type: ignore[attr-defined]
