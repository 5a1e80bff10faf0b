"""What every service's unit of work held in memory shares (cosmicpython's ``FakeUnitOfWork``):
the outbox, the audit record (R23) and the organisation's copy as lists and a dict, so that a use
case runs without a database. Each service's ``fakes.FakeWork`` adds its repositories. What a use
case emitted and recorded is there to look at; it never commits (its entrypoint would)."""

from __future__ import annotations

import datetime as dt
from typing import Any


class FakeUnitOfWork:
    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.lines: list[tuple[Any, ...]] = []
        self.organisation: dict[str, Any] | None = None
        self.committed = False

    def emit(self, message: Any) -> None:
        self.messages.append(message)

    def emit_many(self, messages: list[Any]) -> None:
        self.messages.extend(messages)

    def audit(self, lines: list[tuple[Any, ...]], at: dt.datetime | None = None) -> None:
        self.lines.extend(lines)

    def keep_organisation(self, doc: dict[str, Any], actor: Any, details: dict[str, Any] | None) -> bool:
        if doc == self.organisation:
            return False
        self.organisation = doc
        return True

    def commit(self) -> None:  # an entrypoint's; a use case calling it is a fault the tests see
        self.committed = True

    def actions(self) -> list[str]:
        return [line[1] for line in self.lines]

    def sent(self, kind: type) -> list[Any]:
        return [m for m in self.messages if isinstance(m, kind)]
