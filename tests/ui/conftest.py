"""Fixtures of the pages' tests: the council's app over a migrated runtime with the organisation
loaded (helpers in ``ui_helpers``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from ui_helpers import ORG_FILE

from services.council import services
from services.council.app import build_runtime, create_app
from shared.config import Settings
from shared.runtime import Runtime


@pytest.fixture(scope="session")
def org_doc() -> dict[str, Any]:
    return json.loads(ORG_FILE.read_text("utf-8"))


@pytest.fixture
def runtime(tmp_path: Path, org_doc: dict[str, Any]) -> Iterator[Runtime]:
    rt = build_runtime(Settings(home=tmp_path / "home"))
    rt.migrate()
    services.load_org(rt, org_doc)
    # No broker here: no relay to wake after a commit.
    rt.db.after_commit.clear()
    yield rt
    rt.db.dispose()


@pytest.fixture
def app(runtime: Runtime) -> Flask:
    app = create_app(runtime=runtime)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()

