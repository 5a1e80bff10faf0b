"""Fixtures of the pages' tests: the three services behind the one origin, the organisation
loaded, passwords set for the people of the tests (helpers in ``ui_helpers``); ``runtime`` is
the council's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ui_helpers import MEMBERS, ORG_FILE, PROVINCE_SECRETARY, SECRETARY
from werkzeug.test import Client

from shared.config import Settings
from shared.runtime import Runtime
from tests.sessions.site import Site, make_site, site_settings


@pytest.fixture(scope="session")
def org_doc() -> dict[str, Any]:
    return json.loads(ORG_FILE.read_text("utf-8"))


@pytest.fixture
def site(request: pytest.FixtureRequest, tmp_path: Path, org_doc: dict[str, Any]) -> Iterator[Site]:
    """The site on SQLite, or on PostgreSQL for a test parametrized with ``site.BACKENDS``."""
    people = (*MEMBERS, SECRETARY, PROVINCE_SECRETARY, "CAH-CJ-0001", "CAH-DM-0010", "CAH-DM-0009")
    s = make_site(site_settings(request, Settings(home=tmp_path / "home")), org_doc, people)
    yield s
    s.close()


@pytest.fixture
def runtime(site: Site) -> Runtime:
    return site.runtimes["council"]


@pytest.fixture
def client(site: Site) -> Client:
    """A browser nobody has signed in on yet."""
    return site.client()
