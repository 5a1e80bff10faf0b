"""The HTTP edge of a use case: one decorator that authenticates, opens the request's unit of
work, claims the Idempotency-Key in it, runs the use case, keeps the answer and commits once.

    @bp.post("/<id:deed_id>/introduce")
    @endpoint(idempotent=True)
    def introduce(uow, ctx, actor, deed_id):
        return jsonify(services.introduce(uow, ctx, actor, deed_id))

The view reads the request (body, query) and calls the use case with the unit of work, the
context (``shared.context``) and the actor it is given; a refusal it raises
(``shared.refusals``) rolls back whatever was written and is answered as problem+json — and, under
an Idempotency-Key, kept and replayed like any answer. ``answers=Sealed(table)`` keeps the answers
of ballots where no one can file them under a member (R19).

Reads go through the same edge: ``read_only=True`` commits nothing, and ``public=True`` asks no one
to sign in — the view is given, as its actor, a function that authenticates the request when its
rule needs to know who asks (a round's result before it closes). A page, which says who asks in
its own way (``shared.web.acting``), runs its queries with ``read``, in the same unit of work.

The request's unit of work (``request_work``) lives as long as the request: authentication reads
the token on it, so a request takes one connection and, with an Idempotency-Key, makes one
transaction of the claim, the use case and the answer.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app, g, request

from shared.auth import Principal
from shared.context import Context
from shared.db import Database, UnitOfWork
from shared.idempotency import PLAIN, WAIT_SECONDS, Answer, Answers, Keyed, Wait, check_key, in_use
from shared.problems import Problem
from shared.refusals import Refused
from shared.request_auth import principal

log = logging.getLogger(__name__)
_WORK = "sovang_work"
# What makes a use case's context of the process's runtime and the request's unit of work.
ContextOf = Callable[[Any, UnitOfWork], Context]
# How long the edge pauses before it runs a view that asked for ``Again``.
AGAIN_PAUSE_SECONDS = 0.05


class Again(Exception):
    """Raised by a view whose rule waits for what another process commits (the council's R12
    dossiers on their way) or that lost a race on a unique key: the edge rolls the request's
    transaction back — its Idempotency-Key's claim with it, so that the other process is not held
    up by it — pauses, and runs the view again from the claim on. The view bounds how often."""


def request_work(db: Database) -> UnitOfWork:
    """The unit of work of the request being served, opened at first use (``install_request_work``
    closes it, rolling back whatever was not committed)."""
    work = g.get(_WORK)
    if work is None:
        work = db.unit_of_work()
        setattr(g, _WORK, work)
    return work


def install_request_work(app: Flask) -> None:
    @app.teardown_request
    def _close_work(_exc: BaseException | None) -> None:
        work = g.pop(_WORK, None)
        if work is not None:
            work.close()


def keyed(who: Principal | None, key: str) -> Keyed:
    """This request under ``key``: scoped to the caller, and to its method, path and body."""
    subject = f"{who.role}:{who.subject}" if who is not None else "anonymous"
    return Keyed(subject, key,
                 request.method.encode() + b" " + request.full_path.encode() + b"\n" + request.get_data(cache=True))


def _answer(resp: Response) -> Answer:
    return Answer(resp.status_code, resp.content_type or "", resp.get_data())


def _replay(answer: Answer) -> Response:
    return Response(answer.body, status=answer.status, content_type=answer.content_type)


def _run_answer(work: UnitOfWork, run: Callable[[], Any]) -> tuple[Response, bool]:
    """The use case's response, and whether it is a refusal (whatever it wrote is rolled back)."""
    try:
        return current_app.make_response(run()), False
    except Refused as exc:
        resp = Problem.of(exc).response()
    except Problem as exc:
        resp = exc.response()
    except Exception:
        work.rollback()
        raise
    work.rollback()
    return resp, True


