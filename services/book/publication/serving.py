"""Serving what is published: a stored publication from the process's cache (``cache``) or the
database, else rendered now; with ``ETag`` and ``Last-Modified``, and 304 to who holds it. The
read side of the one cache layer: what it keeps here, ``responses`` may keep whole.

The views are the edge (``shared.endpoint``, ``public``: nobody need sign in to read the book,
R16); they hand the request's unit of work and its context (``context``) to what serves them."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from flask import Response, current_app, request
from werkzeug.http import http_date, is_resource_modified, quote_etag

from services.book import queries
from services.book.publication import responses
from services.book.publication.cache import ArtifactCache
from services.book.publication.publisher import Publisher, Rendered
from services.book.repository import etag_of
from shared import clock
from shared.context import Context
from shared.db import UnitOfWork, utcnow
from shared.endpoint import endpoint
from shared.problems import Problem
from shared.ratelimit import limit_render
from shared.runtime import Runtime


def runtime() -> Runtime:
    return current_app.extensions["sovang"]


def context(runtime: Runtime, work: UnitOfWork) -> Context:
    """What the book's entrypoints give a use case or a query: as ``Runtime.context``, but an
    organisation not loaded yet is None, not a refusal (a message may come first, and the public
    reads the book all the same)."""
    return Context(settings=runtime.settings, now=utcnow(), today=clock.today(),
                   organisations=lambda: runtime.orgs.get(work.reader))


# The edge of what the public reads (R16): nobody need sign in. ``reads`` commits nothing; a view
# that keeps what it rendered (``publisher.keep_rendered``) is a ``public`` one, committed.
public = functools.partial(endpoint, public=True, context=context)
Asker = Callable[[], Any]  # what a public view is given for its actor: nobody is asked
reads = functools.partial(public, read_only=True)


def unknown_book(code: str) -> Problem:
    return Problem(404, f"Không có sổ vàng mã {code}.")


# Where the app keeps its process's cache of stored publications (``publication.cache``).
CACHE = "sovang.book.artifacts"


def artifact_cache() -> ArtifactCache | None:
    cache = current_app.extensions.get(CACHE)
    if cache is not None:
        cache.listen()
    return cache


NO_CACHE = "public, no-cache"


def conditional(
    body: bytes, content_type: str, etag: str, modified: dt.datetime | None, cache_control: str = NO_CACHE,
    extra: tuple[tuple[str, str], ...] = (),
) -> Response:
    """A publication with ``ETag`` and ``Last-Modified``; 304 on If-None-Match / If-Modified-Since.
    ``extra`` headers go with either answer."""
    # The headers in one list: set one by one (each a search of those already there) they were
    # a measurable share of a cached feed's cost.
    headers = [("ETag", quote_etag(etag)), ("Cache-Control", cache_control), *extra]
    if modified is not None:
        headers.append(("Last-Modified", http_date(modified)))
    resp = Response(body, status=200, headers=headers, content_type=content_type)
    environ = request.environ
    if any(name in environ for name in responses.CONDITIONS):  # what make_conditional answers
        return resp.make_conditional(request)
    # Nothing to answer conditionally: what make_conditional would add is a Date header, which
    # the server sends anyway (gunicorn always does), at a cost like the rest of a cached feed's.
    return resp


def _read_after(uow: UnitOfWork, token: int | None) -> None:
    """What is read next is at least as recent as ``token``: a snapshot the request took before
    it (SQLite's, say, when the organisation was looked for) is let go."""
    if token is not None:
        uow.rollback()


def publication(uow: UnitOfWork, ctx: Context, path: str, fallback, modified: dt.datetime | None = None) -> Response:  # noqa: ANN001
    """Serve the artifact generated at ``path``; else render it now with ``fallback(publisher)``
    (None: nothing is published there → 404). A stored one is kept in the process's cache."""
    cache = artifact_cache()
    token = cache.token() if cache is not None else None
    if token is not None:
        hit = cache.get(path)
        if hit is not None:
            return conditional(hit.body, hit.content_type, hit.etag, hit.modified)
    _read_after(uow, token)
    stored = queries.artifact(uow, ctx, path)
    if stored is not None:
        if token is not None:
            kept = queries.Found(None, stored.content_type, stored.etag, stored.updated_at, stored.body, stored=True)
            cache.put(token, path, kept, len(stored.body))
        return conditional(stored.body, stored.content_type, stored.etag, stored.updated_at)
    limit_render()
    made = queries.rendered(uow, ctx, fallback)
    if made is None:
        raise Problem(404, "Không có ấn phẩm này.")
    return conditional(made.body, made.content_type, etag_of(made.body), modified)


def _fresh(etag: str, modified: dt.datetime | None) -> bool:
    """Whether the asker already holds this version (what ``make_conditional`` answers 304 to)."""
    return not is_resource_modified(
        request.environ, quote_etag(etag), last_modified=http_date(modified) if modified else None
    )


def find_publication(
    uow: UnitOfWork, ctx: Context, code: str, path: str, fallback: Callable[[Publisher], Rendered | None],
    cached: bool = False,
) -> queries.Found:
    """A book's publication at ``path`` with the book's row, read in one session (404 for an
    unknown book); a request whose validators match the stored version gets it without its body.

    ``cached``: a stored publication comes from, and goes to, the process's cache (a conditional
    request then reads the body once, so that the next ones need no database at all)."""
    cache = artifact_cache() if cached else None
    token = cache.token() if cache is not None else None
    if token is not None:
        hit = cache.get(path)
        if hit is not None and hit.book is not None and hit.book.code == code:
            request.environ[responses.KEEP] = True
            return hit
    validating = ("If-None-Match" in request.headers or "If-Modified-Since" in request.headers) and (
        "If-Match" not in request.headers
    )
    fresh = _fresh if validating and token is None else None
    _read_after(uow, token)
    found = queries.book_publication(uow, ctx, code, path, fallback, fresh)
    if found is None:
        raise unknown_book(code)
    if token is not None and found.stored and found.body is not None:
        found = replace(found, book=queries.BookHead.of(found.book))
        if cache.put(token, path, found, len(found.body)):
            request.environ[responses.KEEP] = True
    return found


def respond(
    found: queries.Found, modified: Callable[[Any], dt.datetime | None] | None = None,
    cache_control: str = NO_CACHE, extra: tuple[tuple[str, str], ...] = (),
) -> Response:
    """The response for what ``find_publication`` found; ``modified(book)`` dates what was
    rendered now. 404 where nothing is published."""
    if found.etag is None:
        raise Problem(404, "Không có ấn phẩm này.")
    if found.body is None:  # the validators matched: what make_conditional turns into a 304
        return conditional(b"", found.content_type or "", found.etag, found.modified, cache_control, extra)
    when = found.modified if found.modified is not None else (modified(found.book) if modified else None)
    return conditional(found.body, found.content_type or "", found.etag, when, cache_control, extra)
