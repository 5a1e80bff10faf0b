"""Counting the SQL a piece of work executes: the tests bound work by the statements it makes,
never by timing it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from shared.runtime import Runtime


@contextmanager
def statements(runtime: Runtime) -> Iterator[list[str]]:
    """The SQL statements executed meanwhile on the runtime's engines (an executemany is one)."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    engines = {id(e): e for e in (runtime.db.engine, runtime.db.read_engine)}.values()
    for engine in engines:
        event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", note)
