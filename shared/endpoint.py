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

The request's unit of work (``request_work``) lives as long as the request: authentication reads
the token on it, so a request takes one connection and, with an Idempotency-Key, makes one
transaction of the claim, the use case and the answer.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app, g, request

from shared.auth import Principal, principal
from shared.db import Database, UnitOfWork
from shared.idempotency import PLAIN, WAIT_SECONDS, Answer, Answers, Keyed, Wait, check_key, in_use
from shared.problems import Problem
from shared.refusals import Refused

_WORK = "sovang_work"


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


def answer_once(work: UnitOfWork, answers: Answers, keyed: Keyed, run: Callable[[], Any]) -> Response:
    """Run ``run`` once for ``keyed``, in ``work``'s transaction with the claim and the answer,
    committed once: among concurrent requests with one key one runs, the others wait on its
    claim (PostgreSQL: the row; SQLite: the write lock) and then replay its answer, or find the
    key free if it failed. A refusal is answered and kept, and nothing of its use case stays."""
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
    refused = False
    try:
        resp = current_app.make_response(run())
    except Refused as exc:
        resp, refused = Problem.of(exc).response(), True
    except Problem as exc:
        resp, refused = exc.response(), True
    except Exception:
        work.rollback()
        raise
    if resp.status_code >= 500:
        work.rollback()
        return resp
    if refused:
        # Whatever the use case wrote goes, its claim with it; the answer alone is kept.
        work.rollback()
        answers.keep_alone(work.session, keyed, _answer(resp))
    else:
        answers.keep(work.session, keyed, _answer(resp))
    work.commit()
    return resp


def endpoint(*roles: str, idempotent: bool = False, read_only: bool = False, answers: Answers = PLAIN,
             actor: Callable[[Principal], Any] = lambda who: who) -> Callable:
    """Make ``view(uow, ctx, actor, **path)`` a Flask view (see the module's docstring).

    ``roles``: who may call it (403 otherwise; all roles when none given). ``idempotent``: an
    Idempotency-Key is honoured. ``read_only``: nothing is committed. ``actor``: the use case's
    actor made of the principal."""

    def deco(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            runtime = current_app.extensions["sovang"]
            work = request_work(runtime.db)
            who = principal(runtime.db, *roles, reader=work.reader)

            def run() -> Any:
                return view(work, runtime.context(work), actor(who), *args, **kwargs)

            key = request.headers.get("Idempotency-Key") if idempotent else None
            if key:
                check_key(key)
                return answer_once(work, answers, keyed(who, key), run)
            try:
                resp = run()
            except Refused:
                work.rollback()
                raise
            if not read_only:
                work.commit()
            return resp

        return wrapper

    return deco


# -- use cases that still commit themselves ------------------------------------------------------
def answer_apart(db: Database, answers: Answers, keyed: Keyed, run: Callable[[], Any]) -> Response:
    """``answer_once`` for views whose use cases commit in units of work of their own (council's,
    which retry a transaction lost to a concurrent one): the claim, the use case and the answer
    are three transactions. Goes once their use cases leave committing to the edge."""
    ttl = db.settings.idempotency_ttl_hours
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        with db.unit_of_work() as uow:
            found = answers.claim(uow.session, keyed, ttl)
            if not isinstance(found, Wait):
                uow.commit()  # the claim, or the removal of a stale record before a replay
                if found is not None:
                    return _replay(found)
                break
        if time.monotonic() > deadline:
            raise in_use()
        time.sleep(0.05)
    try:
        resp = current_app.make_response(run())
    except Refused as exc:
        resp = Problem.of(exc).response()
    except Problem as exc:
        resp = exc.response()
    except Exception:
        _release(db, answers, keyed)
        raise
    if resp.status_code >= 500:
        _release(db, answers, keyed)
        return resp
    with db.unit_of_work() as uow:
        answers.keep(uow.session, keyed, _answer(resp))
        uow.commit()
    return resp


def _release(db: Database, answers: Answers, keyed: Keyed) -> None:
    with db.unit_of_work() as uow:
        answers.release(uow.session, keyed)
        uow.commit()


def idempotent(answers: Answers = PLAIN) -> Callable:
    """Idempotency-Key for a view of use cases that commit themselves (``answer_apart``); call it
    inside the authentication, which it is scoped by."""

    def deco(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            key = request.headers.get("Idempotency-Key")
            if not key:
                return view(*args, **kwargs)
            check_key(key)
            return answer_apart(current_app.extensions["sovang"].db, answers, keyed(g.get("principal"), key),
                                functools.partial(view, *args, **kwargs))

        return wrapper

    return deco