def answer_once(work: UnitOfWork, answers: Answers, keyed: Keyed, run: Callable[[], Any],
                claim_with_answer: bool = False) -> Response:
    """Run ``run`` once for ``keyed``, in ``work``'s transaction with the claim and the answer,
    committed once: among concurrent requests with one key one runs, the others wait on its
    claim (PostgreSQL: the row; SQLite: the write lock) and then replay its answer, or find the
    key free if it failed. A refusal is answered and kept, and nothing of its use case stays.

    ``claim_with_answer``: the use case runs first and the key is claimed with its answer in one
    statement (``Answers.keep_first``): one statement fewer for a new key. Where the key was taken
    meanwhile or before (a replay, a concurrent duplicate whose claim this one waited for), what
    the use case wrote is rolled back and the key is looked at as below; the stored answer is
    replayed, another body refused. Only for use cases that insert rows of fresh ids alone, which
    two concurrent runs cannot trip over before one of them reaches the key."""
    if claim_with_answer:
        # A refusal's answer is kept like any other (what its use case wrote is already gone).
        resp, _refused = _run_answer(work, run)
        if resp.status_code >= 500:
            work.rollback()
            return resp
        if answers.keep_first(work.session, keyed, _answer(resp)):
            work.commit()
            return resp
        work.rollback()
    ttl = work.db.settings.idempotency_ttl_hours
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        found = answers.claim(work.session, keyed, ttl)
        if found is None:
            break
        if not isinstance(found, Wait):
            return _replay(found)
        # Held by a request that did not claim in its own transaction (a process that died):
        # let go of ours, so that SQLite's write lock does not stop it, and look again.
        work.rollback()
        if time.monotonic() > deadline:
            raise in_use()
        time.sleep(0.05)
    commits = work.commits
    try:
        resp, refused = _run_answer(work, run)
    except Exception:
        _let_go(work, answers, keyed, committed=work.commits != commits)
        raise
    if resp.status_code >= 500:
        work.rollback()
        _let_go(work, answers, keyed, committed=work.commits != commits)
        return resp
    if refused and work.commits == commits:
        # Whatever the use case wrote went, its claim with it; the answer alone is kept.
        answers.keep_alone(work.session, keyed, _answer(resp))
    else:
        # A refusal after the view committed (its claim with it, still pending) answers that claim.
        answers.keep(work.session, keyed, _answer(resp))
    work.commit()
    return resp


def _let_go(work: UnitOfWork, answers: Answers, keyed: Keyed, committed: bool) -> None:
    """A request that failed after its view committed (the council's monthly round, committed
    before its answer waits for intake's) left its claim committed and pending: released here,
    so that the key is free at once, not held up for ``PENDING_EXPIRES_SECONDS``; its retry is
    answered as a new request would be. Nothing to do when nothing was committed: the claim went
    with the rollback."""
    if not committed:
        return
    try:
        work.rollback()
        answers.release(work.session, keyed)
        work.commit()
    except Exception:  # the database itself failing: the claim expires on its own
        work.rollback()
        log.warning("could not release an Idempotency-Key's claim after a failure", exc_info=True)


def endpoint(*roles: str, idempotent: bool = False, read_only: bool = False, public: bool = False,
             answers: Answers = PLAIN, claim_with_answer: bool = False,
             actor: Callable[[Principal], Any] = lambda who: who, context: ContextOf | None = None) -> Callable:
    """Make ``view(uow, ctx, actor, **path)`` a Flask view (see the module's docstring).

    ``roles``: who may call it (403 otherwise; all roles when none given). ``idempotent``: an
    Idempotency-Key is honoured. ``read_only``: nothing is committed. ``public``: nobody need sign
    in; the view's actor is then a function giving the actor once the request is authenticated
    (``roles`` required). ``claim_with_answer``: the key is claimed with the answer after the use
    case (``answer_once``). ``actor``: the use case's actor made of the principal. ``context``: the
    use case's context made of the runtime and the unit of work (``Runtime.context`` by default)."""

    def deco(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            runtime = current_app.extensions["sovang"]
            work = request_work(runtime.db)
            who = None if public else principal(runtime.db, *roles, reader=work.reader)

            def asker() -> Any:
                return actor(principal(runtime.db, *roles, reader=work.reader))

            def run() -> Any:
                ctx = runtime.context(work) if context is None else context(runtime, work)
                return view(work, ctx, asker if public else actor(who), *args, **kwargs)

            key = request.headers.get("Idempotency-Key") if idempotent else None
            if key:
                check_key(key)
            while True:
                try:
                    if key:
                        return answer_once(work, answers, keyed(who, key), run, claim_with_answer)
                    try:
                        resp = run()
                    except Refused:
                        work.rollback()
                        raise
                    if not read_only:
                        work.commit()
                    return resp
                except Again:
                    work.rollback()
                    time.sleep(AGAIN_PAUSE_SECONDS)

        return wrapper

    return deco


def read(query: Callable[..., Any], *args: Any, context: ContextOf | None = None, **kwargs: Any) -> Any:
    """``query(uow, ctx, *args, **kwargs)`` in the request's unit of work, nothing committed: the
    read edge of a page, which says who asks in its own way (``shared.web.acting``) and hands the
    actor among ``args``. ``context`` as ``endpoint``'s."""
    runtime = current_app.extensions["sovang"]
    work = request_work(runtime.db)
    ctx = runtime.context(work) if context is None else context(runtime, work)
    return query(work, ctx, *args, **kwargs)


def read_afresh() -> None:
    """End the request's reads so far: what is read next sees what committed since (a page that
    wrote in a transaction of its own, or refused to, and shows the state after it)."""
    work = g.get(_WORK)
    if work is not None:
        work.rollback()
