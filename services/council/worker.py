"""The council's Celery worker and beat: the consumers of its messages and the R20/R21 sweeps.

Tasks (queue ``council``): ``council.deeds_recorded``, ``council.deed_recorded``, ``council.deed_introduced``,
``council.introductions_closed``, ``council.dossier_sent``, ``council.deed_revoked``, ``council.tokens_revoked``,
``council.check_organisation``, ``council.load_organisation`` (consumers), ``council.close_due_rounds``
(beat, every ``settings.sweep_seconds``) and ``council.open_due_rounds`` (beat, when
``SOVANG_CALENDAR`` is on).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import Celery

from services.council import runs, services
from services.council.app import build_runtime
from services.council.config import config_of
from shared import org_steps
from shared.auth import revoke_copy
from shared.config import Settings
from shared.consumer import consumer
from shared.db import UnitOfWork
from shared.messages import (
    CheckOrganisationCouncil,
    DeedIntroduced,
    DeedRecorded,
    DeedRevoked,
    DeedsRecorded,
    DossierSent,
    IntroductionsClosed,
    LoadOrganisationCouncil,
    TokensRevoked,
)
from shared.runtime import Runtime, make_worker

log = logging.getLogger(__name__)

CLOSE_DUE_ROUNDS = "council.close_due_rounds"
OPEN_DUE_ROUNDS = "council.open_due_rounds"
CALENDAR_SECONDS = 60.0
# How often the sweep also forgets expired ballot Idempotency-Key answers.
PURGE_SECONDS = 3600.0


def create_worker(settings: Settings | None = None, runtime: Runtime | None = None) -> Celery:
    runtime = runtime or build_runtime(settings)
    app = make_worker(runtime)

    @consumer(app, runtime, DeedsRecorded)
    def deeds_recorded(uow: UnitOfWork, msg: DeedsRecorded) -> None:
        services.deeds_recorded(uow, msg)

    # Messages of one deed each, still in outboxes written before intake told deeds in batches.
    @consumer(app, runtime, DeedRecorded)
    def deed_recorded(uow: UnitOfWork, msg: DeedRecorded) -> None:
        services.deed_recorded(uow, msg)

    @consumer(app, runtime, DeedIntroduced)
    def deed_introduced(uow: UnitOfWork, msg: DeedIntroduced) -> None:
        services.deed_introduced(uow, msg)

    @consumer(app, runtime, IntroductionsClosed)
    def introductions_closed(uow: UnitOfWork, msg: IntroductionsClosed) -> None:
        services.introductions_closed(uow, runtime.context(uow), msg)

    @consumer(app, runtime, DeedRevoked)
    def deed_revoked(uow: UnitOfWork, msg: DeedRevoked) -> None:
        services.deed_revoked(uow, msg)

    @consumer(app, runtime, DossierSent)
    def dossier_sent(uow: UnitOfWork, msg: DossierSent) -> None:
        services.dossier_sent(uow, msg)

    @consumer(app, runtime, TokensRevoked)
    def tokens_revoked(uow: UnitOfWork, msg: TokensRevoked) -> None:
        """R24: tokens an admin revoked on intake's page stop working here too."""
        revoke_copy(uow, runtime.orgs.get(), msg)

    @consumer(app, runtime, CheckOrganisationCouncil)
    def check_organisation(uow: UnitOfWork, msg: CheckOrganisationCouncil) -> None:
        """R25 from the admin's page: the rounds still open this organisation would orphan."""
        org_steps.check("council", uow, runtime.context(uow), msg, services.check_org)

    @consumer(app, runtime, LoadOrganisationCouncil)
    def load_organisation(uow: UnitOfWork, msg: LoadOrganisationCouncil) -> None:
        """R25 from the admin's page: load it, checking again under the open rounds' locks."""
        org_steps.load("council", uow, runtime.context(uow), msg, services.load_org)

    purge_after = [0.0]

    @app.task(name=CLOSE_DUE_ROUNDS, acks_late=True, ignore_result=True, shared=False)
    def close_due_rounds() -> list[str]:
        """R20: close every open round past its deadline, exactly once each."""
        if runtime.orgs.get() is None:
            return []
        closed = runs.close_due_rounds(runtime)
        if time.monotonic() >= purge_after[0]:
            runs.forget_ballot_requests(runtime)
            purge_after[0] = time.monotonic() + PURGE_SECONDS
        return closed

    @app.task(name=OPEN_DUE_ROUNDS, acks_late=True, ignore_result=True, shared=False)
    def open_due_rounds() -> list[str]:
        """R21: open the rounds of the calendar whose period has ended."""
        if not config_of(runtime).calendar_enabled:
            return []
        return runs.open_due_rounds(runtime)

    schedule: dict[str, Any] = {
        CLOSE_DUE_ROUNDS: {
            "task": CLOSE_DUE_ROUNDS,
            "schedule": runtime.settings.sweep_seconds,
            # A sweep left waiting (no worker up) is dropped: the next one does the same work.
            "options": {"queue": "council", "expires": max(runtime.settings.sweep_seconds * 5, 10.0)},
        },
    }
    if config_of(runtime).calendar_enabled:
        schedule[OPEN_DUE_ROUNDS] = {
            "task": OPEN_DUE_ROUNDS,
            "schedule": CALENDAR_SECONDS,
            "options": {"queue": "council", "expires": CALENDAR_SECONDS * 5},
        }
    app.conf.beat_schedule = schedule
    return app
