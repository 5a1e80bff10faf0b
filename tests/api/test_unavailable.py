"""A database or broker that cannot be reached is a 503 with Retry-After, never a 500, on every
path (API.md, "Common"); a write refused so stores nothing; /readyz names what is missing; and
the service answers again as soon as the database is back."""

from __future__ import annotations

import json

import sqlalchemy as sa
from werkzeug.test import Client

from shared.config import Settings
from sovang.gateway import create_gateway
from tests.api.system import build_system
from tests.intake.conftest import deed_body

# Nothing listens on port 1 of this machine: a connection there is refused at once.
CLOSED_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:1/sovang"
CLOSED_BROKER = "redis://127.0.0.1:1/0"
TOKEN = {"Authorization": "Bearer sv_not-checked-the-database-is-away"}


def _unavailable(r) -> dict:  # noqa: ANN001
    assert r.status_code == 503, (r.status_code, r.get_data(as_text=True)[:300])
    assert r.mimetype == "application/problem+json" and int(r.headers["Retry-After"]) >= 1
    return r.get_json()


def test_every_path_is_a_503_while_the_database_and_broker_are_away(tmp_path) -> None:
    settings = Settings(home=tmp_path / "home", database_url=CLOSED_DATABASE, broker_url=CLOSED_BROKER)
    client = Client(create_gateway(settings))
    for method, path, body in (
        ("GET", "/api/v1/deeds", None), ("POST", "/api/v1/deeds", {"title": "x"}),
        ("GET", "/api/v1/deeds/0190c0de-0000-7000-8000-000000000000", None),
        ("GET", "/api/v1/rounds", None), ("POST", "/api/v1/rounds", {}),
        ("GET", "/api/v1/books", None), ("GET", "/api/v1/books/CAT/entries", None), ("GET", "/api/v1/figures", None),
        ("GET", "/feeds/CAT.atom", None), ("GET", "/honour-roll/", None), ("GET", "/honour-roll/CAT/2024-05", None),
        ("GET", "/press/2024-Q2.html", None), ("GET", "/api/v1/reports/monthly?month=2024-05", None),
    ):
        r = client.open(path, method=method, headers=TOKEN, json=body)
        _unavailable(r)
    ready = client.get("/readyz")
    body = _unavailable(ready)
    for service in ("intake", "council", "book"):
        checks = body["services"][service]["checks"]
        assert checks["database"].startswith("unreachable") and checks["broker"].startswith("unreachable")
    alone = _unavailable(Client(create_gateway(settings).apps["intake"]).get("/readyz"))
    assert "database" in alone["detail"] and set(alone["checks"]) == {"database", "broker"}


def test_a_write_cut_off_mid_request_is_a_503_that_stores_nothing_then_recovers(
    pg_settings, org_document, postgres_admin_url
) -> None:
    system = build_system(pg_settings, org_document)
    client = Client(system.gateway)
    officer = {**system.auth("officer"), "Idempotency-Key": "cut-off-once"}
    intake = system.gateway.apps["intake"].extensions["sovang"].db
    admin = sa.create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    armed = {"insert": True}

    def cut_off(conn, _cursor, statement, *_args) -> None:  # noqa: ANN001
        # The deed's INSERT is about to run (on PostgreSQL within the statement that also writes
        # its message and its audit line): its connection is terminated by the server, as a
        # restart of PostgreSQL would (this test's own database only).
        if armed["insert"] and "INSERT INTO deeds " in statement:
            armed["insert"] = False
            pid = conn.connection.dbapi_connection.info.backend_pid
            with admin.connect() as c:
                c.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

    sa.event.listen(intake.engine, "before_cursor_execute", cut_off)
    try:
        body = deed_body({"officer": "CAH-DM-0010"})
        _unavailable(client.post("/api/v1/deeds", json=body, headers=officer))
        assert not armed["insert"]
        with intake.reading() as s:
            assert s.scalar(sa.text("SELECT count(*) FROM deeds")) == 0
            assert s.scalar(sa.text("SELECT count(*) FROM outbox")) == 0
        # Recovery: the same request again (its key was not kept with the refusal) is recorded once.
        again = client.post("/api/v1/deeds", json=body, headers=officer)
        assert again.status_code == 201, again.get_data(as_text=True)
        replay = client.post("/api/v1/deeds", json=body, headers=officer)
        assert replay.status_code == 201 and json.loads(replay.data) == json.loads(again.data)
        with intake.reading() as s:
            assert s.scalar(sa.text("SELECT count(*) FROM deeds")) == 1
        assert client.get("/readyz").status_code in (200, 503)  # the broker of this test may idle
    finally:
        sa.event.remove(intake.engine, "before_cursor_execute", cut_off)
        admin.dispose()
        system.close()
