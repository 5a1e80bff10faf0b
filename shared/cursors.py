"""Lists a page at a time (API.md "Common"): ``limit`` and an opaque ``cursor``, its forms and
their OpenAPI patterns, and the page body with ``next``."""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Callable
from typing import Any

from shared.refusals import Invalid
from shared.text import text_problem

MAX_LIMIT = 500


# A cursor is an opaque token of one of four forms, each a pattern the OpenAPI document states,
# so that any token of the form a list declares names a place in it: a text key as it is (ids,
# codes), a number key in decimal, several text keys joined by ``!``, anything else ``~`` and the
# URL-safe base64 of its JSON. A list names its kind: ``str``, ``int``, a tuple of ``str`` (that
# many text keys), or None (any form).
_KEY = "[A-Za-z0-9._-]{1,128}"
CURSOR_TEXT = f"^{_KEY}$"
CURSOR_NUMBER = r"^[0-9]{1,9}$"
CURSOR_JSON = r"^~[A-Za-z0-9_-]{1,680}$"
CURSOR_ANY = f"^({_KEY}(!{_KEY}){{0,7}}|~[A-Za-z0-9_-]{{1,680}})$"
# Lists keyed by a record's id (shared.ids: a UUID in its canonical lowercase form): a cursor
# that is no such id names no place in the list.
CURSOR_ID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
_TEXT, _NUMBER, _JSON, _ID = (re.compile(p[1:-1]) for p in (CURSOR_TEXT, CURSOR_NUMBER, CURSOR_JSON, CURSOR_ID))
# What a JSON cursor may hold: a scalar, or a short flat list of them.
_CURSOR_ITEMS = 8
CursorKind = type | tuple[type, ...] | None
ID = uuid.UUID  # the kind of a list keyed by record ids (page_params(kind=ID)); cursors stay strings


def _keys_pattern(count: int) -> str:
    return f"^{_KEY}(!{_KEY}){{{count - 1}}}$"


def cursor_schema(kind: CursorKind = None) -> dict[str, Any]:
    """The OpenAPI schema of a list's ``cursor`` parameter (``page_params(kind=…)``)."""
    if isinstance(kind, tuple):
        pattern, longest = _keys_pattern(len(kind)), 129 * len(kind)
    else:
        pattern, longest = {str: (CURSOR_TEXT, 128), int: (CURSOR_NUMBER, 9), ID: (CURSOR_ID, 36)}.get(kind, (CURSOR_ANY, 1031))  # type: ignore[arg-type]
    # An empty cursor is the first page, as no cursor is.
    return {"type": "string", "pattern": f"^({pattern[1:-1]})?$", "maxLength": longest,
            "description": "Mã trang tiếp theo, lấy nguyên văn từ `next` của trang trước (không tự tạo)."}


def _bad_cursor() -> Invalid:
    return Invalid("cursor không hợp lệ.", errors={"cursor": ["Không hợp lệ: dùng nguyên văn `next` của trang trước."]})


def encode_cursor(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**9:
        return str(value)
    if isinstance(value, str) and _TEXT.fullmatch(value) and not value.isdigit():
        return value
    if (isinstance(value, list | tuple) and 1 < len(value) <= _CURSOR_ITEMS
            and all(isinstance(v, str) and _TEXT.fullmatch(v) for v in value)):
        return "!".join(value)
    return "~" + base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def decode_cursor(token: str, kind: CursorKind = None) -> Any:
    """The key a cursor token names, of the list's ``kind``, or a 422 problem. Bounded: a JSON
    cursor is at most 680 characters, holds a scalar or a flat list of at most 8, and its text
    is storable text."""
    if isinstance(kind, tuple):
        if "!" in token and re.fullmatch(_keys_pattern(len(kind))[1:-1], token):
            return token.split("!")
        value = decode_cursor(token, list) if token.startswith("~") else None
        if isinstance(value, list) and len(value) == len(kind) and all(isinstance(v, str) for v in value):
            return value
        raise _bad_cursor()
    if kind is ID:
        if _ID.fullmatch(token):
            return token
        raise _bad_cursor()
    if kind is int:
        if _NUMBER.fullmatch(token):
            return int(token)
        raise _bad_cursor()
    if "!" in token and kind in (None, list):
        if re.fullmatch(f"{_KEY}(!{_KEY}){{1,7}}", token):
            return token.split("!")
        raise _bad_cursor()
    if not token.startswith("~"):
        if _TEXT.fullmatch(token) and (kind is str or not token.isdigit()):
            return token
        if kind is None and _NUMBER.fullmatch(token):
            return int(token)
        raise _bad_cursor()
    if not _JSON.fullmatch(token):
        raise _bad_cursor()
    try:
        raw = base64.urlsafe_b64decode(token[1:].encode() + b"===")
        value = json.loads(raw.decode("utf-8"))
    except (ValueError, binascii.Error, RecursionError):
        raise _bad_cursor() from None
    scalars = value if isinstance(value, list) and len(value) <= _CURSOR_ITEMS else [value]
    for item in scalars:
        if isinstance(item, bool) or not isinstance(item, str | int):
            raise _bad_cursor()
        if isinstance(item, int) and not -(2**63) <= item < 2**63:
            raise _bad_cursor()
        if isinstance(item, str) and (len(item) > 256 or text_problem(item)):
            raise _bad_cursor()
    if kind is not None and not isinstance(value, kind):
        raise _bad_cursor()
    return value


def page(items: list[Any], limit: int, key: Callable[[Any], Any]) -> dict[str, Any]:
    """Given up to limit+1 items, the page body with ``next`` when there is more."""
    more = len(items) > limit
    items = items[:limit]
    return {"items": items, "next": encode_cursor(key(items[-1])) if more and items else None}
