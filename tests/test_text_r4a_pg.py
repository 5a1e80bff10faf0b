"""R4a for what a request carries outside its body, on PostgreSQL (which refuses a NUL in a
query's text with an error): a path, query parameter or Idempotency-Key holding a control
character or a noncharacter is a 404 or a 422 in every service, never a 500."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from shared.auth import new_token, store_token
from shared.runtime import Runtime


def _headers(runtime: Runtime, role: str, subject: str) -> dict[str, str]:
    token = new_token()
    with runtime.db.unit_of_work() as uow:
        store_token(uow, token, role, subject, 1)
        uow.commit()
    return {"Authorization": f"Bearer {token}"}


def _intake(settings, org) -> tuple[Runtime, Callable]:
    from services.intake import DECLARATION
    from services.intake.app import build_runtime, create_app

    rt = build_runtime(settings)
    rt.migrate()
    DECLARATION.load_org(rt, org)
    app = create_app(runtime=rt)
    rt.db.after_commit.clear()
    return rt, app


def _council(settings, org) -> tuple[Runtime, Callable]:
    from services.council.app import create_app
    from tests.council.conftest import make_runtime

    rt = make_runtime(settings, org)
    return rt, create_app(runtime=rt)


def _book(settings, org) -> tuple[Runtime, Callable]:
    from services.book.app import create_app
    from tests.book.book_helpers import make_runtime

    rt = make_runtime(settings, org)
    return rt, create_app(runtime=rt)


SERVICES = {
    "intake": (_intake, ("unit_secretary", "CAH-DM-0008"), [
        ("GET", "/api/v1/deeds/a%00b", 404),
        ("GET", "/api/v1/deeds/a%EF%BF%BEb", 404),
        ("GET", "/api/v1/deeds?unit=CAH%00", 422),
        ("GET", "/api/v1/deeds?cursor=a%0Bb", 422),
        ("GET", "/api/v1/deeds/x/evidence/a%00", 404),
        ("POST", "/api/v1/deeds/a%00/introduce", 404),
    ]),
    "council": (_council, ("unit_secretary", "CATP-GN-0008"), [
        ("GET", "/api/v1/rounds/a%00b", 404),
        ("GET", "/api/v1/rounds?council=HD%00", 422),
        ("GET", "/api/v1/rounds/a%00/result", 404),
        ("GET", "/api/v1/rounds/a%00/minutes.pdf", 404),
        ("POST", "/api/v1/rounds/a%00/close", 404),
        ("GET", "/api/v1/dossiers/a%00", 404),
        ("GET", "/api/v1/reports/monthly?month=2024-0%00", 422),
    ]),
    "book": (_book, ("unit_secretary", "CAH-DM-0008"), [
        ("GET", "/api/v1/books/CAH%00/entries", 404),
        ("GET", "/api/v1/books/CAH-DM/entries?cursor=%00", 422),
        ("GET", "/feeds/CAH%00.atom", 404),
        ("GET", "/honour-roll/CAH-DM/2024%00", 404),
        ("GET", "/verify/CAH%00/1", 404),
        ("POST", "/api/v1/books/CAH%00/revocations", 404),
    ]),
}


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_unstorable_text_around_the_body_is_refused_not_a_500(pg_settings, org_document, service):
    build, (role, subject), cases = SERVICES[service]
    runtime, app = build(pg_settings, org_document)
    try:
        client = app.test_client()
        headers = _headers(runtime, role, subject)
        got = [(m, p, client.open(p, method=m, headers=headers, json={} if m == "POST" else None).status_code)
               for m, p, _ in cases]
        assert got == [(m, p, status) for m, p, status in cases]
        r = client.post(cases[-1][1].replace("%00", ""), headers={**headers, "Idempotency-Key": "k\x00"}, json={})
        assert r.status_code == 422 and "Idempotency-Key" in r.get_json()["errors"]
    finally:
        runtime.db.dispose()
