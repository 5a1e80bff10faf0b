"""The book's unit of work: the shared one (a transaction, the outbox) with the books
(``repository.Books``), the publications (``publisher.Publications``) and the audit record (R23)
at hand. Whoever opens it commits: the web request (``shared.endpoint``), the message
(``shared.outbox.consume``), the command (``Runtime.run``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from services.book.publication.publisher import Publications
from services.book.repository import Books
from shared import audit
from shared.db import UnitOfWork
from shared.orgcopy import store_org


class Work(UnitOfWork):
    def __init__(self, db: Any) -> None:
        super().__init__(db)
        self.books = Books(lambda: self.session)
        self.publications = Publications(lambda: self.session)

    def audit(self, lines: list[audit.Line], at: dt.datetime | None = None) -> None:
        """R23: lines of the audit record, in this transaction."""
        audit.record_many(self, lines, at)

    def keep_organisation(self, doc: dict[str, Any], actor: audit.Actor, details: dict[str, Any] | None) -> bool:
        """The book's copy of the organisation (``shared.orgcopy``); False when it is the same."""
        return store_org(self, doc, actor, details)

