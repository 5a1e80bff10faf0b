"""intake's Celery worker: it hears what council and book decided about its deeds, and their
answers about an organisation being loaded from the admin's page (``organisation``)."""

from __future__ import annotations

from celery import Celery

from services.intake import organisation, services
from services.intake.app import build_runtime
from shared.config import Settings
from shared.consumer import consumer
from shared.db import UnitOfWork
from shared.messages import (
    CloseIntroductions,
    DeedFateDecided,
    DeedInscribed,
    OrganisationVerdict,
    ReopenIntroductions,
)
from shared.runtime import Runtime, make_worker


def create_worker(settings: Settings | None = None, runtime: Runtime | None = None) -> Celery:
    runtime = runtime or build_runtime(settings)
    app = make_worker(runtime)
    consumer(app, runtime, CloseIntroductions)(services.close_introductions)
    consumer(app, runtime, ReopenIntroductions)(services.reopen_introductions)
    consumer(app, runtime, DeedFateDecided)(services.deed_fate)
    consumer(app, runtime, DeedInscribed)(services.deed_inscribed)

    @consumer(app, runtime, OrganisationVerdict)
    def organisation_verdict(uow: UnitOfWork, msg: OrganisationVerdict) -> None:
        organisation.verdict(uow, runtime.context(uow), msg)

    return app
