"""HTTP conventions of API.md shared by the three Flask apps: problem+json errors (RFC 9457),
strict JSON bodies, marshmallow validation, cursor pages, Idempotency-Key, health checks."""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import io
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa
from flask import Flask, Response, current_app, g, jsonify, request
from marshmallow import Schema, ValidationError
from sqlalchemy.dialects import postgresql, sqlite
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BaseConverter

from shared.db import Database, utcnow
from shared.refusals import Conflict, Forbidden, Invalid, NotFound, Refused, TooLarge, UnsupportedType
from shared.tables import idempotency_records
from shared.text import text_problem
from shared.validation import flat_errors, unstorable

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"
TITLES = {
    400: "Yêu cầu không đọc được",
    401: "Chưa xác thực",
    403: "Không có quyền",
    404: "Không tìm thấy",
    405: "Phương thức không được hỗ trợ",
    409: "Xung đột trạng thái",
    413: "Nội dung quá lớn",
    415: "Kiểu nội dung không được hỗ trợ",
    422: "Dữ liệu không hợp lệ",
    429: "Quá nhiều yêu cầu",
    500: "Lỗi máy chủ",
    503: "Dịch vụ chưa sẵn sàng",
}


# werkzeug's own refusals, told in Vietnamese like every other problem.
DETAILS = {
    400: "Yêu cầu không đọc được.",
    404: "Không có đường dẫn này.",
    405: "Phương thức không được hỗ trợ cho đường dẫn này.",
    413: "Nội dung quá lớn: một thân JSON tối đa 1 MiB, một tệp bằng chứng tối đa 20 MiB.",
    415: "Kiểu nội dung không được hỗ trợ.",
}


# What a 503 (a database or broker away) and a 429 without a computed wait tell a client to wait.
RETRY_AFTER_SECONDS = 5


