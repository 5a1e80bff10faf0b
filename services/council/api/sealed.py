"""Idempotency-Key for ballots without breaking R19: their answers are kept sealed
(``shared.idempotency.Sealed``), filed under a keyed hash of the member and their key, readable
only with the key. Same contract as every other key otherwise."""

from __future__ import annotations

from services.council.orm import ballot_requests
from shared.idempotency import Sealed

BALLOTS = Sealed(ballot_requests)
