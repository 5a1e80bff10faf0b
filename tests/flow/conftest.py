"""The three services wired together in one process (``flow_harness.Flow``), on the embedded
default and on PostgreSQL + Redis."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.flow.flow_harness import Flow


@pytest.fixture(params=["embedded", "distributed"])
def flow(request: pytest.FixtureRequest, org_document: dict) -> Iterator[Flow]:
    if request.param == "distributed":
        request.applymarker(pytest.mark.distributed)
        settings = request.getfixturevalue("pg_settings")
    else:
        settings = request.getfixturevalue("sqlite_settings")
    f = Flow(settings, org_document)
    yield f
    f.close()
