"""What the book's blueprints share: the runtime and conditional responses (ETag, 304)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from flask import Response, current_app, request
from werkzeug.http import http_date, is_resource_modified, quote_etag

from services.book import queries
from services.book.publisher import Publisher, Rendered
from services.book.repository import etag_of
from shared.http import Problem
from shared.runtime import Runtime

# The largest entry number a column holds (PostgreSQL integer): larger ones name nothing.
MAX_SEQ = 2**31 - 1


def runtime() -> Runtime:
    return current_app.extensions["sovang"]


def not_found(what: str) -> Problem:
    return Problem(404, what)


def unknown_book(code: str) -> Problem:
    return Problem(404, f"Không có sổ vàng mã {code}.")


def conditional(body: bytes, content_type: str, etag: str, modified: dt.datetime | None) -> Response:
    """A publication with ``ETag`` and ``Last-Modified``; 304 on If-None-Match / If-Modified-Since."""
    resp = Response(body, status=200, content_type=content_type)
    resp.set_etag(etag)
    if modified is not None:
        resp.last_modified = modified
    resp.headers["Cache-Control"] = "public, no-cache"
    return resp.make_conditional(request)


def publication(path: str, fallback, modified: dt.datetime | None = None) -> Response:  # noqa: ANN001
    """Serve the artifact generated at ``path``; else render it now with ``fallback(publisher)``
    (None: nothing is published there → 404)."""
    stored = queries.artifact(runtime(), path)
    if stored is not None:
        return conditional(stored.body, stored.content_type, stored.etag, stored.updated_at)
    made = queries.rendered(runtime(), fallback)
    if made is None:
        raise Problem(404, "Không có ấn phẩm này.")
    return conditional(made.body, made.content_type, etag_of(made.body), modified)


def _fresh(etag: str, modified: dt.datetime | None) -> bool:
    """Whether the asker already holds this version (what ``make_conditional`` answers 304 to)."""
    return not is_resource_modified(
        request.environ, quote_etag(etag), last_modified=http_date(modified) if modified else None
    )


def find_publication(code: str, path: str, fallback: Callable[[Publisher], Rendered | None]) -> queries.Found:
    """A book's publication at ``path`` with the book's row, read in one session (404 for an
    unknown book); a request whose validators match the stored version gets it without its body."""
    validating = ("If-None-Match" in request.headers or "If-Modified-Since" in request.headers) and (
        "If-Match" not in request.headers
    )
    found = queries.book_publication(runtime(), code, path, fallback, _fresh if validating else None)
    if found is None:
        raise unknown_book(code)
    return found


def respond(found: queries.Found, modified: Callable[[Any], dt.datetime | None] | None = None) -> Response:
    """The response for what ``find_publication`` found; ``modified(book)`` dates what was
    rendered now. 404 where nothing is published."""
    if found.etag is None:
        raise Problem(404, "Không có ấn phẩm này.")
    if found.body is None:  # the validators matched: what make_conditional turns into a 304
        return conditional(b"", found.content_type or "", found.etag, found.modified)
    when = found.modified if found.modified is not None else (modified(found.book) if modified else None)
    return conditional(found.body, found.content_type or "", found.etag, when)


def book_publication(
    code: str,
    path: str,
    fallback: Callable[[Publisher], Rendered | None],
    modified: Callable[[Any], dt.datetime | None] | None = None,
) -> tuple[Response, Any]:
    """Serve a book's publication at ``path`` in one read session: the response and the book's row."""
    found = find_publication(code, path, fallback)
    return respond(found, modified), found.book
