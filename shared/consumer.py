"""A service's message consumers: each message type a thin Celery task that checks the
signature, counts deliveries, applies the handler once (the inbox) and parks what will not
succeed."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from celery import Celery

from shared import logs, metrics
from shared.celery_app import BrokerOptions, redis_client
from shared.db import UnitOfWork
from shared.messages import Message, MessageError
from shared.outbox import already_processed, confirm_key, consume, covered_ids
from shared.signing import SignatureError, message_keys, verify

if TYPE_CHECKING:
    from shared.runtime import Runtime

log = logging.getLogger(__name__)


def consumer(
    app: Celery, runtime: Runtime, message_type: type[Message]
) -> Callable[[Callable[[UnitOfWork, Any], None]], Callable]:
    """Register ``handle(uow, message)`` as the task named after the message type.

    The task is thin: it validates the envelope, applies the handler once (inbox) and lets
    errors propagate so that Celery retries; late acks make a crash redeliver.
    """

    deliveries = DeliveryCounter(runtime)
    keys = message_keys(runtime.settings)

    def deco(handle: Callable[[UnitOfWork, Any], None]) -> Callable:
        @app.task(name=message_type.TYPE, bind=True, acks_late=True, max_retries=None, shared=False)
        def task(self: Any, env: dict[str, Any]) -> None:
            try:
                # Before anything else: a forged message (anyone who can push onto the broker)
                # takes no effect, is never confirmed (its id may be a real message's) and is
                # parked for an operator to see (shared.signing).
                verify(env, keys)
                if env.get("type") != message_type.TYPE:
                    raise SignatureError(f"thư loại {env.get('type')!r} gửi tới {message_type.TYPE}")
            except SignatureError as exc:
                park(runtime, env, str(exc), 1, forged=True)
                metrics.count_message(runtime.service, message_type.TYPE, "rejected")
                return
            with logs.context(env.get("request_id"), env.get("id")):
                handle_verified(self, env)

        def handle_verified(self: Any, env: dict[str, Any]) -> None:
            outcome = "applied"
            count = deliveries.count(env)
            if count > runtime.settings.max_deliveries:
                if not already_processed(runtime.db, env):
                    # Delivered too often (failing, or crashing its worker): park it, stop the loop.
                    park(runtime, env, f"delivered {count} times", count)
                    metrics.count_message(runtime.service, message_type.TYPE, "parked")
                # else one more copy of a message that took effect (redeliveries, replays)
                deliveries.confirm(env)
                return
            try:
                if not consume(runtime.db, env, handle):
                    outcome = "duplicate"  # absorbed by the inbox
            except MessageError as exc:
                # A message that can never be valid is parked at once, not retried forever.
                park(runtime, env, str(exc), count)
                outcome = "parked"
            except Exception as exc:
                if count < runtime.settings.max_deliveries:
                    log.warning("%s failed (%s); retrying", message_type.TYPE, exc)
                    metrics.count_message(runtime.service, message_type.TYPE, "retried")
                    raise self.retry(exc=exc, countdown=min(2 ** self.request.retries, 30)) from exc
                park(runtime, env, repr(exc), count)
                outcome = "parked"
            metrics.count_message(runtime.service, message_type.TYPE, outcome)
            log.info("%s %s: %s (delivery %d)", message_type.TYPE, env.get("id"), outcome, count)
            # Handled (or parked): the relay that sent it need not send it again (shared.outbox).
            deliveries.confirm(env)

        return handle

    return deco


COUNT_SECONDS = 24 * 3600


class DeliveryCounter:
    """How many times each message reached this service, kept in Redis for a day (a failing
    message is redelivered within minutes: retries wait at most 30 s, a dead worker's messages
    come back after the visibility timeout; a day keeps the keys to one day's messages, see
    docs/capacity.md); a crash that kills the worker still counts, since the count is taken
    before the work."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._client: Any = None
        # A confirmation is kept as long as its message may be replayed, and an hour more.
        self._confirm_ttl = int(BrokerOptions.of(runtime.settings).replay_hours * 3600) + 3600

    def _redis(self) -> Any:
        if self._client is None:
            self._client = redis_client(self.runtime.settings, timeout=2.0, retries=0)
        return self._client

    def confirm(self, env: Any) -> None:
        """Tell the sender's relay this message was handled here (kept as long as it may replay)."""
        ids = covered_ids(env)
        if not ids:
            return
        try:
            pipe = self._redis().pipeline(transaction=False)
            for message_id in ids:
                pipe.set(confirm_key(message_id), 1, ex=self._confirm_ttl)
            pipe.execute()
        except Exception:  # unconfirmed only means sent once more, and absorbed by the inbox
            log.debug("confirming %s failed", message_id, exc_info=True)

    def count(self, env: Any) -> int:
        message_id = env.get("id") if isinstance(env, dict) else None
        if not isinstance(message_id, str):
            return 1
        try:
            key = f"sovang:deliveries:{self.runtime.service}:{message_id}"
            pipe = self._redis().pipeline()
            pipe.incr(key)
            pipe.expire(key, COUNT_SECONDS)
            return int(pipe.execute()[0])
        except Exception:  # counting is a safeguard; the broker being away must not stop work
            return 1


def park(runtime: Runtime, env: Any, error: str, deliveries: int, forged: bool = False) -> None:
    """Keep a message that will not succeed for an operator to look at. A forged one is kept
    under an id of its own: the id it claims may be a real message's, which must stay free."""
    import sqlalchemy as sa

    from shared.db import utcnow
    from shared.ids import new_id
    from shared.tables import parked_messages

    message_id = str(env.get("id")) if isinstance(env, dict) and env.get("id") else f"invalid-{id(env)}"
    if forged:
        message_id = new_id()
    log.error("%s: message %s parked after %d deliveries: %s", runtime.service, message_id, deliveries, error)
    with runtime.db.unit_of_work() as uow:
        exists = uow.session.execute(
            sa.select(parked_messages.c.message_id).where(parked_messages.c.message_id == message_id)
        ).first()
        if not exists:
            uow.session.execute(parked_messages.insert().values(
                message_id=message_id[:36], type=str(env.get("type", "?"))[:80] if isinstance(env, dict) else "?",
                envelope=env if isinstance(env, dict) else {"raw": repr(env)}, error=error[:4000],
                deliveries=deliveries, parked_at=utcnow(),
            ))
            uow.commit()
