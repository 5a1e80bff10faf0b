"""The ceiling for one hop between services: a no-op Celery task's round trip on the same Redis,
under the services' Celery settings (JSON, late acks, prefetch 4, prefork pool of the same size).

The worker: ``celery -A bench.noop worker -Q bench_noop``; the round trip is ``send_task`` then
waiting for its result (Redis result backend, same database).
"""

from __future__ import annotations

import statistics
import time

from celery import Celery

from bench.stack import REDIS_URL

app = Celery("bench.noop", broker=REDIS_URL, backend=REDIS_URL, set_as_current=False)
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    result_serializer="json",
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=4,
    task_default_queue="bench_noop",
    broker_connection_retry_on_startup=True,
    broker_transport_options={"visibility_timeout": 300},
    worker_hijack_root_logger=False,
    worker_send_task_events=False,
    broker_heartbeat=0,
    result_expires=600,
)


@app.task(name="bench.noop", acks_late=True)
def noop() -> None:
    return None


def round_trips(samples: int, warmup: int = 20) -> list[float]:
    """Seconds for each of ``samples`` sequential round trips."""
    for _ in range(warmup):
        app.send_task("bench.noop", queue="bench_noop").get(timeout=30)
    out = []
    for _ in range(samples):
        t0 = time.perf_counter()
        app.send_task("bench.noop", queue="bench_noop").get(timeout=30)
        out.append(time.perf_counter() - t0)
    return out


if __name__ == "__main__":
    times = round_trips(100)
    print(f"p50 {statistics.median(times) * 1000:.2f} ms")
