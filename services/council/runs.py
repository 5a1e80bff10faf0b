"""The council's use cases run by a process outside a web request's unit of work: the pages'
forms, the beat's sweeps, the command line and the tests. Each opens its units of work and
commits them (``Runtime.run``); where a rule waits for another process's commit or retries a
transaction lost to a concurrent one, it runs the use case in a loop of transactions, as the
API's views do through ``shared.endpoint.Again``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError

from services.council import services
from services.council.domain.rounds import CANCELLED, MONTHLY, OPENING
from shared import clock
from shared.auth import Principal
from shared.context import Context
from shared.db import UnitOfWork
from shared.refusals import Conflict, Refused
from shared.runtime import Runtime

log = logging.getLogger(__name__)
T = TypeVar("T")
# How many times a transaction that lost a race on a unique key (decision numbers) is run.
TRIES = 5


def _context(runtime: Runtime, uow: UnitOfWork, now: dt.datetime | None) -> Context:
    ctx = runtime.context(uow)
    if now is None:
        return ctx
    return dataclasses.replace(ctx, now=now, today=clock.local(now).date())


def run(runtime: Runtime, use_case: Callable[..., T], *args: Any, now: dt.datetime | None = None) -> T:
    """``use_case(uow, ctx, *args)`` in a unit of work of its own, committed; ``now`` the
    instant it runs at (the machine's when None)."""
    with runtime.db.unit_of_work() as uow:
        result = use_case(uow, _context(runtime, uow, now), *args)
        uow.commit()
    return result


def retrying(attempt: Callable[[], T], tries: int = TRIES) -> T:
    """Run a transaction again when it lost a race on a unique key (decision numbers)."""
    for i in range(tries):
        try:
            return attempt()
        except IntegrityError:
            if i == tries - 1:
                raise
            log.info("close lost a race on a unique key; retrying")
    raise AssertionError("unreachable")


def answered(uow: UnitOfWork, round_id: str) -> str:
    """The monthly round's status once intake answered, or ``opening`` when it did not in time.
    Asked once the round is committed. Each look is a read of its own: a snapshot would never
    change, and the writer's session (SQLite) would hold the lock the council's worker needs to
    write intake's answer."""
    started = time.monotonic()
    while True:
        with uow.db.unit_of_work() as look:  # its reader: a read of its own, never the writer's
            status, unsent = services.opening_status(look, round_id)
        if status != OPENING:
            return status
        waited = time.monotonic() - started
        if waited > services.OPENING_WAIT_SECONDS:
            return status
        if waited > services.UNSENT_WAIT_SECONDS and unsent:
            return status
        time.sleep(0.02)


# -- the secretary's and the member's use cases ---------------------------------------------------
def open_round(runtime: Runtime, who: Principal, data: dict[str, Any], now: dt.datetime | None = None,
               opened_by: str | None = None) -> dict:
    """``services.open_round`` with its waits: for the dossiers on their way (R12), each try a
    transaction of its own; then, for a secretary's monthly round, for intake's answer."""
    deadline = time.monotonic() + services.DOSSIER_WAIT_SECONDS
    while True:
        try:
            round_id = run(runtime, services.open_round, who, data, opened_by, now=now)
            break
        except services.DossiersInFlight as exc:
            if time.monotonic() > deadline:
                raise exc.refusal(data) from None
            time.sleep(0.05)  # the council's worker receives them in the meantime
    if data["kind"] == MONTHLY and opened_by is None:
        with runtime.db.unit_of_work() as uow:
            if answered(uow, round_id) == CANCELLED:
                raise services.empty_month(data)
    return get_round_view(runtime, round_id)


def cast_ballot(runtime: Runtime, who: Principal, round_id: str,
                choices: dict[str, str] | Callable[[], dict[str, str]], now: dt.datetime | None = None) -> dict:
    return run(runtime, services.cast_ballot, who, round_id, choices, now=now)


def enter_paper_ballots(runtime: Runtime, who: Principal, round_id: str, voters_count: int,
                        papers: list[dict[str, str]], now: dt.datetime | None = None) -> dict:
    return run(runtime, services.enter_paper_ballots, who, round_id, voters_count, papers, now=now)


def move_deadline(runtime: Runtime, who: Principal, round_id: str, closes_at: dt.datetime,
                  now: dt.datetime | None = None) -> dict:
    return run(runtime, services.move_deadline, who, round_id, closes_at, now=now)


def cancel_round(runtime: Runtime, who: Principal, round_id: str) -> dict:
    return run(runtime, services.cancel_round, who, round_id)


def close_round(runtime: Runtime, who: Principal, round_id: str, now: dt.datetime | None = None) -> dict:
    now = now or clock.utcnow()
    return retrying(lambda: run(runtime, services.close_round, who, round_id, now=now))


# -- the beat ------------------------------------------------------------------------------------
def close_due_rounds(runtime: Runtime, now: dt.datetime | None = None) -> list[str]:
    """R20: close every open round past its deadline, each in a transaction of its own; safe under
    duplicate triggers and several workers. Returns the rounds it closed."""
    now = now or clock.utcnow()
    with runtime.db.unit_of_work() as uow:
        due = services.due_rounds(uow, _context(runtime, uow, now))
    closed = []
    for round_id in due:
        try:
            if retrying(lambda round_id=round_id: run(runtime, services.close_due, round_id, now=now)):
                closed.append(round_id)
        except Exception:  # one bad round must not keep the others open
            log.exception("closing round %s at its deadline failed", round_id)
    return closed


def forget_ballot_requests(runtime: Runtime, now: dt.datetime | None = None) -> int:
    return run(runtime, services.forget_ballot_requests, now=now)


def open_due_rounds(runtime: Runtime, now: dt.datetime | None = None) -> list[str]:
    """R21: open the rounds of the calendar whose period has ended (``services.due_openings``)."""
    now = now or clock.utcnow()
    org = runtime.orgs.get()
    if org is None:
        return []
    opened: list[str] = []
    for council in org.councils.values():
        with runtime.db.unit_of_work() as uow:
            due = services.due_openings(uow, _context(runtime, uow, now), council)
        for system, data in due:
            try:
                view = open_round(runtime, system, data, now, opened_by="calendar")
                opened.append(view["id"])
            except Refused as exc:
                if not isinstance(exc, Conflict):
                    log.warning("calendar could not open %s %s of %s: %s", data["kind"], data["period"],
                                council.code, exc.detail)
    return opened


# -- reading -------------------------------------------------------------------------------------
def get_round_view(runtime: Runtime, round_id: str) -> dict:
    """The round as a new transaction sees it: what an entrypoint answers once it committed (a
    query of the request's own is ``shared.endpoint.read``'s; of a test or a command, ``run``)."""
    with runtime.db.unit_of_work() as uow:
        return services.round_view(uow, round_id)
