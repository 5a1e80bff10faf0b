"""Messages a service parked for an operator (``shared.consumer.park``): listed, sent again once
their cause is fixed, or dropped. The one logic behind ``sovang parked list|replay|drop`` and the
admin's pages ``/admin/parked/{service}/`` (``shared.web.parked_page``); a replay and a drop are
changes of state, each recorded with who made it (R23)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from shared import audit
from shared.config import Settings
from shared.db import Database
from shared.signing import SignatureError, message_keys, verify
from shared.tables import parked_messages


class ParkedError(Exception):
    """A replay or drop that cannot be done; ``reason`` in Vietnamese."""

    def __init__(self, message_id: str, reason: str) -> None:
        super().__init__(f"{message_id}: {reason}")
        self.message_id = message_id
        self.reason = reason


class NotParked(ParkedError):
    def __init__(self, message_id: str) -> None:
        super().__init__(message_id, f"không có thư bị giữ lại mang mã {message_id}")


class Unsigned(ParkedError):
    """Never sent again: no key of ours signed it (shared.signing); drop it instead."""


def listed(db: Database) -> list[dict[str, Any]]:
    """The service's parked messages, oldest first."""
    with db.reading() as s:
        return [dict(r) for r in s.execute(sa.select(parked_messages).order_by(parked_messages.c.parked_at)).mappings()]


def find(db: Database, message_id: str) -> dict[str, Any] | None:
    with db.reading() as s:
        row = s.execute(sa.select(parked_messages).where(parked_messages.c.message_id == message_id)).mappings().first()
    return dict(row) if row else None


def signed(settings: Settings, env: Any) -> str | None:
    """None when one of our keys signed ``env``, else why not."""
    try:
        verify(env, message_keys(settings))
    except SignatureError as exc:
        return str(exc)
    return None


def _remove(db: Database, row: dict[str, Any], actor: audit.Actor, action: str) -> None:
    with db.unit_of_work() as uow:
        uow.session.execute(sa.delete(parked_messages).where(parked_messages.c.message_id == row["message_id"]))
        # R23: what the operator did with which message; never its body.
        audit.record(uow, actor, action, row["message_id"], {"type": row["type"], "deliveries": row["deliveries"]})
        uow.commit()


def replay(settings: Settings, service: str, db: Database, message_id: str, actor: audit.Actor) -> dict[str, Any]:
    """Send a parked message again to its service's queue, as it was received, and forget it;
    returns its row. One that no key of ours signed is never sent (``Unsigned``)."""
    from shared.celery_app import make_celery, redis_client

    row = find(db, message_id)
    if row is None:
        raise NotParked(message_id)
    env = row["envelope"]
    why = signed(settings, env)
    if why is not None:
        raise Unsigned(message_id, why)
    try:
        # Its delivery count starts again, or the first delivery would park it at once.
        with redis_client(settings) as client:
            client.delete(f"sovang:deliveries:{service}:{env['id']}")
        app = make_celery(service, settings)
        try:
            app.send_task(env["type"], args=[env], queue=service, task_id=env["id"], retry=False)
        finally:
            app.close()
    except Exception as exc:  # the broker away: the message stays parked, nothing recorded
        raise ParkedError(message_id, f"hàng đợi {service} không nhận thư ({type(exc).__name__}); hãy thử lại sau") \
            from exc
    _remove(db, row, actor, "parked.replayed")
    return row


def drop(db: Database, message_id: str, actor: audit.Actor) -> dict[str, Any]:
    """Forget a parked message for good; returns its row."""
    row = find(db, message_id)
    if row is None:
        raise NotParked(message_id)
    _remove(db, row, actor, "parked.dropped")
    return row
