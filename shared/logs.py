"""Logs an operator can search: one JSON object per line (``SOVANG_LOG_JSON=1``), each carrying
the request id and the message id it belongs to.

A request's id comes from the edge (nginx's ``X-Request-Id``) or is made by the web process; it
is answered in ``X-Request-Id``, written into every message the request's transaction emits
(``request_id`` in the envelope) and set again by the consumer of that message, so one search for
the id finds the request and everything it caused in the other services.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("sovang_request_id", default=None)
MESSAGE_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("sovang_message_id", default=None)
_service: list[str | None] = [None]  # the process's service, for every thread


@contextmanager
def context(request_id: str | None = None, message_id: str | None = None) -> Iterator[None]:
    tokens = [(REQUEST_ID, REQUEST_ID.set(request_id)), (MESSAGE_ID, MESSAGE_ID.set(message_id))]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class ContextFilter(logging.Filter):
    """Puts the ids of the current request and message on every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        record.message_id = MESSAGE_ID.get()
        record.service = getattr(record, "service", None) or _service[0]
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        event = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in ("service", "request_id", "message_id"):
            value = getattr(record, key, None)
            if value:
                event[key] = value
        if record.exc_info:
            event["exc"] = self.formatException(record.exc_info)
        return json.dumps(event, ensure_ascii=False)


def configure(level: str, json_lines: bool, service: str | None = None) -> None:
    """The root logger of a process: plain text, or JSON lines, on stderr."""
    if service:
        _service[0] = service
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
