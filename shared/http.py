"""HTTP conventions of API.md shared by the three Flask apps, gathered: problem+json errors
(``shared.problems``), strict JSON bodies and marshmallow validation (``shared.bodies``), cursor
pages (``shared.cursors``), health checks (``shared.health``); here, record ids in paths, one
database session per request and Idempotency-Key."""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import Flask, Response, current_app, g, request
from sqlalchemy.dialects import postgresql, sqlite
from werkzeug.routing import BaseConverter

# What the services import from here, each kept in the module of its concern.
from shared.bodies import bound_chunked_body, json_body, load, refuse_unstorable_text  # noqa: F401
from shared.cursors import (  # noqa: F401
    CURSOR_ANY,
    CURSOR_ID,
    CURSOR_JSON,
    CURSOR_NUMBER,
    CURSOR_TEXT,
    ID,
    MAX_LIMIT,
    CursorKind,
    cursor_schema,
    decode_cursor,
    encode_cursor,
    page,
    page_params,
)
from shared.db import Database, utcnow
from shared.health import install_health  # noqa: F401
from shared.problems import (  # noqa: F401
    DETAILS,
    PROBLEM,
    RETRY_AFTER_SECONDS,
    STATUS_OF,
    TITLES,
    Problem,
    install_problem_handlers,
    unavailable,
)
from shared.tables import idempotency_records

log = logging.getLogger(__name__)


# -- paths -------------------------------------------------------------------------------------
class IdConverter(BaseConverter):
    """``<id:…>``: a record's id, a UUID (any case, read lower-case). Any other segment names no
    record (404) and never shadows a route's literal segment: ``/deeds/batch`` is not a deed."""

    regex = r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"

    def to_python(self, value: str) -> str:
        return value.lower()


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