class Problem(Exception):
    """An error answered as application/problem+json."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: Mapping[str, Any] | None = None,
        title: str | None = None,
        type_: str = "about:blank",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        # One flat map {field path: [message, …]} whatever shape the refusal came in (API.md).
        self.errors = flat_errors(errors) if errors else None
        self.title = title or TITLES.get(status, "Lỗi")
        self.type = type_
        self.headers = dict(headers or {})
        if status in (429, 503):
            self.headers.setdefault("Retry-After", str(RETRY_AFTER_SECONDS))

    @classmethod
    def of(cls, refused: Refused) -> Problem:
        """The problem a use case's refusal is answered with (``STATUS_OF``)."""
        status = next(code for kind, code in STATUS_OF if isinstance(refused, kind))
        return cls(status, refused.detail, errors=refused.errors)

    def response(self) -> Response:
        body: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status, "detail": self.detail}
        if self.errors is not None:
            body["errors"] = self.errors
        try:
            text = json.dumps(body, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            # R4a: a refused value may hold a lone surrogate, which UTF-8 cannot carry; JSON's
            # escapes can, so the problem still names it instead of failing with a 500.
            text = json.dumps(body).encode("ascii")
        resp = Response(text, status=self.status, content_type=PROBLEM)
        for k, v in self.headers.items():
            resp.headers[k] = v
        return resp


# The one place a refusal (``shared.refusals``) becomes an HTTP status: the most specific first.
STATUS_OF: tuple[tuple[type[Refused], int], ...] = (
    (TooLarge, 413), (UnsupportedType, 415), (Invalid, 422), (Forbidden, 403), (NotFound, 404),
    (Conflict, 409), (Refused, 400),
)


def install_problem_handlers(app: Flask) -> None:
    app.config.setdefault("MAX_CONTENT_LENGTH", 1024 * 1024)

    @app.errorhandler(Problem)
    def _problem(exc: Problem) -> Response:
        return exc.response()

    @app.errorhandler(Refused)
    def _refused(exc: Refused) -> Response:
        return Problem.of(exc).response()

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        status = exc.code or 500
        keep = {k: v for k, v in exc.get_headers() if k in ("Allow", "Retry-After")}
        detail = DETAILS.get(status) or TITLES.get(status, "Lỗi")
        return Problem(status, detail, headers=keep).response()

    @app.before_request
    def _bound_chunked_json() -> None:
        bound_chunked_body()

    @app.before_request
    def _storable_text() -> None:
        refuse_unstorable_text()

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        if unavailable(exc):
            log.warning("dependency unavailable on %s %s: %r", request.method, request.path, exc)
            return Problem(503, "Cơ sở dữ liệu hoặc hàng đợi tạm thời không truy cập được; "
                                "yêu cầu không được thực hiện, hãy thử lại sau.").response()
        log.exception("unhandled error on %s %s", request.method, request.path)
        return Problem(500, "Đã xảy ra lỗi không mong muốn; yêu cầu không được thực hiện.").response()


def unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is a database or broker that cannot be reached or
    went away mid-request: a 503 the client may retry, not a fault of the request."""
    import redis
    from kombu.exceptions import OperationalError as BrokerError
    from sqlalchemy import exc as sa_exc

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.TimeoutError
                      | redis.ConnectionError | redis.TimeoutError | BrokerError | ConnectionError):
            return True
        current = current.__cause__ or current.__context__
    return False


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


# -- request bodies ----------------------------------------------------------------------------
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


# -- paths -------------------------------------------------------------------------------------
class IdConverter(BaseConverter):
    """``<id:…>``: a record's id, a UUID (any case, read lower-case). Any other segment names no
    record (404) and never shadows a route's literal segment: ``/deeds/batch`` is not a deed."""

    regex = r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"

    def to_python(self, value: str) -> str:
        return value.lower()


# -- lists -------------------------------------------------------------------------------------
MAX_LIMIT = 500


def page_params(default: int = 100, kind: CursorKind = None) -> tuple[int, Any | None]:
    """(limit, decoded cursor) of a list request; ``kind`` (``str`` or ``int``) is the type of
    the list's cursor (``decode_cursor``)."""
    raw_limit = request.args.get("limit")
    if raw_limit in (None, ""):
        limit = default
    elif re.fullmatch(r"[0-9]{1,4}", raw_limit):
        limit = int(raw_limit)
    else:
        raise Problem(422, "limit phải là số nguyên.", errors={"limit": ["Phải là số nguyên."]})
    if not 1 <= limit <= MAX_LIMIT:
        raise Problem(422, f"limit phải từ 1 đến {MAX_LIMIT}.", errors={"limit": [f"Từ 1 đến {MAX_LIMIT}."]})
    cursor = request.args.get("cursor")
    if not cursor:
        return limit, None
    return limit, decode_cursor(cursor, kind)


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


def _bad_cursor() -> Problem:
    return Problem(422, "cursor không hợp lệ.", errors={"cursor": ["Không hợp lệ: dùng nguyên văn `next` của trang trước."]})


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


# -- one database session per request -----------------------------------------------------------
def install_request_session(app: Flask, db: Database) -> None:
    """Serve each request's database work on one session (``Database.open_request``): the token,
    the organisation, the Idempotency-Key record and the use case share one connection checkout,
    and with an Idempotency-Key one transaction. Apps whose use cases rely on a transaction of
    their own per unit of work (retrying one after a lost race) leave this out."""

    @app.before_request
    def _open_request() -> None:
        g._sovang_request_token = db.open_request()

    @app.teardown_request
    def _close_request(_exc: BaseException | None) -> None:
        token = g.pop("_sovang_request_token", None)
        if token is not None:
            db.close_request(token)


# -- Idempotency-Key ---------------------------------------------------------------------------
PENDING = 0
# A claim whose request never finished (its process died) is taken over after this long.
PENDING_EXPIRES_SECONDS = 60
# How long a request waits for another one holding its key before answering 409.
WAIT_SECONDS = 30.0
_WAIT = object()


IDEMPOTENCY_KEY_MAX = 255
IDEMPOTENCY_KEY_PATTERN = r"^[\x20-\x7e]{1,255}$"


def check_idempotency_key(key: str) -> None:
    """At most 255 visible ASCII characters (and spaces): a 422 on ``Idempotency-Key`` else."""
    if len(key) > IDEMPOTENCY_KEY_MAX:
        raise Problem(422, "Idempotency-Key quá dài.", errors={"Idempotency-Key": ["Tối đa 255 ký tự."]})
    if not re.fullmatch(IDEMPOTENCY_KEY_PATTERN[1:-1], key):
        raise Problem(422, "Idempotency-Key không hợp lệ.",
                      errors={"Idempotency-Key": ["Chỉ gồm ký tự ASCII in được (tối đa 255)."]})


def idempotent(db_of: Callable[[], Database]) -> Callable:
    """POST with ``Idempotency-Key``: the first response is stored and replayed byte for byte;
    the same key with another body is 422; keys are scoped to the token's subject.

    The first request claims the key by inserting a pending record, so among concurrent
    requests with one key exactly one runs the use case; the others wait for its response.
    Within a request session (``install_request_session``) the claim, the use case and the
    stored response are one transaction, committed once: the others wait on the claim's row
    and then find the answer (or, if it rolled back, the key free). Otherwise each step is a
    transaction of its own.
    """

    def deco(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            key = request.headers.get("Idempotency-Key")
            if not key:
                return view(*args, **kwargs)
            check_idempotency_key(key)
            principal = getattr(g, "principal", None)
            subject = f"{principal.role}:{principal.subject}" if principal else "anonymous"
            digest = hashlib.sha256(
                request.method.encode() + b" " + request.full_path.encode() + b"\n" + request.get_data(cache=True)
            ).hexdigest()
            db = db_of()
            run = functools.partial(view, *args, **kwargs)
            if db.request is not None:
                return _within_request(db, db.request, subject, key, digest, run)
            return _apart(db, subject, key, digest, run)

        return wrapper

    return deco


def _within_request(
    db: Database, req: Database.Request, subject: str, key: str, digest: str, run: Callable[[], Any]
) -> Response:
    session = req.session()
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        found = _claim_once(db, session, subject, key, digest)
        if found is None:
            break
        if found is not _WAIT:
            return found
        # Another request holds the key (a claim left by a process that did not use one
        # transaction): let go of ours so that SQLite's writer lock does not stop it.
        req.rollback()
        if time.monotonic() > deadline:
            raise Problem(409, "Một yêu cầu với cùng Idempotency-Key đang được xử lý.")
        time.sleep(0.05)
    with req.deferring():
        try:
            resp = current_app.make_response(run())
        except Problem as exc:
            resp = exc.response()
        except Exception:
            req.rollback()
            raise
    if resp.status_code >= 500:
        req.rollback()
        return resp
    if req.abandoned:
        # The use case stopped part way: none of its writes may stay, the claim goes with them;
        # the answer alone is kept, in a transaction of its own.
        req.rollback()
        session.execute(_insert_ignoring(db).values(
            subject=subject, key=key, request_hash=digest, status=resp.status_code,
            content_type=resp.content_type or "", body=resp.get_data(), created_at=utcnow(),
        ))
    else:
        _execute(session, _ANSWER, {
            "w_subject": subject, "w_key": key,
            "status": resp.status_code, "content_type": resp.content_type or "", "body": resp.get_data(),
        })
    req.commit()
    return resp


def _apart(db: Database, subject: str, key: str, digest: str, run: Callable[[], Any]) -> Response:
    replay = _claim(db, subject, key, digest)
    if replay is not None:
        return replay
    try:
        resp = current_app.make_response(run())
    except Problem as exc:
        resp = exc.response()
    except Exception:
        _release(db, subject, key)
        raise
    if resp.status_code >= 500:
        _release(db, subject, key)
        return resp
    _store(db, subject, key, resp)
    return resp


def _insert_ignoring(db: Database) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING`` into the records: one statement claims a key, and on
    PostgreSQL it waits for a concurrent claim of the same key to commit or roll back."""
    return _INSERT_IGNORING[db.is_postgres]


# The statements of every keyed request, built once with bound parameters: building them per
# request (``.values(...)``, ``where(...)``) was a measurable share of a request's CPU, and a
# statement of constant shape is compiled once (SQLAlchemy's compiled cache).
_INSERT_IGNORING = {
    True: postgresql.insert(idempotency_records).on_conflict_do_nothing(),
    False: sqlite.insert(idempotency_records).on_conflict_do_nothing(),
}
_CLAIM = {pg: stmt.returning(idempotency_records.c.key) for pg, stmt in _INSERT_IGNORING.items()}
_RECORD = sa.select(idempotency_records).where(
    idempotency_records.c.subject == sa.bindparam("w_subject"), idempotency_records.c.key == sa.bindparam("w_key")
)
# Executed with the SET values (status, content_type, body) beside the key's w_subject, w_key.
_ANSWER = idempotency_records.update().where(
    idempotency_records.c.subject == sa.bindparam("w_subject"), idempotency_records.c.key == sa.bindparam("w_key")
)


def _execute(session: Any, stmt: Any, params: dict[str, Any]) -> Any:
    """A Core statement on the session's connection (in its transaction), without the ORM's
    layers, which a Core statement does not need."""
    return session.connection().execute(stmt, params)


def _claim_once(db: Database, session: Any, subject: str, key: str, digest: str) -> Any:
    """Try to claim the key in ``session``'s transaction: None when claimed; the stored response
    to replay; ``_WAIT`` while another request holds it; a 422 problem for another body."""
    t = idempotency_records
    while True:
        claimed = _execute(session, _CLAIM[db.is_postgres], {
            "subject": subject, "key": key, "request_hash": digest, "status": PENDING,
            "content_type": "", "body": b"", "created_at": utcnow(),
        }).first()
        if claimed is not None:
            return None
        row = _execute(session, _RECORD, {"w_subject": subject, "w_key": key}).first()
        if row is None:
            continue  # forgotten in between (purged, released): claim it now
        if _stale(db, row):
            session.execute(t.delete().where(
                t.c.subject == subject, t.c.key == key, t.c.created_at == row.created_at
            ))
            continue
        if row.request_hash != digest:
            raise Problem(
                422, "Idempotency-Key này đã được dùng cho một yêu cầu khác.",
                errors={"Idempotency-Key": ["Đã dùng cho nội dung khác."]},
            )
        if row.status != PENDING:
            return Response(row.body, status=row.status, content_type=row.content_type)
        return _WAIT


def _claim(db: Database, subject: str, key: str, digest: str, wait_seconds: float = WAIT_SECONDS) -> Response | None:
    deadline = time.monotonic() + wait_seconds
    while True:
        with db.unit_of_work() as uow:
            found = _claim_once(db, uow.session, subject, key, digest)
            if found is not _WAIT:
                uow.commit()  # the claim, or the removal of a stale record before a replay
                return found
        if time.monotonic() > deadline:
            raise Problem(409, "Một yêu cầu với cùng Idempotency-Key đang được xử lý.")
        time.sleep(0.05)


def _stale(db: Database, row: Any) -> bool:
    """An expired record (older than the TTL), or a pending claim abandoned by a dead process."""
    age = (utcnow() - row.created_at).total_seconds()
    if row.status == PENDING:
        return age > PENDING_EXPIRES_SECONDS
    return age > db.settings.idempotency_ttl_hours * 3600


def _store(db: Database, subject: str, key: str, resp: Response) -> None:
    with db.unit_of_work() as uow:
        _execute(uow.session, _ANSWER, {
            "w_subject": subject, "w_key": key,
            "status": resp.status_code, "content_type": resp.content_type or "", "body": resp.get_data(),
        })
        uow.commit()


def _release(db: Database, subject: str, key: str) -> None:
    t = idempotency_records
    with db.unit_of_work() as uow:
        uow.session.execute(t.delete().where(t.c.subject == subject, t.c.key == key, t.c.status == PENDING))
        uow.commit()


# -- health ------------------------------------------------------------------------------------
def install_health(app: Flask, db: Database, broker_ping: Callable[[], Any]) -> None:
    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify({"status": "ok", "service": db.service})

    @app.get("/readyz")
    def readyz() -> Response:
        checks: dict[str, str] = {}
        for name, probe in (("database", db.ping), ("broker", broker_ping)):
            try:
                probe()
                checks[name] = "ok"
            except Exception as exc:
                checks[name] = f"unreachable: {type(exc).__name__}"
        if all(v == "ok" for v in checks.values()):
            return jsonify({"status": "ready", "service": db.service, "checks": checks})
        missing = ", ".join(name for name, v in checks.items() if v != "ok")
        problem = Problem(503, f"Chưa sẵn sàng: không truy cập được {missing}.")
        resp = problem.response()
        body = json.loads(resp.get_data())
        resp.set_data(json.dumps({**body, "service": db.service, "checks": checks}, ensure_ascii=False))
        return resp
