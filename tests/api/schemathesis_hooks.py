"""schemathesis hooks of the HTTP run (tests/api/test_schemathesis_http.py).

A client sends a fresh ``Idempotency-Key`` with each new request (API.md: the same key with
another body is 422, by contract); generated keys repeat ("0", "00"), so each generated one is
made unique, keeping its presence and its length's bound.
"""

from __future__ import annotations

import uuid

import schemathesis


@schemathesis.hook
def before_call(ctx, case, **kwargs):  # noqa: ANN001, ANN201
    if case.headers and "Idempotency-Key" in case.headers:
        case.headers["Idempotency-Key"] = f"st-{uuid.uuid4()}"
