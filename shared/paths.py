"""Record ids in paths (API.md "Common"): the ``<id:…>`` converter every app registers."""

from __future__ import annotations

from werkzeug.routing import BaseConverter


class IdConverter(BaseConverter):
    """``<id:…>``: a record's id, a UUID (any case, read lower-case). Any other segment names no
    record (404) and never shadows a route's literal segment: ``/deeds/batch`` is not a deed."""

    regex = r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"

    def to_python(self, value: str) -> str:
        return value.lower()
