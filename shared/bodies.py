"""What a request carries, read strictly (API.md "Common"): a JSON object body of bounded size in
UTF-8, validated by a marshmallow schema, a list's ``limit`` and ``cursor`` (``shared.cursors``),
and no unstorable text in its path, query or keys (R4a)."""

from __future__ import annotations

import io
import json
import re
from typing import Any

from flask import Flask, request
from marshmallow import Schema, ValidationError

from shared.cursors import MAX_LIMIT, CursorKind, decode_cursor
from shared.problems import DETAILS, Problem
from shared.refusals import Invalid
from shared.text import text_problem
from shared.validation import unstorable


def install_request_checks(app: Flask) -> None:
    """Before every request: a chunked JSON body over the limit is a 413, and unstorable text
    outside the body a 404 or 422."""

    @app.before_request
    def _bound_chunked_json() -> None:
        bound_chunked_body()

    @app.before_request
    def _storable_text() -> None:
        refuse_unstorable_text()


def refuse_unstorable_text() -> None:
    """R4a for what every request carries outside its body: a path, query or Idempotency-Key
    holding a control character or a noncharacter names nothing that can exist (404), or is
    refused naming the parameter (422), before any of it reaches a query (PostgreSQL refuses a
    NUL with an error, not an empty answer)."""
    if text_problem(request.path):
        raise Problem(404, DETAILS[404])
    errors = {}
    for name, value in request.args.items(multi=True):
        problem = text_problem(name) or text_problem(value)
        if problem:
            errors[name if not text_problem(name) else "_query"] = [problem]
    key = request.headers.get("Idempotency-Key")
    if key is not None and text_problem(key):
        errors["Idempotency-Key"] = [text_problem(key)]
    if errors:
        raise Problem(422, "Tham số chứa ký tự không được phép.", errors=errors)


def bound_chunked_body(json_only: bool = True) -> None:
    """A body sent without Content-Length (chunked) over the limit is 413 like any other:
    werkzeug would stop reading at the limit and hand the view a truncated body. The app-wide
    check covers JSON bodies; a view with a larger limit (evidence files) calls it itself."""
    environ = request.environ
    # Only a chunked body comes without a length; a request with neither carries no body. Looked
    # up in the environ first: this runs before every request, reads of feeds included.
    if "chunked" not in environ.get("HTTP_TRANSFER_ENCODING", "").lower() or not environ.get("wsgi.input_terminated"):
        return
    if request.content_length is not None:
        return
    limit = request.max_content_length
    if limit is None or (json_only and not (request.mimetype or "").endswith("json")):
        return
    raw = environ["wsgi.input"].read(limit + 1)
    if len(raw) > limit:
        raise Problem(413, DETAILS[413])
    environ["wsgi.input"] = io.BytesIO(raw)
    environ["CONTENT_LENGTH"] = str(len(raw))
    environ.pop("HTTP_TRANSFER_ENCODING", None)



def json_body() -> dict[str, Any]:
    """The request's JSON object, or a 4xx problem: 415 not JSON, 400 unreadable, 422 not an object."""
    mimetype = request.mimetype or ""
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise Problem(415, "Nội dung phải là application/json.")
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    try:
        text = raw.decode("utf-8")
        data = json.loads(text)
    except UnicodeDecodeError as exc:
        raise Problem(400, f"Nội dung không phải UTF-8 hợp lệ: {exc.reason}.") from exc
    except json.JSONDecodeError as exc:
        raise Problem(400, f"JSON không đọc được: {exc.msg} (dòng {exc.lineno}, cột {exc.colno}).") from exc
    except RecursionError:
        raise Problem(400, "JSON không đọc được: lồng nhau quá sâu.") from None
    except ValueError as exc:  # e.g. an integer longer than Python reads
        raise Problem(400, f"JSON không đọc được: {exc}.") from None
    if not isinstance(data, dict):
        raise Problem(422, "Nội dung phải là một đối tượng JSON.", errors={"_schema": ["Phải là đối tượng JSON."]})
    return data


def load(schema: Schema, data: Any) -> Any:
    """Validate with a marshmallow schema; field errors become a 422 problem, flat by field
    path; a value no database stores (NUL, a lone surrogate) is refused with them."""
    try:
        loaded = schema.load(data)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        raise Problem(422, "Một số trường không hợp lệ.", errors=messages) from exc
    bad = unstorable(loaded)
    if bad:
        raise Problem(422, "Một số trường không hợp lệ.", errors=bad)
    return loaded


def page_params(default: int = 100, kind: CursorKind = None) -> tuple[int, Any | None]:
    """(limit, decoded cursor) of a list request; ``kind`` (``str`` or ``int``) is the type of
    the list's cursor (``decode_cursor``)."""
    raw_limit = request.args.get("limit")
    if raw_limit in (None, ""):
        limit = default
    elif re.fullmatch(r"[0-9]{1,4}", raw_limit):
        limit = int(raw_limit)
    else:
        raise Invalid("limit phải là số nguyên.", errors={"limit": ["Phải là số nguyên."]})
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid(f"limit phải từ 1 đến {MAX_LIMIT}.", errors={"limit": [f"Từ 1 đến {MAX_LIMIT}."]})
    cursor = request.args.get("cursor")
    if not cursor:
        return limit, None
    return limit, decode_cursor(cursor, kind)
