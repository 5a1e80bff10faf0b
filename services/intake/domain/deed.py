"""A deed as intake keeps it (R2), and the two forms it leaves intake in: the answer to a reader
(``view``, beneficiaries only for those R2a names) and the frozen public copy council receives
(``copy``, never the beneficiaries)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from services.intake.domain.dates import month_of


@dataclass(frozen=True)
class Evidence:
    """An evidence file of a deed, named by its content's hash."""

    sha256: str
    size: int
    content_type: str

    def as_dict(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "size": self.size, "content_type": self.content_type}


@dataclass(frozen=True)
class Deed:
    id: str
    author_kind: str  # "officer" | "collective"
    author_code: str
    author_name: str
    unit: str
    subunit: str | None
    occurred_on: dt.date
    kind: str
    relation: str
    title: str
    description: str
    place: str | None
    beneficiaries: str | None
    status: str
    created_at: dt.datetime
    created_by: str
    # R5a: introduced after its month's round opened; ``carried_to`` the month whose round took it.
    carried_over: bool = False
    carried_to: str | None = None
    # The golden books' entries about it ({"book", "seq"[, "kind"]}), as book told intake.
    book_entries: tuple[dict[str, Any], ...] = ()
    month: str = field(default="")

    def __post_init__(self) -> None:
        if not self.month:
            object.__setattr__(self, "month", month_of(self.occurred_on))

    @property
    def author(self) -> dict[str, str]:
        return {self.author_kind: self.author_code}

    def by_officer(self, code: str) -> bool:
        return self.author_kind == "officer" and self.author_code == code

    def view(self, evidence: list[Evidence], beneficiaries: bool) -> dict[str, Any]:
        """What intake answers about the deed (``schemas.DeedOut`` whitelists it); the
        beneficiaries only when ``beneficiaries`` (R2a)."""
        out: dict[str, Any] = {
            "id": self.id,
            "author": {self.author_kind: self.author_code, "name": self.author_name},
            "occurred_on": self.occurred_on,
            "kind": self.kind,
            "relation": self.relation,
            "title": self.title,
            "description": self.description,
            "place": self.place,
            "beneficiaries": self.beneficiaries,
            "unit": self.unit,
            "subunit": self.subunit,
            "month": self.month,
            "status": self.status,
            "carried_over": bool(self.carried_over),
            "created_at": self.created_at,
            "book_entries": [dict(e) for e in self.book_entries],
            "evidence": [e.as_dict() for e in evidence],
        }
        if not beneficiaries:
            del out["beneficiaries"]
        return out

    def copy(self, evidence: list[Evidence]) -> dict[str, Any]:
        """The frozen public copy of the deed that leaves intake (``DeedCopySchema``)."""
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "kind": self.kind,
            "relation": self.relation,
            "occurred_on": self.occurred_on.isoformat(),
            "month": self.month,
            "place": self.place,
            "author": {self.author_kind: self.author_code, "name": self.author_name},
            "unit": self.unit,
            "subunit": self.subunit,
            "evidence": [e.as_dict() for e in evidence],
        }


@dataclass(frozen=True)
class UnitMonth:
    """A unit's month: open to introductions until its monthly round opens (R5, R5a)."""

    unit: str
    month: str
    closed_at: dt.datetime | None = None
    closed_by_round: str | None = None


@dataclass(frozen=True)
class Closure:
    """What the opening of a monthly round took from intake: the deeds put in it (R5a, R20a)."""

    round_id: str
    council: str
    unit: str
    month: str
    deed_ids: tuple[str, ...]
    closed_at: dt.datetime
