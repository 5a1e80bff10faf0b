"""HTTP conventions of API.md shared by the three Flask apps, gathered: problem+json errors
(``shared.problems``), strict JSON bodies and marshmallow validation (``shared.bodies``), cursor
pages (``shared.cursors``), health checks (``shared.health``), Idempotency-Key
(``shared.idempotency``, run by the HTTP edge of a use case, ``shared.endpoint``); here, record
ids in paths."""

from __future__ import annotations

import logging

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
from shared.health import install_health  # noqa: F401
from shared.idempotency import IDEMPOTENCY_KEY_MAX, IDEMPOTENCY_KEY_PATTERN  # noqa: F401
from shared.problems import (  # noqa: F401
    DETAILS,
    PROBLEM,
    RETRY_AFTER_SECONDS,
    STATUS_OF,
    TITLES,
    Problem,
    as_problem,
    install_problem_handlers,
    unavailable,
)

log = logging.getLogger(__name__)


# -- paths -------------------------------------------------------------------------------------
class IdConverter(BaseConverter):
    """``<id:…>``: a record's id, a UUID (any case, read lower-case). Any other segment names no
    record (404) and never shadows a route's literal segment: ``/deeds/batch`` is not a deed."""

    regex = r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"

    def to_python(self, value: str) -> str:
        return value.lower()
