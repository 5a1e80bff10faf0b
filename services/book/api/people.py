"""The book's published pages (honour rolls, the press release, verification) as a signed-in
person sees them: the same page, with who they are and the pages of their roles in its masthead,
as every page of the three services has (UI.md).

The page itself is the stored public one, whoever asks (R16: nothing private is ever in it); only
the masthead is the reader's. So a reader's copy is never kept or cached by anyone (``private,
no-store``, no validators), and a signed-in request is never answered from a copy kept for the
public (``publication.responses`` passes it on, and its validators are not compared here: the browser
may hold the public copy it got before signing in).
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from services.book.publication import pages
from shared.sessions import person
from shared.web import signed_in_values

# The validators a signed-in request drops: what it gets is never the public copy it may hold.
_VALIDATORS = ("HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE")


def is_page(path: str) -> bool:
    """A published HTML page of the book: an honour roll, a verification page, a press release."""
    if path.startswith("/press/"):
        return path.endswith(".html")
    return path.startswith(("/honour-roll/", "/verify/")) and not path.startswith("/honour-roll/assets/")


def install(bp: Blueprint) -> None:
    """On the blueprint of the published pages (``api.publications``)."""

    @bp.before_request
    def _no_public_validators() -> None:
        if is_page(request.path) and person() is not None:
            for name in _VALIDATORS:
                request.environ.pop(name, None)

    @bp.after_request
    def _signed_in(resp: Response) -> Response:
        if resp.status_code != 200 or resp.mimetype != "text/html" or not is_page(request.path):
            return resp
        who = person()
        if who is None:
            return resp
        values = signed_in_values(who)
        resp.set_data(pages.signed_in(resp.get_data(), who, values["person_name"], values["role_pages"],
                                      request.path))
        for name in ("ETag", "Last-Modified"):
            resp.headers.pop(name, None)
        resp.headers["Cache-Control"] = "private, no-store"
        return resp
