"""What the book's blueprints share: the public origin and the largest entry number (the runtime,
an unknown book's refusal and the serving of stored publications are ``publication.serving``'s)."""

from __future__ import annotations

import logging
import re

from flask import request

from services.book.publication.serving import runtime, unknown_book
from shared.problems import Problem

log = logging.getLogger(__name__)

# An origin safe to write unescaped into XML, JSON and a QR code: scheme, host, port, a path.
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~\-/]*)?$")
_HOST = re.compile(r"^([A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?$")


def public_origin() -> str:
    """The origin published links start with (feeds, QR codes): the configured public URL
    (``SOVANG_PUBLIC_URL``), else the origin this request came to. A Host that is not a plain
    host name is never echoed into a publication."""
    configured = runtime().settings.public_url
    if configured:
        if _ORIGIN.match(configured):
            return configured.rstrip("/")
        log.warning("SOVANG_PUBLIC_URL %r is not an http(s) origin; using the request's own", configured)
    host = request.host
    return f"{request.scheme}://{host if _HOST.match(host) else 'localhost'}"


def configured_origin() -> bool:
    """Whether the public origin is the configured one (the same for every request)."""
    configured = runtime().settings.public_url
    return bool(configured and _ORIGIN.match(configured))


# The largest entry number a column holds (PostgreSQL integer): larger ones name nothing.
MAX_SEQ = 2**31 - 1


def not_found(what: str) -> Problem:
    return Problem(404, what)


__all__ = ["MAX_SEQ", "configured_origin", "not_found", "public_origin", "runtime", "unknown_book"]
