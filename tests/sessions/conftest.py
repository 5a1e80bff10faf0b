"""Fixtures of the sign-in tests (helpers in ``tests.sessions.site``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.config import Settings
from tests.sessions.site import Site, make_site


@pytest.fixture
def site(sqlite_settings: Settings, org_document: dict) -> Iterator[Site]:
    s = make_site(sqlite_settings, org_document)
    yield s
    for rt in s.runtimes.values():
        rt.db.dispose()
