"""intake's unit of work held in memory (cosmicpython's ``FakeUnitOfWork``): the same methods as
``services.intake.repository.Work``, over dicts, so that a use case runs without a database.
What it wrote, emitted and recorded in the audit is there to look at; it never commits (the
entrypoint would)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

from services.intake.domain.deed import Closure, Deed, Evidence, UnitMonth
from services.intake.domain.text import matches


class FakeDeeds:
    def __init__(self) -> None:
        self.by_id: dict[str, Deed] = {}
        self.files: dict[str, tuple[str, bytes]] = {}
        self.attached: dict[str, list[str]] = {}
        self.months: dict[tuple[str, str], UnitMonth] = {}
        self.closures: dict[str, Closure] = {}

    # -- deeds -----------------------------------------------------------------------------------
    def add(self, new: list[Deed]) -> None:
        for deed in new:
            assert deed.id not in self.by_id
            self.by_id[deed.id] = deed

    def get(self, deed_id: str, *, fresh: bool = False, lock: bool = False) -> Deed | None:
        return self.by_id.get(deed_id)

    def change(self, deed_id: str, **values: Any) -> None:
        if "book_entries" in values:
            values["book_entries"] = tuple(values["book_entries"])
        self.by_id[deed_id] = replace(self.by_id[deed_id], **values)

    def find(self, *, unit: str | None, also_by_officer: str | None, month: str | None, status: str | None,
             q: str, limit: int, after: str | None) -> list[Deed]:
        def kept(d: Deed) -> bool:
            in_unit = unit is None or d.unit == unit or (also_by_officer is not None and d.by_officer(also_by_officer))
            return (in_unit and (not month or d.month == month) and (not status or d.status == status)
                    and matches(q, d.title, d.description) and (after is None or d.id > after))

        return sorted((d for d in self.by_id.values() if kept(d)), key=lambda d: d.id)[:limit]

    def any_in(self, unit: str) -> bool:
        return any(d.unit == unit for d in self.by_id.values())

    def introduced_by_unit(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for d in self.by_id.values():
            if d.status == "introduced":
                out[d.unit] = out.get(d.unit, 0) + 1
        return dict(sorted(out.items()))

    def candidates(self, unit: str, month: str, statuses: Any) -> list[Deed]:
        return sorted((d for d in self.by_id.values() if d.unit == unit and d.status in statuses and (
            (d.month == month and not d.carried_over)
            or (d.carried_over and d.month < month and d.carried_to in (None, month)))), key=lambda d: d.id)

    def recorded_in(self, unit: str, month: str) -> int:
        return sum(1 for d in self.by_id.values() if d.unit == unit and d.month == month)

    def of_status(self, ids: list[str], status: str) -> list[Deed]:
        return [self.by_id[i] for i in ids if i in self.by_id and self.by_id[i].status == status]

    # -- evidence --------------------------------------------------------------------------------
    def evidence_of(self, deed_ids: list[str]) -> dict[str, list[Evidence]]:
        return {i: [Evidence(sha, len(self.files[sha][1]), self.files[sha][0]) for sha in self.attached.get(i, [])]
                for i in deed_ids}

    def keep_file(self, sha256: str, content_type: str, data: bytes, at: dt.datetime) -> None:
        self.files.setdefault(sha256, (content_type, data))

    def attach(self, deed_id: str, sha256: str, at: dt.datetime, by: str) -> bool:
        shas = self.attached.setdefault(deed_id, [])
        if sha256 in shas:
            return False
        shas.append(sha256)
        return True

    def file(self, deed_id: str, sha256: str) -> tuple[str, bytes] | None:
        return self.files[sha256] if sha256 in self.attached.get(deed_id, []) else None

    # -- a unit's months -------------------------------------------------------------------------
    def lock_month(self, unit: str, month: str) -> UnitMonth:
        return self.months.setdefault((unit, month), UnitMonth(unit, month))

    def mark_month(self, unit: str, month: str, closed_at: dt.datetime | None, closed_by_round: str | None) -> None:
        self.months[(unit, month)] = UnitMonth(unit, month, closed_at, closed_by_round)

    def lock_carries(self, unit: str) -> None:
        pass

    def closure(self, round_id: str) -> Closure | None:
        return self.closures.get(round_id)

    def add_closure(self, closure: Closure) -> None:
        self.closures[closure.round_id] = closure

    def newest_closure_after(self, closure: Closure) -> str | None:
        later = [c for c in self.closures.values() if (c.unit, c.month) == (closure.unit, closure.month)
                 and c.closed_at > closure.closed_at]
        return max(later, key=lambda c: c.closed_at).round_id if later else None


class FakeWork:
    """What a use case of intake is given as its unit of work."""

    def __init__(self) -> None:
        self.deeds = FakeDeeds()
        self.messages: list[Any] = []
        self.lines: list[tuple[Any, ...]] = []
        self.committed = False

    def emit(self, message: Any) -> None:
        self.messages.append(message)

    def emit_many(self, messages: list[Any]) -> None:
        self.messages.extend(messages)

    def audit(self, lines: list[tuple[Any, ...]], at: dt.datetime | None = None) -> None:
        self.lines.extend(lines)

    def record(self, new: list[Any], messages: list[Any], lines: list[tuple[Any, ...]],
               at: dt.datetime | None = None) -> None:
        self.deeds.add(new)
        self.emit_many(messages)
        self.audit(lines, at)

    def commit(self) -> None:  # an entrypoint's; a use case calling it is a fault the tests see
        self.committed = True

    def actions(self) -> list[str]:
        return [line[1] for line in self.lines]
