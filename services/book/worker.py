"""The book service's Celery worker: consumes ``book.*`` (Inscribe, RepublishPages,
BookTokensRevoked, and the steps of an organisation loaded from the admin's page) and relays its
outbox."""

from __future__ import annotations

from celery import Celery

from services.book import services
from services.book.app import build_runtime, context
from services.book.publication import cache
from services.book.work import Work
from shared import org_steps
from shared.auth import revoke_copy
from shared.config import Settings
from shared.consumer import consumer
from shared.db import UnitOfWork
from shared.messages import (
    BookTokensRevoked,
    CheckOrganisationBook,
    Inscribe,
    LoadOrganisationBook,
    RepublishPages,
)
from shared.runtime import Runtime, make_worker


def create_worker(settings: Settings | None = None, runtime: Runtime | None = None) -> Celery:
    runtime = runtime or build_runtime(settings)
    # Its inscriptions change publications that the web processes keep: they must hear of them.
    cache.install(runtime.db)
    app = make_worker(runtime)

    @consumer(app, runtime, Inscribe)
    def inscribe(uow: Work, msg: Inscribe) -> None:
        """R8, R14: append the inscription to its golden book (once, whatever redeliveries)."""
        services.inscribe(uow, context(runtime, uow), msg)

    @consumer(app, runtime, RepublishPages)
    def republish_pages(uow: Work, msg: RepublishPages) -> None:
        """R16: the pages and global publications of an inscription, one hop after its feeds."""
        services.republish_pages(uow, context(runtime, uow), msg)

    @consumer(app, runtime, BookTokensRevoked)
    def tokens_revoked(uow: UnitOfWork, msg: BookTokensRevoked) -> None:
        """R24: tokens an admin revoked on intake's page stop working here too."""
        revoke_copy(uow, runtime.orgs.get(), msg)

    @consumer(app, runtime, CheckOrganisationBook)
    def check_organisation(uow: UnitOfWork, msg: CheckOrganisationBook) -> None:
        """R25 from the admin's page: closed books this organisation would name again."""
        org_steps.check("book", uow, context(runtime, uow), msg, services.check_org)

    @consumer(app, runtime, LoadOrganisationBook)
    def load_organisation(uow: UnitOfWork, msg: LoadOrganisationBook) -> None:
        """R25 from the admin's page: open the new books, close those of units gone."""
        org_steps.load("book", uow, context(runtime, uow), msg, services.load_org)

    return app
