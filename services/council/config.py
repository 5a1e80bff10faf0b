"""The council's settings, gathered from ``shared.config.Settings`` once per runtime: the R21
calendar and the per-council ballot mode (a council may also say ``"open_ballots": true`` in
the organisation file)."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.council.domain.rounds import Calendar
from shared.config import Settings
from shared.runtime import Runtime


@dataclass(frozen=True)
class CouncilConfig:
    calendar: Calendar = field(default_factory=Calendar)
    calendar_enabled: bool = False
    open_ballot_councils: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, settings: Settings) -> CouncilConfig:
        calendar = Calendar(
            monthly_close_day=settings.monthly_close_day,
            monthly_close_hour=settings.monthly_close_hour,
            quarterly_close_day=settings.quarterly_close_day,
            late_round_hours=settings.late_round_hours,
            supplementary_days=settings.supplementary_days,
            runoff_hours=settings.runoff_hours,
        )
        return cls(calendar, settings.calendar, frozenset(settings.open_ballot_councils))


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
