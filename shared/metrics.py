"""What an operator watches (README, "Deployment"; deploy/alerts.yml): Prometheus metrics on
``/metrics`` of every web process and on ``SOVANG_METRICS_PORT`` of every worker.

Counted as they happen (summed over a process's children when ``PROMETHEUS_MULTIPROC_DIR`` is
set, as ``sovang web`` and ``sovang worker`` do): request latency by route, messages handled by
outcome (applied, duplicate absorbed by the inbox, retried, parked, rejected as forged).
Read from the service's database and the broker at each scrape (``StateCollector``): the outbox
backlog and the age of its oldest unsent message, parked messages, queue lengths, rounds past
their deadline (council), inscriptions per book (book).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import REGISTRY, Collector

from shared.config import SERVICES
from shared.db import Database, utcnow
from shared.tables import outbox, parked_messages

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

REQUEST_SECONDS = Histogram(
    "sovang_http_request_duration_seconds", "Time to answer an HTTP request, by route.",
    ["service", "method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
MESSAGES = Counter(
    "sovang_messages_total", "Messages received by a consumer, by outcome "
    "(applied, duplicate: absorbed by the inbox, retried, parked, rejected: not signed by our key).",
    ["service", "type", "outcome"],
)


def observe_request(service: str, method: str, route: str, status: int, seconds: float) -> None:
    REQUEST_SECONDS.labels(service, method, route, str(status)).observe(seconds)


def count_message(service: str, message_type: str, outcome: str) -> None:
    MESSAGES.labels(service, message_type, outcome).inc()


class StateCollector(Collector):
    """Gauges read at scrape time from one service's database and the broker."""

    def __init__(self, db: Database, redis_factory: Callable[[], Any] | None = None) -> None:
        self.db = db
        self.redis_factory = redis_factory

    def collect(self) -> Iterable[GaugeMetricFamily]:
        service = self.db.service
        try:
            yield from self._database(service)
        except Exception as exc:  # the database away: the scrape still answers (up, the rest)
            log.warning("metrics of %s: database unreadable: %s", service, exc)
        if self.redis_factory is not None:
            queues = GaugeMetricFamily("sovang_queue_length", "Messages waiting in a service's queue.",
                                       labels=["queue"])
            try:
                with self.redis_factory() as client:  # closed after each scrape, not left to the collector
                    for queue in SERVICES:
                        queues.add_metric([queue], float(client.llen(queue)))
                yield queues
            except Exception as exc:
                log.warning("metrics of %s: broker unreadable: %s", service, exc)

    def _database(self, service: str) -> Iterable[GaugeMetricFamily]:
        now = utcnow()
        with self.db.reading() as s:
            backlog, oldest = s.execute(sa.select(sa.func.count(), sa.func.min(outbox.c.created_at))
                                        .where(outbox.c.sent_at.is_(None))).one()
            parked = s.execute(sa.select(sa.func.count()).select_from(parked_messages)).scalar_one()
            extra = list(_service_state(service, s, now))
        yield _gauge("sovang_outbox_backlog", "Messages written to the outbox and not yet sent.", service, backlog)
        age = (now - _aware(oldest)).total_seconds() if oldest is not None else 0.0
        yield _gauge("sovang_outbox_oldest_unsent_age_seconds",
                     "Age of the oldest message in the outbox not yet sent (0: none).", service, max(0.0, age))
        yield _gauge("sovang_parked_messages", "Messages parked for an operator (sovang parked list).",
                     service, parked)
        yield from extra


def _aware(value: Any) -> Any:
    import datetime as dt

    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


def _gauge(name: str, doc: str, service: str, value: float) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=["service"])
    family.add_metric([service], float(value))
    return family


def _service_state(service: str, s: Any, now: Any) -> Iterable[GaugeMetricFamily]:
    """The few figures of one service's own tables that must page someone when they go wrong."""
    if service == "council":
        rounds = sa.table("rounds", sa.column("status"), sa.column("closes_at"))
        late = s.execute(sa.select(sa.func.count()).select_from(rounds).where(
            rounds.c.status != "closed", rounds.c.closes_at < now)).scalar_one()
        yield GaugeMetricFamily("sovang_rounds_past_deadline",
                                "Rounds still open after their deadline (the scheduler closes them).", value=late)
    elif service == "book":
        entries = sa.table("entries", sa.column("book"), sa.column("kind"))
        family = GaugeMetricFamily("sovang_book_entries", "Entries of each golden book, by kind "
                                   "(inscription, revocation).", labels=["book", "kind"])
        for book, kind, n in s.execute(sa.select(entries.c.book, entries.c.kind, sa.func.count())
                                       .group_by(entries.c.book, entries.c.kind)):
            family.add_metric([book, kind], float(n))
        yield family


def render(state: StateCollector | None) -> bytes:
    """The exposition of this process (or of all its siblings, in multiprocess mode) and the state."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    if state is not None:
        extra = CollectorRegistry(auto_describe=False)
        extra.register(state)
        body += generate_latest(extra)
    return body


def serve(port: int, state: StateCollector | None, host: str = "0.0.0.0") -> None:  # noqa: S104 - a container's port
    """A worker's /metrics, from a thread of its main process."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404)
                return
            body = render(state)
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    log.info("metrics on http://%s:%d/metrics", host, port)


def timer() -> float:
    return time.perf_counter()
