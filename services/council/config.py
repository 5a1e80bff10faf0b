"""The council's settings, gathered from ``shared.config.Settings`` once per runtime: the R21
calendar and the per-council ballot mode (a council may also say ``"open_ballots": true`` in
the organisation file)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from services.council.domain.rounds import Calendar
from shared.config import Settings


class _HasSettings(Protocol):
    settings: Settings


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


# By the settings they were read from: a runtime and the contexts of its use cases
# (``shared.context``) share its settings, so both find the one configured. The settings are kept
# beside it, so that an id is never reused while its entry is here.
_CONFIGS: dict[int, tuple[Settings, CouncilConfig]] = {}


def config_of(source: _HasSettings) -> CouncilConfig:
    """The council settings of a runtime or a use case's context, read from the environment the
    first time."""
    found = _CONFIGS.get(id(source.settings))
    if found is None:
        found = (source.settings, CouncilConfig.from_settings(source.settings))
        _CONFIGS[id(source.settings)] = found
    return found[1]


def configure(runtime: Any, cfg: CouncilConfig) -> None:
    """Set this runtime's council settings explicitly (tests, the embedded runner)."""
    _CONFIGS[id(runtime.settings)] = (runtime.settings, cfg)
