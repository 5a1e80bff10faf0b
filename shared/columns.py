"""Column types and the instant every row is stamped with; nothing here knows a database."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from shared import clock


class Instant(sa.types.TypeDecorator):
    """An aware instant stored as UTC; SQLite keeps no offset, so it is restored on the way out."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):  # noqa: ANN001
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to an Instant column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):  # noqa: ANN001
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    """Now, from the process's one clock (``shared.clock``)."""
    return clock.utcnow()
