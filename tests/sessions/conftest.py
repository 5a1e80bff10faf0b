"""Fixtures of the sign-in tests (helpers in ``tests.sessions.site``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.config import Settings
from tests.sessions.site import Site, make_site, site_settings


@pytest.fixture
def site(request: pytest.FixtureRequest, sqlite_settings: Settings, org_document: dict) -> Iterator[Site]:
    """The site on SQLite, or on PostgreSQL for a test parametrized with ``site.BACKENDS``."""
    s = make_site(site_settings(request, sqlite_settings), org_document)
    yield s
    s.close()
