"""The ways a use case of intake refuses: each maps to one HTTP status at the edge."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class IntakeError(Exception):
    """A refusal with a Vietnamese detail and, for invalid input, errors per field."""

    status = 400

    def __init__(self, detail: str, errors: Mapping[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = dict(errors) if errors else None


class Invalid(IntakeError):
    status = 422


class Forbidden(IntakeError):
    status = 403


class NotFound(IntakeError):
    status = 404


class Conflict(IntakeError):
    status = 409


class TooLarge(IntakeError):
    status = 413


class UnsupportedType(IntakeError):
    status = 415
