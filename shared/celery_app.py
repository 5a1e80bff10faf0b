"""The Celery app of one service: JSON only, late acks, its own queue, tasks sent by name.

Each service has its own Celery app consuming only the queue named after it; a task's name
starts with the queue of the service that runs it (``book.inscribe``), so producers send by
name and never import the consumer's code.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from celery import Celery
from kombu import Queue
from redis.backoff import NoBackoff
from redis.retry import Retry

from shared.config import SERVICES, Settings
from shared.db import Database
from shared.outbox import Relay, wake_key

log = logging.getLogger(__name__)


def route_by_prefix(name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **kw: Any) -> dict:
    queue = name.split(".", 1)[0]
    return {"queue": queue} if queue in SERVICES else {}


def make_celery(service: str, settings: Settings) -> Celery:
    app = Celery(f"sovang.{service}", set_as_current=False)
    app.conf.update(
        broker_url=settings.effective_broker_url(),
        broker_connection_retry_on_startup=True,
        # A message unacknowledged this long (a worker that died) is delivered again.
        broker_transport_options={"visibility_timeout": 300},
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        result_backend=None,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
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


def make_relay(celery: Celery, db: Database, settings: Settings) -> Relay:
    """The relay of a service's outbox, publishing through its Celery app."""
    client = redis_client(settings)
    producer_pool = celery.producer_pool

    def publish(name: str, queue: str, env: dict[str, Any], message_id: str) -> None:
        with producer_pool.acquire(block=True) as producer:
            celery.send_task(name, args=[env], queue=queue, task_id=message_id, producer=producer, retry=False)

    def wait(seconds: float) -> None:
        client.blpop([wake_key(db.service)], timeout=seconds)

    return Relay(db, publish, wait)


def install_wakeup(db: Database, settings: Settings) -> None:
    """After each commit, nudge the relay so a message leaves at once rather than at the next poll."""
    # A short timeout: with the broker away the hint is dropped, the request is not held up.
    client = redis_client(settings, timeout=0.2, retries=0)
    key = wake_key(db.service)

    def nudge() -> None:
        pipe = client.pipeline()
        pipe.rpush(key, 1)
        pipe.ltrim(key, -1, -1)
        pipe.execute()

    db.after_commit.append(nudge)
