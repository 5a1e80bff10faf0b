"""Identifiers: time-ordered UUIDv7 for records, random tokens for secrets and receipts.

Records' ids come from one source: UUIDv7 from the system's clock, or the source
``Settings.ids`` names, which the composition root puts in place for as long as it runs on it
(``using``), as ``shared.clock`` does for time.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Protocol

_RAND_BITS = 74  # rand_a (12 bits) and rand_b (62 bits) of a UUIDv7
_lock = threading.Lock()
_last = (0, 0)  # (unix ms, random bits) of the last id this process made


def _reset_after_fork() -> None:
    # A forked child starts afresh: counting on from its parent's last id, both could make the
    # same one within that millisecond.
    global _last
    _last = (0, 0)


os.register_at_fork(after_in_child=_reset_after_fork)


class IdSource(Protocol):
    """A source of records' ids (``Settings.ids``): time-ordered UUIDv7 strings."""

    def new_id(self) -> str: ...


_source: IdSource | None = None  # None: uuid7() below


@contextlib.contextmanager
def using(source: IdSource | None) -> Iterator[None]:
    """Draw every record's id from ``source`` within the block (None: the source already in use)."""
    global _source
    if source is None:
        yield
        return
    before, _source = _source, source
    try:
        yield
    finally:
        _source = before


def new_id() -> str:
    """A record's id: a UUIDv7 string, from the source in use."""
    return uuid7() if _source is None else _source.new_id()


def uuid7() -> str:
    """A UUIDv7 string (RFC 9562): sorts by creation time, so cursors can page by id.

    Ids a process makes within one millisecond follow the last by one in the random bits
    (RFC 9562, 6.2, method 3): by random bits alone, two deeds recorded in the same
    millisecond listed in either order."""
    global _last
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big") & ((1 << _RAND_BITS) - 1)
    with _lock:
        last_ms, last_rand = _last
        if ms <= last_ms:  # the same millisecond, or the clock stepped back
            ms, rand = last_ms, last_rand + 1
            if rand >> _RAND_BITS:
                ms, rand = ms + 1, 0
        _last = (ms, rand)
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= (rand >> 62) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


def random_id() -> str:
    """A UUIDv4 string: carries no time, for things that must not be ordered (ballots)."""
    return str(uuid.uuid4())


def receipt() -> str:
    """A ballot receipt: unguessable, short enough to read out."""
    return secrets.token_hex(8)
