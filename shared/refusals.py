"""The ways a use case refuses, the same in every service: pure, no framework.

A use case raises one of these with a Vietnamese ``detail`` (and, for input, ``errors`` per
field); the edge that called it says it in its own terms — ``shared.problems`` as a problem+json
status (the one mapping is ``shared.problems.STATUS_OF``), a page as a page, the command line as a
message. Nothing here knows which.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class Refused(Exception):
    """A use case declined to act; nothing it wrote stays (its unit of work is rolled back)."""

    def __init__(self, detail: str, errors: Mapping[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = dict(errors) if errors else None


class Unauthenticated(Refused):
    """Who asks is not known: a wrong pair of code and password, a person not in the organisation."""


class TooMany(Refused):
    """Asked too often; it may be asked again after ``retry_after`` seconds."""

    def __init__(self, detail: str, retry_after: int, errors: Mapping[str, Any] | None = None) -> None:
        super().__init__(detail, errors)
        self.retry_after = retry_after


class Invalid(Refused):
    """The input breaks a rule; ``errors`` names the fields."""


class Forbidden(Refused):
    """The actor may not do this."""


class NotFound(Refused):
    """No such thing, or none the actor may know of."""


class Conflict(Refused):
    """The thing is not in a state that allows this (now)."""


class Unavailable(Refused):
    """Something the use case needs is not there yet (the organisation not loaded); asking again
    later may succeed."""


class TooLarge(Invalid):
    """The input is over a size limit."""


class UnsupportedType(Invalid):
    """The input is of a kind not accepted (a file type, say)."""
