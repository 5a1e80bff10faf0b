"""Each service's copy of the organisation: stored by ``sovang org load`` (or an admin's page) in
the service's own database (``store_org``), parsed once per document and looked for anew at most
once a second (``OrgCache``)."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

from shared import audit
from shared.db import Database, UnitOfWork, utcnow
from shared.org import Organisation
from shared.refusals import Unavailable
from shared.tables import org_documents

# Bumped whenever this process commits a new organisation document, so that every OrgCache of
# the process looks again at once instead of at its next periodic check.
_generations = itertools.count(1)
_generation = 0


def _org_committed(_session: object) -> None:
    global _generation
    _generation = next(_generations)


def store_org(uow: UnitOfWork, doc: dict[str, Any], actor: audit.Actor = audit.CLI,
              details: dict[str, Any] | None = None) -> bool:
    """Keep a copy of the organisation; returns False when this very document is already loaded.
    ``actor`` loaded it (the command line unless an admin's page did), ``details`` add to its line."""
    Organisation.loadable(doc)  # refuse a malformed document before storing it
    digest = Organisation.digest(doc)
    latest = uow.session.execute(
        sa.select(org_documents.c.digest).order_by(org_documents.c.id.desc()).limit(1)
    ).scalar()
    if latest == digest:
        return False
    exists = uow.session.execute(sa.select(org_documents.c.id).where(org_documents.c.digest == digest)).scalar()
    if exists:
        # An older document loaded again becomes current once more.
        uow.session.execute(org_documents.delete().where(org_documents.c.id == exists))
    uow.session.execute(org_documents.insert().values(digest=digest, document=doc, loaded_at=utcnow()))
    # R23, R25: a new organisation is a change of state (loaded with `sovang org load`).
    audit.record(uow, actor, "org.loaded", digest, {
        "units": len(doc.get("units") or []), "officers": len(doc.get("officers") or []),
        "again": exists is not None, **(details or {})}, unit=(doc.get("province") or {}).get("code"))
    # Once committed, not before: a cache looking in between would keep the old document.
    event.listen(uow.session, "after_commit", _org_committed, once=True)
    return True


class OrgCache:
    """The current organisation of one service, parsed once per loaded document.

    Whether a newer document was loaded is asked of the database at most once every
    ``check_seconds`` (a request would otherwise pay a query to learn that nothing changed):
    ``sovang org load`` from another process is seen within that time, a load committed by this
    process at once.
    """

    def __init__(self, db: Database, check_seconds: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.db = db
        self.check_seconds = check_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._id: int | None = None
        self._org: Organisation | None = None
        self._checked_at = 0.0
        self._generation = -1

    def get(self, reader: Session | None = None) -> Organisation | None:
        """The organisation; looked for on ``reader`` when given (a request's unit of work, which
        holds a connection already), else on a session of its own."""
        now = self._clock()
        generation = _generation  # read before looking: a load committed meanwhile bumps it again
        org = self._org
        if org is not None and generation == self._generation and now - self._checked_at < self.check_seconds:
            return org
        with nullcontext(reader) if reader is not None else self.db.reading() as s:
            latest = s.execute(sa.select(org_documents.c.id).order_by(org_documents.c.id.desc()).limit(1)).scalar()
            if latest is None:
                return None
            if latest == self._id and org is not None:
                with self._lock:
                    self._checked_at, self._generation = now, generation
                return org
            doc = s.execute(sa.select(org_documents.c.document).where(org_documents.c.id == latest)).scalar()
        parsed = Organisation.from_document(doc)
        with self._lock:
            self._org, self._id, self._checked_at, self._generation = parsed, latest, now, generation
            return parsed

    def require(self, reader: Session | None = None) -> Organisation:
        org = self.get(reader)
        if org is None:
            raise Unavailable("Chưa nạp tổ chức (sovang org load).")
        return org
