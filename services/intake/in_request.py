"""How intake's pages and its session views run a use case that writes: in the request's unit of
work (``shared.endpoint.request_work``; a read is ``shared.endpoint.read``), which the view
commits once.
Signing in is the one use case whose refusal leaves something behind: the failed attempt,
counted towards R24's limits and committed before the refusal is answered."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, request

from services.intake import people
from shared.endpoint import request_work
from shared.runtime import Runtime

T = TypeVar("T")


def runtime() -> Runtime:
    return current_app.extensions["sovang"]


def address() -> str:
    """The client's address, as ProxyFix (``SOVANG_TRUSTED_PROXIES``) made it."""
    return request.remote_addr or "?"


def write(use_case: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A use case that writes, on the request's unit of work: committed once when it returns,
    rolled back when it refuses (or fails)."""
    work = request_work(runtime().db)
    try:
        result = use_case(work, runtime().context(work), *args, **kwargs)
    except BaseException:
        work.rollback()
        raise
    work.commit()
    return result


def signing_in(use_case: Callable[..., people.SignedIn], *args: Any) -> people.SignedIn:
    """``write`` for a sign-in (``people.sign_in``, ``people.sign_in_vouched``): a refused
    attempt (``people.NotSignedIn``) is counted against its subject and this address, and the
    count committed, before the refusal goes on to be answered (R24)."""
    work = request_work(runtime().db)
    ctx = runtime().context(work)
    try:
        done = use_case(work, ctx, *args)
    except people.NotSignedIn as refused:
        work.rollback()
        people.count_failure(work, ctx, refused.subject, address())
        work.commit()
        raise
    except BaseException:
        work.rollback()
        raise
    work.commit()
    return done
