"""The three services wired together in one process (``flow_harness.Flow``), on the embedded
default and on PostgreSQL + Redis."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.flow.flow_harness import Flow


@pytest.fixture
def flow_org(org_document: dict) -> dict:
    """The organisation a flow loads; a module overrides it to shape its own."""
    return org_document


@pytest.fixture
def flow_options() -> dict[str, Any]:
    """Keyword arguments of ``Flow`` (``late_days``); a module overrides it when it needs others."""
    return {}


@pytest.fixture(params=["embedded", "distributed"])
def flow(request: pytest.FixtureRequest, flow_org: dict, flow_options: dict[str, Any]) -> Iterator[Flow]:
    if request.param == "distributed":
        request.applymarker(pytest.mark.distributed)
        settings = request.getfixturevalue("pg_settings")
    else:
        settings = request.getfixturevalue("sqlite_settings")
    f = Flow(settings, flow_org, **flow_options)
    yield f
    f.close()
