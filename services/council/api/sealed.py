"""Idempotency-Key for ballots without breaking R19.

``shared.http.idempotent`` keeps each answer under the token's subject in clear, which for a
ballot would pair a member with their receipt, and the receipt with their choices once the
ballots are published. Here the record is filed under a keyed hash of (subject, key), its body
fingerprint is an HMAC under the key, and the answer is enciphered with a keystream derived from
the key: only a client holding its own Idempotency-Key can find or read its record. Same
contract otherwise: the same key and body replay the first answer, another body is 422.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import Response, current_app, g, request
from sqlalchemy.exc import IntegrityError

from services.council.orm import ballot_requests
from shared.db import Database, utcnow
from shared.http import Problem, check_idempotency_key

PENDING = 0


def _secret(subject: str, key: str, purpose: bytes) -> bytes:
    return hashlib.sha256(purpose + b"\0" + subject.encode() + b"\0" + key.encode()).digest()


def _keystream(seed: bytes, length: int) -> bytes:
    out = bytearray()
    counter = 0
    while len(out) < length:
        out += hashlib.sha256(seed + counter.to_bytes(8, "big")).digest()
        counter += 1
    return bytes(out[:length])


def seal(subject: str, key: str, data: bytes) -> bytes:
    """Encipher (and, applied again, decipher) an answer under the client's key."""
    stream = _keystream(_secret(subject, key, b"seal"), len(data))
    return bytes(a ^ b for a, b in zip(data, stream, strict=True))


def sealed_idempotent(db_of: Callable[[], Database]) -> Callable:
    """``shared.http.idempotent`` for ballot views: call inside the authentication."""

    def deco(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            key = request.headers.get("Idempotency-Key")
            if not key:
                return view(*args, **kwargs)
            check_idempotency_key(key)
            principal = g.principal
            subject = f"{principal.role}:{principal.subject}"
            lookup = hmac.new(_secret(subject, key, b"lookup"), b"ballot", hashlib.sha256).hexdigest()
            fingerprint = hmac.new(
                _secret(subject, key, b"fingerprint"),
                request.method.encode() + b" " + request.full_path.encode() + b"\n" + request.get_data(cache=True),
                hashlib.sha256,
            ).hexdigest()
            db = db_of()
            replay = _claim(db, lookup, fingerprint, subject, key)
            if replay is not None:
                return replay
            try:
                resp = current_app.make_response(view(*args, **kwargs))
            except Problem as exc:
                resp = exc.response()
            except Exception:
                _release(db, lookup)
                raise
            if resp.status_code >= 500:
                _release(db, lookup)
                return resp
            body = resp.content_type.encode() + b"\n" + resp.get_data()
            with db.unit_of_work() as uow:
                uow.session.execute(ballot_requests.update().where(ballot_requests.c.lookup == lookup).values(
                    status=resp.status_code, sealed=seal(subject, key, body)))
                uow.commit()
            return resp

        return wrapper

    return deco


def _claim(db: Database, lookup: str, fingerprint: str, subject: str, key: str,
           wait_seconds: float = 30.0) -> Response | None:
    t = ballot_requests
    deadline = time.monotonic() + wait_seconds
    while True:
        with db.unit_of_work() as uow:
            row = uow.session.execute(sa.select(t).where(t.c.lookup == lookup)).first()
            if row is None:
                try:
                    uow.session.execute(t.insert().values(
                        lookup=lookup, fingerprint=fingerprint, status=PENDING, sealed=b"",
                        # To the hour: the record needs only to expire, not to say when a ballot came.
                        created_at=utcnow().replace(minute=0, second=0, microsecond=0),
                    ))
                    uow.commit()
                    return None
                except IntegrityError:
                    row = None
        if row is not None:
            if not hmac.compare_digest(row.fingerprint, fingerprint):
                raise Problem(422, "Idempotency-Key này đã được dùng cho một yêu cầu khác.",
                              errors={"Idempotency-Key": ["Đã dùng cho nội dung khác."]})
            if row.status != PENDING:
                content_type, _, body = seal(subject, key, row.sealed).partition(b"\n")
                return Response(body, status=row.status, content_type=content_type.decode())
        if time.monotonic() > deadline:
            raise Problem(409, "Một yêu cầu với cùng Idempotency-Key đang được xử lý.")
        time.sleep(0.05)


def _release(db: Database, lookup: str) -> None:
    with db.unit_of_work() as uow:
        uow.session.execute(ballot_requests.delete().where(
            ballot_requests.c.lookup == lookup, ballot_requests.c.status == PENDING))
        uow.commit()

