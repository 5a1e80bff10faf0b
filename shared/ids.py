"""Identifiers: time-ordered UUIDv7 for records, random tokens for secrets and receipts."""

from __future__ import annotations

import os
import secrets
import time
import uuid


def new_id() -> str:
    """A UUIDv7 string (RFC 9562): sorts by creation time, so cursors can page by id."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


def random_id() -> str:
    """A UUIDv4 string: carries no time, for things that must not be ordered (ballots)."""
    return str(uuid.uuid4())


def receipt() -> str:
    """A ballot receipt: unguessable, short enough to read out."""
    return secrets.token_hex(8)
