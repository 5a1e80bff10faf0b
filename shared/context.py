"""What a use case is given besides its unit of work and its actor: the settings, the moment it
runs and the organisation. Pure: no web, no queue, no database; a test builds one by hand."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from shared.config import Settings
from shared.org import Organisation


@dataclass(frozen=True)
class Context:
    settings: Settings
    now: dt.datetime  # aware, UTC
    today: dt.date  # in Asia/Ho_Chi_Minh (R21)
    # Asked for only by the use cases that need it: loading it may refuse (none loaded yet).
    organisations: Callable[[], Organisation] = field(repr=False, compare=False)

    @property
    def organisation(self) -> Organisation:
        return self.organisations()

    @classmethod
    def fixed(cls, settings: Settings, organisation: Organisation, now: dt.datetime, today: dt.date) -> Context:
        """A context with an organisation in hand (tests, a command that loaded one)."""
        return cls(settings, now, today, lambda: organisation)
