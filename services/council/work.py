"""The council's unit of work: the shared one (a transaction, the outbox) with the councils,
rounds, candidates, ballots, outcomes, recognitions, dossiers and counts (``repository``), the
views API.md shows (``queries``) and the audit record (R23) at hand. Whoever opens it commits:
the web request (``shared.endpoint``), the message (``shared.consumer``), the scheduled job and
the command (``runs``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from services.council import queries
from services.council.domain.rounds import Round
from services.council.repository import (
    Ballots,
    Candidates,
    Councils,
    Counts,
    Dossiers,
    Outcomes,
    Recognitions,
    Rounds,
    Sessions,
)
from shared import audit
from shared.db import UnitOfWork
from shared.orgcopy import store_org


class Views:
    """A round, its result and the R10 summary as API.md shapes them (``queries``)."""

    def __init__(self, session: Sessions) -> None:
        self._s = session

    def round(self, rnd: Round) -> dict[str, Any]:
        return queries.round_view(self._s(), rnd)

    def result(self, rnd: Round) -> dict[str, Any]:
        return queries.result_view(self._s(), rnd)

    def units_with_month(self, month: str, exclude: set[str]) -> list[str]:
        return queries.units_with_month(self._s(), month, exclude)

    def monthly_summary(self, units: list[str], month: str) -> list[dict[str, Any]]:
        return queries.monthly_summary(self._s(), units, month)


class Repositories:
    """The council's repositories over one session of a unit of work."""

    def __init__(self, session: Sessions) -> None:
        self.councils = Councils(session)
        self.rounds = Rounds(session)
        self.candidates = Candidates(session)
        self.ballots = Ballots(session)
        self.outcomes = Outcomes(session)
        self.recognitions = Recognitions(session)
        self.dossiers = Dossiers(session)
        self.counts = Counts(session)
        self.views = Views(session)


class Work(UnitOfWork, Repositories):
    """The repositories run in the transaction's writer; ``reading`` holds the same over the
    reader, for use cases that only read (on SQLite a reader's connection, so that a GET never
    holds the write lock; on PostgreSQL the same session)."""

    def __init__(self, db: Any) -> None:
        UnitOfWork.__init__(self, db)
        Repositories.__init__(self, self._writer)
        self.reading = Repositories(self._reader)

    def _writer(self) -> Session:
        return self.session

    def _reader(self) -> Session:
        return self.reader

    def audit(self, lines: list[audit.Line], at: dt.datetime | None = None) -> None:
        """R23: lines of the audit record, in this transaction."""
        audit.record_many(self, lines, at)

    def keep_organisation(self, doc: dict[str, Any], actor: audit.Actor, details: dict[str, Any] | None) -> bool:
        """The council's copy of the organisation (``shared.orgcopy``); False when it is the same."""
        return store_org(self, doc, actor, details)
