"""A golden book's head: what its row says between entries (R15: its count and head hash, locked
while an entry is appended; R25: closed once its unit leaves the organisation)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

UNIT = "unit"
PROVINCE = "province"


@dataclass(frozen=True)
class Book:
    code: str
    name: str
    kind: str  # unit | province
    entries: int
    head: str | None  # hash of the last entry
    created_at: dt.datetime
    updated_at: dt.datetime | None = None  # when the last entry was appended
    pages_seq: int = 0  # the last entry whose pages are published (R16)
    closed_at: dt.datetime | None = None  # R25

    @property
    def closed(self) -> bool:
        return self.closed_at is not None

    def entry_time(self, now: dt.datetime) -> dt.datetime:
        """``now`` to the second, never before the book's last entry (feeds stay in order)."""
        now = now.replace(microsecond=0)
        return max(now, self.updated_at) if self.updated_at else now
