"""Whole responses of stored publications, answered before Flask sees the request.

A feed read again is the same status, headers and bytes until its book changes. Once the view
has served a stored publication from the process's cache (``cache``), the response it
made is kept beside it, under the same rules: taken under a generation token before the request
ran, dropped by every invalidation, never served older than the cache's ``max_age``, and only
while the process listens for invalidations. The next plain ``GET`` of that path is answered
here, without routing, a request context or building the response again: on a cached feed that
work cost more than a whole hello-world request.

Only reads are answered, and only for nobody in particular: ``GET`` without a query string and
without a signed-in person (``X-Sovang-Person``, which only the edge sets: a page is theirs,
``api.people``), and with no validator but
``If-None-Match``, which is how feed readers poll. A request with ``If-None-Match`` is kept
apart under the value it sent, so the 304 (or the 200, once the feed changed) that Flask made
for that value is what the same question gets again; nothing here compares ETags. ``HEAD``,
other validators, ranges and everything else go through Flask as before. A kept response has no
``Date``: the server sends its own with every response, and a kept one would be stale.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from services.book.publication.cache import ArtifactCache
from shared.sessions import HEADER

# The environ key a view sets when its 200 is a stored publication's, and may be kept whole.
KEEP = "sovang.book.keep_response"

# Validators and ranges: a request with any of them is answered conditionally by Flask (a 304,
# a part); of them, only a lone If-None-Match has its answer kept (``_key``).
CONDITIONS = (
    "HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE", "HTTP_IF_MATCH", "HTTP_IF_UNMODIFIED_SINCE",
    "HTTP_IF_RANGE", "HTTP_RANGE",
)
_OTHER_CONDITIONS = tuple(name for name in CONDITIONS if name != "HTTP_IF_NONE_MATCH")
# A longer If-None-Match is never a feed reader's one ETag; such answers are not kept, so that
# made-up values cannot push the kept responses out of the cache.
MAX_KEPT_VALIDATOR = 200
_KEPT_STATUSES = ("200", "304")

_PREFIX = "response "  # beside the publication itself in the same cache, under its own key
# A signed-in person's request (the edge's assertion, ``shared.sessions``): never a kept answer.
PERSON = "HTTP_" + HEADER.upper().replace("-", "_")

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class StoredResponses:
    """WSGI middleware over the book's Flask app (``app.wsgi_app``)."""

    def __init__(self, app: WsgiApp, cache: ArtifactCache) -> None:
        self.app = app
        self.cache = cache

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        key = _key(environ)
        if key is None:
            return self.app(environ, start_response)
        # Taken before the request runs: whatever the view reads is at least this recent, so an
        # invalidation that arrives meanwhile stops the response from being kept.
        token = self.cache.token()
        if token is None:
            return self.app(environ, start_response)
        kept = self.cache.get(key)
        if kept is not None:
            status, headers, body = kept
            start_response(status, list(headers))
            return [body]
        answered: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answered[:] = [status, headers]
            return start_response(status, headers, exc_info)

        result = self.app(environ, capture)
        if not environ.get(KEEP) or not answered or answered[0][:3] not in _KEPT_STATUSES:
            return result
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        headers = tuple((name, value) for name, value in answered[1] if name.lower() != "date")
        self.cache.put(token, key, (answered[0], headers, body), len(body))
        return [body]


def _key(environ: dict[str, Any]) -> str | None:
    """Where a GET's answer is kept: by its origin and path, and by the If-None-Match it sent, if
    any; None for what is never kept."""
    if environ.get("REQUEST_METHOD") != "GET" or environ.get("QUERY_STRING") or PERSON in environ or any(
        name in environ for name in _OTHER_CONDITIONS
    ):
        return None
    # By origin too: a feed's links are absolute under the origin it was asked at (unless one
    # public URL is configured), so the same path answers differently per Host.
    key = f"{_PREFIX}{environ.get('wsgi.url_scheme', '')}://{environ.get('HTTP_HOST', '')}{environ.get('PATH_INFO', '')}"
    validator = environ.get("HTTP_IF_NONE_MATCH")
    if validator is None:
        return key
    if len(validator) > MAX_KEPT_VALIDATOR:
        return None
    return key + "\n" + validator


def install(app: Any, cache: ArtifactCache) -> None:
    """Answer the plain reads of kept responses in front of ``app`` (a Flask app)."""
    app.wsgi_app = StoredResponses(app.wsgi_app, cache)
