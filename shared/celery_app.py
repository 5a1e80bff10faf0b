"""The Celery app of one service: JSON only, late acks, its own queue, tasks sent by name.

Each service has its own Celery app consuming only the queue named after it; a task's name
starts with the queue of the service that runs it (``book.inscribe``), so producers send by
name and never import the consumer's code.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

import redis
from celery import Celery
from kombu import Queue
from redis.backoff import NoBackoff
from redis.retry import Retry

from shared.config import SERVICES, Settings
from shared.db import Database
from shared.outbox import Relay, confirm_key, wake_key
from shared.signing import message_keys, sign

log = logging.getLogger(__name__)


def route_by_prefix(name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **kw: Any) -> dict:
    queue = name.split(".", 1)[0]
    return {"queue": queue} if queue in SERVICES else {}


@dataclass(frozen=True)
class BrokerOptions:
    """How the services use Redis as a broker, and how they survive it failing."""

    # A message taken by a worker that died unacknowledged is delivered again after this long
    # (SOVANG_BROKER_VISIBILITY_TIMEOUT, seconds). Longer than any task; short in fault tests.
    visibility_timeout: float = 300.0
    # Rows sent to a broker run that lost its data are sent again when sent within this window
    # (SOVANG_BROKER_REPLAY_HOURS): longer than any message waits in a queue.
    replay_hours: float = 24.0
    # A message sent this long ago (SOVANG_BROKER_CONFIRM_SECONDS) that no consumer confirmed,
    # while its queue is empty, was lost between the broker and a worker: it is sent again.
    confirm_seconds: float = 60.0
    # A publish or command on a connection that stopped answering fails after this long.
    socket_timeout: float = 30.0
    socket_connect_timeout: float = 5.0

    @classmethod
    def of(cls, settings: Settings) -> BrokerOptions:
        return cls(
            visibility_timeout=settings.broker_visibility_timeout,
            replay_hours=settings.broker_replay_hours,
            confirm_seconds=settings.broker_confirm_seconds,
        )

    def transport_options(self) -> dict[str, Any]:
        return {
            "visibility_timeout": self.visibility_timeout,
            # Look for abandoned messages often enough that the timeout above is what counts
            # (kombu's default looks every 10 s but scans only every 10th time).
            "unacked_restore_interval": int(max(1, min(10, self.visibility_timeout // 10))),
            "unacked_restore_throttle": 1,
            "socket_timeout": self.socket_timeout,
            "socket_connect_timeout": self.socket_connect_timeout,
            "socket_keepalive": True,
            "health_check_interval": 10,
        }


def make_celery(service: str, settings: Settings) -> Celery:
    app = Celery(f"sovang.{service}", set_as_current=False)
    app.conf.update(
        broker_url=settings.effective_broker_url(),
        broker_connection_retry_on_startup=True,
        # A broker away for long is waited for, never given up on (the default stops after 100).
        broker_connection_max_retries=None,
        broker_transport_options=BrokerOptions.of(settings).transport_options(),
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        result_backend=None,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # Each child finds its next message waiting instead of idling for a broker round trip;
        # with late acks a prefetched message that a dead worker held is delivered again.
        worker_prefetch_multiplier=4,
        task_default_queue=service,
        task_queues=[Queue(service)],
        task_routes=(route_by_prefix,),
        worker_hijack_root_logger=False,
        timezone="Asia/Ho_Chi_Minh",
        enable_utc=True,
        worker_send_task_events=False,
        broker_heartbeat=0,
    )
    return app


def redis_client(settings: Settings, timeout: float = 5.0, retries: int | None = None) -> redis.Redis:
    """A plain Redis client on the broker (wake-ups, rate limits); ``retries=0`` fails at once."""
    url = settings.effective_broker_url()
    extra: dict[str, Any] = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    if retries is not None:
        extra["retry"] = Retry(NoBackoff(), retries)
        extra["retry_on_error"] = []
    if url.startswith("redis+socket://"):
        return redis.Redis(unix_socket_path=url.removeprefix("redis+socket://"), **extra)
    return redis.Redis.from_url(url, **extra)


class RedisConfirmations:
    """The consumers' confirmations, kept in Redis by ``shared.consumer.consumer``."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def confirmed(self, message_ids: list[str]) -> list[bool]:
        return [v is not None for v in self.client.mget([confirm_key(m) for m in message_ids])]

    def idle(self, queue: str) -> bool:
        return int(self.client.llen(queue)) == 0


def make_relay(celery: Celery, db: Database, settings: Settings) -> Relay:
    """The relay of a service's outbox, publishing through its Celery app.

    Messages go to the anonymous exchange with the queue's name as routing key (Celery does so
    for a direct queue given by name): Redis then pushes straight onto the queue's list, with no
    lookup of exchange bindings, which a broker that restarted empty would not have yet.
    """
    client = redis_client(settings)
    producer_pool = celery.producer_pool
    options = BrokerOptions.of(settings)
    keys = message_keys(settings)

    def publish(name: str, queue: str, env: dict[str, Any], message_id: str) -> None:
        # Signed as it leaves (shared.signing): the consumer parks what no key of ours signed.
        with producer_pool.acquire(block=True) as producer:
            celery.send_task(name, args=[sign(env, keys)], queue=queue, task_id=message_id,
                             producer=producer, retry=False)

    def wait(seconds: float) -> None:
        client.blpop([wake_key(db.service)], timeout=seconds)

    def broker_run() -> str:
        return str(client.info("server")["run_id"])

    return Relay(db, publish, wait, broker_run=broker_run, linger=settings.relay_linger_seconds,
                 merge_linger=settings.relay_merge_linger_seconds,
                 replay_window=dt.timedelta(hours=options.replay_hours),
                 confirmations=RedisConfirmations(client),
                 confirm_after=dt.timedelta(seconds=options.confirm_seconds))


def install_wakeup(db: Database, settings: Settings) -> None:
    """After each commit that wrote messages, nudge the relay so a message leaves at once rather
    than at the next poll."""
    # A short timeout: with the broker away the hint is dropped, the request is not held up.
    client = redis_client(settings, timeout=0.2, retries=0)
    key = wake_key(db.service)
    # The push and the trim that keeps one wake-up however many commits made it, as one command
    # (EVALSHA; redis-py loads the script again on NOSCRIPT, after a restart).
    push = client.register_script("redis.call('RPUSH', KEYS[1], 1) redis.call('LTRIM', KEYS[1], -1, -1)")

    def nudge() -> None:
        # Sent by the committing thread, before it builds its response: from a thread of its own
        # the wake-up could wait for the interpreter's lock while a long response was being built
        # (a round's close), and the message with it.
        push(keys=[key])

    db.after_commit.append(nudge)
