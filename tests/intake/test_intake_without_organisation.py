"""Before any organisation is loaded (R25: ``sovang org load``), a request that needs one is
answered 503 with a wait, the same refusal (``shared.refusals.Unavailable``) through the API and
the pages, never a 500 — and nothing is written."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask.testing import FlaskClient

from services.intake.app import build_runtime
from shared.config import Settings
from shared.problems import Problem
from shared.refusals import Unavailable
from shared.runtime import Runtime
from tests.intake.conftest import auth, deed_body


@pytest.fixture
def runtime(sqlite_settings: Settings) -> Iterator[Runtime]:
    """Intake's runtime of ``conftest``, migrated, with no organisation loaded."""
    rt = build_runtime(sqlite_settings)
    rt.migrate()
    yield rt
    rt.db.dispose()


def test_the_refusal_is_a_503_with_a_wait() -> None:
    problem = Problem.of(Unavailable("Chưa nạp tổ chức (sovang org load)."))
    assert problem.status == 503
    assert int(problem.headers["Retry-After"]) > 0


def test_a_deed_before_the_organisation_is_refused_with_503(client: FlaskClient, token: Callable[[str, str], str]) -> None:
    tok = token("officer", "CA-X-0001")
    resp = client.post("/api/v1/deeds", json=deed_body({"officer": "CA-X-0001"}),
                       headers=auth(tok, **{"Idempotency-Key": "k-no-org-1"}))
    assert resp.status_code == 503, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    assert resp.get_json()["detail"] == "Chưa nạp tổ chức (sovang org load)."
    assert int(resp.headers["Retry-After"]) > 0
    listed = client.get("/api/v1/deeds", headers=auth(tok))
    assert listed.status_code == 503


def test_the_audit_record_before_the_organisation_is_refused_with_503(client: FlaskClient, token: Callable[[str, str], str]) -> None:
    tok = token("province_secretary", "CA-X-0002")
    resp = client.get("/api/v1/audit/intake", headers=auth(tok))
    assert resp.status_code == 503
    assert resp.get_json()["detail"] == "Chưa nạp tổ chức (sovang org load)."
