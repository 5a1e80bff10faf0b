"""What the book's blueprints share: the runtime and conditional responses (ETag, 304)."""

from __future__ import annotations

import datetime as dt

from flask import Response, current_app, request

from services.book import queries
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
