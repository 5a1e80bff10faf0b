"""What a request costs the database, counted (statements, connection checkouts, commits,
rollbacks), never timed; and the behaviour the one-transaction request must keep: Idempotency-Key
replays and races, a failed use case writing nothing, the organisation seen after a load, a
connection closed by the server, and the search index (R4)."""

from __future__ import annotations

import copy
import json
import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from services.intake import DECLARATION, MIGRATIONS, services
from services.intake.app import build_runtime, create_app
from services.intake.orm import Deed, UnitMonth
from shared import auth as auth_module
from shared.audit import audit_log
from shared.auth import new_token, store_token
from shared.db import utcnow
from shared.org import Organisation
from shared.orgcopy import OrgCache
from shared.tables import idempotency_records, org_documents, outbox
from tests.intake.conftest import auth, deed_body, people_of

DEEDS = "/api/v1/deeds"
BATCH = "/api/v1/deeds/batch"


class RoundTrips:
    """What one engine does: statements executed, connections checked out of its pool, commits
    and rollbacks."""

    def __init__(self, engine: sa.Engine) -> None:
        self.statements: list[str] = []
        self.checkouts = self.commits = self.rollbacks = 0
        sa.event.listen(engine, "before_cursor_execute", self._statement)
        sa.event.listen(engine.pool, "checkout", self._checkout)
        sa.event.listen(engine, "commit", self._commit)
        sa.event.listen(engine, "rollback", self._rollback)

    def _statement(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.statements.append(statement)

    def _checkout(self, *_: Any) -> None:
        self.checkouts += 1

    def _commit(self, *_: Any) -> None:
        self.commits += 1

    def _rollback(self, *_: Any) -> None:
        self.rollbacks += 1

    def reset(self) -> None:
        self.statements.clear()
        self.checkouts = self.commits = self.rollbacks = 0

    def of(self, do: Any) -> tuple[Any, dict[str, int]]:
        self.reset()
        result = do()
        return result, {"statements": len(self.statements), "checkouts": self.checkouts,
                        "commits": self.commits, "rollbacks": self.rollbacks}


def issue(runtime, role: str, subject: str) -> str:
    tok = new_token()
    with runtime.db.unit_of_work() as uow:
        store_token(uow, tok, role, subject, 1)
        uow.commit()
    return tok


def count(runtime, table: Any) -> int:
    with runtime.db.reading() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(table))


def recorded_lines(runtime) -> int:
    """R23: the audit lines of deeds recorded."""
    with runtime.db.reading() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(audit_log).where(audit_log.c.action == "deed.recorded"))


def batch(people, n: int) -> dict[str, Any]:
    return {"deeds": [deed_body({"officer": people.officer}, title=f"Việc tốt số {i}") for i in range(n)]}


# -- Idempotency-Key within one transaction (SQLite) ---------------------------------------------
def test_a_use_case_that_fails_leaves_the_key_free(app, client, token, people, runtime, monkeypatch) -> None:
    tok = token("officer", people.officer)
    body = deed_body({"officer": people.officer})
    headers = auth(tok, **{"Idempotency-Key": "fails-once"})
    real = services.record_deed

    def broken(*args: Any, **kwargs: Any) -> Any:
        real(*args, **kwargs)  # writes, then fails before answering
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(services, "record_deed", broken)
    r = client.post(DEEDS, json=body, headers=headers)
    assert r.status_code == 500 and r.mimetype == "application/problem+json"
    assert (count(runtime, Deed), count(runtime, outbox), count(runtime, idempotency_records)) == (0, 0, 0)
    monkeypatch.setattr(services, "record_deed", real)
    first = client.post(DEEDS, json=body, headers=headers)
    again = client.post(DEEDS, json=body, headers=headers)
    assert first.status_code == again.status_code == 201 and first.get_data() == again.get_data()
    assert (count(runtime, Deed), count(runtime, outbox)) == (1, 1)


def test_a_refusal_after_the_use_case_wrote_is_replayed_and_keeps_nothing(client, token, people, record,
                                                                          runtime) -> None:
    """R5: a deed no longer recorded or introduced cannot be introduced (409). The use case has
    already claimed the (unit, month) row when it finds out: that row must not stay, the 409 must
    be replayed for the key."""
    deed = record()
    with runtime.db.unit_of_work() as uow:
        uow.session.execute(sa.update(Deed).where(Deed.id == deed["id"]).values(status="recognised"))
        uow.commit()
    before = (count(runtime, UnitMonth), count(runtime, outbox))
    lead = token("subunit_lead", people.lead)
    path = f"{DEEDS}/{deed['id']}/introduce"
    r1 = client.post(path, json={}, headers=auth(lead, **{"Idempotency-Key": "late"}))
    r2 = client.post(path, json={}, headers=auth(lead, **{"Idempotency-Key": "late"}))
    assert r1.status_code == r2.status_code == 409 and r1.get_data() == r2.get_data()
    assert (count(runtime, UnitMonth), count(runtime, outbox)) == before == (0, 1)
    other = client.post(path, json={"x": 1}, headers=auth(lead, **{"Idempotency-Key": "late"}))
    assert other.status_code == 422 and "Idempotency-Key" in other.get_json()["errors"]


def test_an_abandoned_claim_is_taken_over(client, token, people, runtime) -> None:
    """A pending claim left by a process that died is taken over once it has expired."""
    tok = token("officer", people.officer)
    body = deed_body({"officer": people.officer})
    first = client.post(DEEDS, json=body, headers=auth(tok, **{"Idempotency-Key": "orphan"}))
    assert first.status_code == 201
    t = idempotency_records
    with runtime.db.unit_of_work() as uow:
        uow.session.execute(t.update().values(status=0, body=b"", created_at=utcnow().replace(year=2020)))
        uow.commit()
    again = client.post(DEEDS, json=body, headers=auth(tok, **{"Idempotency-Key": "orphan"}))
    assert again.status_code == 201 and again.get_json()["id"] != first.get_json()["id"]
    assert count(runtime, Deed) == 2 and count(runtime, idempotency_records) == 1


# -- the batch: bounded work (SQLite) ------------------------------------------------------------
def test_a_batch_makes_as_many_statements_whatever_its_size(client, token, people, runtime) -> None:
    tok = token("subunit_lead", people.lead)
    trips = RoundTrips(runtime.db.engine)
    small, few = trips.of(lambda: client.post(BATCH, json=batch(people, 20), headers=auth(tok)))
    large, many = trips.of(lambda: client.post(BATCH, json=batch(people, 200), headers=auth(tok)))
    assert small.status_code == large.status_code == 201
    assert many == few and many["commits"] == 1, (few, many)
    # R10: one message per (unit, month) of a batch, not one per deed.
    assert count(runtime, outbox) == 2 and count(runtime, Deed) == 220


# -- the organisation ------------------------------------------------------------------------------
def _other_document(doc: dict) -> dict:
    changed = copy.deepcopy(doc)
    changed["units"][0]["name"] = changed["units"][0]["name"] + " (mới)"
    return changed


def test_the_organisation_is_asked_for_at_most_once_a_second(runtime, org_document) -> None:
    now = [1000.0]
    cache = OrgCache(runtime.db, check_seconds=1.0, clock=lambda: now[0])
    trips = RoundTrips(runtime.db.read_engine)

    def asked() -> int:
        return sum("org_documents" in statement for statement in trips.statements)

    trips.reset()
    first = cache.get()
    assert first is not None and asked() == 2  # the newest id, then its document
    now[0] += 0.9
    trips.reset()
    assert cache.get() is first and asked() == 0
    # Another process loads a new document (``sovang org load``): seen at the next check.
    changed = _other_document(org_document)
    with runtime.db.unit_of_work() as uow:
        uow.session.execute(org_documents.insert().values(
            digest=Organisation.digest(changed), document=changed, loaded_at=utcnow()))
        uow.commit()
    assert cache.get() is first
    now[0] += 0.2
    trips.reset()
    seen = cache.get()
    assert seen.units[changed["units"][0]["code"]].name.endswith("(mới)") and asked() == 2
    now[0] += 1.5
    trips.reset()
    assert cache.get() is seen and asked() == 1  # still the same document: not read nor parsed again


def test_a_load_in_this_process_is_seen_at_once(runtime, org_document) -> None:
    cache = OrgCache(runtime.db, check_seconds=3600.0)
    assert cache.get() is not None
    changed = _other_document(org_document)
    assert DECLARATION.load_org(runtime, changed) is True
    assert cache.get().units[changed["units"][0]["code"]].name.endswith("(mới)")
    with runtime.db.unit_of_work() as uow:  # a load rolled back is not one
        from shared.orgcopy import store_org

        assert store_org(uow, org_document) is True
    assert cache.get().units[changed["units"][0]["code"]].name.endswith("(mới)")


# -- PostgreSQL ----------------------------------------------------------------------------------
@pytest.fixture
def pg(pg_settings, org_document):
    rt = build_runtime(pg_settings)
    rt.migrate()
    DECLARATION.load_org(rt, org_document)
    app = create_app(runtime=rt)
    rt.db.after_commit.clear()  # the relay's wake-up goes to Redis, not counted here
    yield rt, app, people_of(org_document)
    rt.db.dispose()


@pytest.mark.distributed
def test_recording_a_deed_is_one_checkout_and_one_commit(pg, monkeypatch) -> None:
    rt, app, p = pg
    # The organisation check is counted in its own test, the token's freshness in
    # tests/sessions/test_token_revocation.py; here neither may fall in the middle.
    rt.orgs.check_seconds = 3600.0
    monkeypatch.setattr(auth_module._token_rows, "fresh_seconds", 3600.0)
    client = app.test_client()
    tok = issue(rt, "officer", p.officer)
    body = deed_body({"officer": p.officer})
    trips = RoundTrips(rt.db.engine)
    assert client.post(DEEDS, json=body, headers=auth(tok, **{"Idempotency-Key": "warm"})).status_code == 201

    post = lambda **h: client.post(DEEDS, json=body, headers=auth(tok, **h))  # noqa: E731
    r, with_key = trips.of(lambda: post(**{"Idempotency-Key": "one"}))
    assert r.status_code == 201
    # The deed, its message and its audit line (R23: in the same transaction) in one statement,
    # then the key claimed with its answer in one statement: one checkout, one commit. The
    # token's row was read by the request before, less than TOKEN_FRESH_SECONDS ago, and is not
    # read again.
    assert with_key == {"statements": 2, "checkouts": 1, "commits": 1, "rollbacks": 0}, trips.statements
    first, last = trips.statements
    assert all(f"INSERT INTO {t} " in first for t in ("deeds", "outbox", "audit_log")), first
    assert "ON CONFLICT DO NOTHING" in last and "idempotency_records" in last
    replay, replayed = trips.of(lambda: post(**{"Idempotency-Key": "one"}))
    assert replay.get_data() == r.get_data()
    # A replay runs the use case, finds the key taken, rolls it back, then reads the stored answer
    # (the claim that finds the record, the record) on the connection the rollback gave back and
    # took again: nothing of it stays.
    assert replayed == {"statements": 4, "checkouts": 2, "commits": 0, "rollbacks": 2}, trips.statements
    assert (count(rt, Deed), count(rt, outbox)) == (2, 2)
    r, without_key = trips.of(post)
    assert r.status_code == 201
    assert without_key == {"statements": 1, "checkouts": 1, "commits": 1, "rollbacks": 0}, trips.statements
    # Once the token's row is no longer fresh, it is read again, in the same transaction.
    auth_module._token_rows.forget()
    r, fresh = trips.of(lambda: post(**{"Idempotency-Key": "two"}))
    assert r.status_code == 201
    assert fresh == {"statements": 3, "checkouts": 1, "commits": 1, "rollbacks": 0}, trips.statements
    got, read = trips.of(lambda: client.get(f"{DEEDS}/{r.get_json()['id']}", headers=auth(tok)))
    assert got.status_code == 200 and read["checkouts"] == 1 and read["commits"] == 0


@pytest.mark.distributed
def test_the_deed_its_message_and_its_audit_line_written_in_one_statement_on_postgresql(pg, monkeypatch) -> None:
    """What the one statement writes is what the three wrote: the deed as answered, the message
    council counts it from (R10), its audit line (R23); and a use case failing after it leaves
    none of the three."""
    rt, app, p = pg
    client = app.test_client()
    tok = issue(rt, "officer", p.officer)
    r = client.post(DEEDS, json=deed_body({"officer": p.officer}, title="Một câu lệnh"), headers=auth(tok))
    assert r.status_code == 201
    deed = r.get_json()
    assert client.get(f"{DEEDS}/{deed['id']}", headers=auth(tok)).get_json() == deed
    with rt.db.reading() as s:
        (message,) = s.execute(sa.select(outbox.c.type, outbox.c.queue, outbox.c.envelope,
                                         outbox.c.sent_at)).all()
        (line,) = s.execute(sa.select(audit_log).where(audit_log.c.action == "deed.recorded")).all()
        row = s.execute(sa.select(Deed.search_text, Deed.carried_over).where(Deed.id == deed["id"])).one()
    assert (message.type, message.queue, message.sent_at) == ("council.deeds_recorded", "council", None)
    assert message.envelope["payload"]["deed_ids"] == [deed["id"]] and message.envelope["payload"]["unit"] == deed["unit"]
    assert (line.role, line.subject, line.object, line.unit) == ("officer", p.officer, deed["id"], deed["unit"])
    assert line.details == {"month": deed["occurred_on"][:7], "batch": False}
    assert " mot cau lenh " in row.search_text and row.carried_over is False

    real = services.record_deed

    def broken(*args: Any, **kwargs: Any) -> Any:
        real(*args, **kwargs)
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(services, "record_deed", broken)
    failed = client.post(DEEDS, json=deed_body({"officer": p.officer}), headers=auth(tok, **{"Idempotency-Key": "f"}))
    assert failed.status_code == 500
    assert (count(rt, Deed), count(rt, outbox), recorded_lines(rt), count(rt, idempotency_records)) == (1, 1, 1, 0)


@pytest.mark.distributed
def test_a_batch_is_one_transaction_whatever_its_size_on_postgresql(pg, monkeypatch) -> None:
    rt, app, p = pg
    rt.orgs.check_seconds = 3600.0
    monkeypatch.setattr(auth_module._token_rows, "fresh_seconds", 3600.0)
    client = app.test_client()
    tok = issue(rt, "subunit_lead", p.lead)
    trips = RoundTrips(rt.db.engine)
    client.post(BATCH, json=batch(p, 1), headers=auth(tok))
    small, few = trips.of(lambda: client.post(BATCH, json=batch(p, 20), headers=auth(tok, **{"Idempotency-Key": "s"})))
    large, many = trips.of(lambda: client.post(BATCH, json=batch(p, 200), headers=auth(tok, **{"Idempotency-Key": "l"})))
    assert small.status_code == large.status_code == 201
    # the deeds' one INSERT, the messages, the audit lines' one INSERT, the key claimed with its
    # answer (the token's row read by the first request is still fresh).
    assert many == few == {"statements": 4, "checkouts": 1, "commits": 1, "rollbacks": 0}, trips.statements
    with rt.db.reading() as s:
        envelopes = s.execute(sa.select(outbox.c.envelope).order_by(outbox.c.id)).scalars().all()
    assert [len(e["payload"]["deed_ids"]) for e in envelopes] == [1, 20, 200]


def _race(app, tok: str, path: str, bodies: list[dict[str, Any]], key: str) -> list[tuple[int, bytes, int]]:
    """Send ``bodies`` at once, one thread each, all under ``key``: (status, body, index) each."""
    barrier = threading.Barrier(len(bodies))
    results: list[tuple[int, bytes, int]] = []

    def send(i: int) -> None:
        client = app.test_client()
        barrier.wait()
        r = client.post(path, json=bodies[i], headers=auth(tok, **{"Idempotency-Key": key}))
        results.append((r.status_code, r.get_data(), i))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == len(bodies)
    return results


@pytest.mark.distributed
def test_parallel_requests_with_one_key_and_two_bodies_make_one_deed_on_postgresql(pg) -> None:
    """The key is claimed with the answer after the use case: each request writes its deed, all
    but one find the key taken (waiting for the winner's commit), roll their deed back, and replay
    the winner's answer, or are refused (422) for a body of their own."""
    rt, app, p = pg
    tok = issue(rt, "subunit_lead", p.lead)
    bodies = [deed_body({"officer": p.officer}, title=f"Cùng một khoá, nội dung {i % 2}") for i in range(12)]
    results = _race(app, tok, DEEDS, bodies, "race-two-bodies")
    won = {json.loads(data)["title"] for status, data, _ in results if status == 201}
    assert len(won) == 1, results
    (title,) = won
    for status, data, i in results:
        if bodies[i]["title"] == title:
            assert status == 201, data
        else:
            assert status == 422 and "Idempotency-Key" in json.loads(data)["errors"], data
    assert len({data for status, data, _ in results if status == 201}) == 1
    assert (count(rt, Deed), count(rt, outbox), recorded_lines(rt), count(rt, idempotency_records)) == (1, 1, 1, 1)


@pytest.mark.distributed
def test_parallel_batches_with_one_key_make_one_batch_on_postgresql(pg) -> None:
    rt, app, p = pg
    tok = issue(rt, "subunit_lead", p.lead)
    results = _race(app, tok, BATCH, [batch(p, 30)] * 8, "race-batch")
    assert {status for status, _, _ in results} == {201} and len({data for _, data, _ in results}) == 1
    assert (count(rt, Deed), recorded_lines(rt), count(rt, idempotency_records)) == (30, 30, 1)


@pytest.mark.distributed
def test_twenty_parallel_requests_with_one_key_make_one_deed_on_postgresql(pg) -> None:
    """On PostgreSQL the other requests wait on the first one's uncommitted key, roll their own
    writes back and replay its answer."""
    rt, app, p = pg
    tok = issue(rt, "subunit_lead", p.lead)
    body = deed_body({"officer": p.officer}, title="Hai mươi lần gửi, một việc tốt")
    barrier = threading.Barrier(20)
    results: list[tuple[int, bytes]] = []

    def send() -> None:
        client = app.test_client()
        barrier.wait()
        r = client.post(DEEDS, json=body, headers=auth(tok, **{"Idempotency-Key": "race-pg"}))
        results.append((r.status_code, r.get_data()))

    threads = [threading.Thread(target=send) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 20 and {status for status, _ in results} == {201}
    assert len({data for _, data in results}) == 1
    assert (count(rt, Deed), count(rt, outbox), recorded_lines(rt)) == (1, 1, 1)


@pytest.mark.distributed
def test_a_connection_closed_by_the_server_does_not_fail_the_next_request(pg, postgres_admin_url) -> None:
    rt, app, p = pg
    client = app.test_client()
    tok = issue(rt, "officer", p.officer)
    body = deed_body({"officer": p.officer})
    assert client.post(DEEDS, json=body, headers=auth(tok)).status_code == 201
    assert rt.db.engine.pool.checkedin() >= 1
    database = rt.db.engine.url.database
    admin = sa.create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        killed = conn.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %(db)s AND pid <> pg_backend_pid()",
            {"db": database}).scalars().all()
        assert killed and all(killed)
        deadline = time.monotonic() + 10
        while conn.exec_driver_sql("SELECT count(*) FROM pg_stat_activity WHERE datname = %(db)s",
                                   {"db": database}).scalar() and time.monotonic() < deadline:
            time.sleep(0.05)
    admin.dispose()
    # Pooled connections the server closed (a restart looks the same): the next requests get
    # fresh ones instead of a 500.
    for _ in range(3):
        r = client.post(DEEDS, json=body, headers=auth(tok))
        assert r.status_code == 201, r.get_data(as_text=True)
        assert client.get(f"{DEEDS}/{r.get_json()['id']}", headers=auth(tok)).status_code == 200


@pytest.mark.distributed
def test_search_can_use_the_trigram_index_after_an_upgrade(pg_settings, org_document) -> None:
    """R4: ``q`` is a ``LIKE '% word%'`` per folded word, which the trigram index serves; a
    database at the revision before the index, with deeds, upgrades to it.

    The deeds are recorded by today's code (which writes tables of later revisions, such as the
    R23 audit record) and the database is then taken back to that revision: the upgrade meets
    them as an old database would hold them."""
    rt = build_runtime(pg_settings)
    rt.migrate()
    DECLARATION.load_org(rt, org_document)
    p = people_of(org_document)
    app = create_app(runtime=rt)
    client = app.test_client()
    lead = issue(rt, "subunit_lead", p.lead)
    for n in range(3):
        r = client.post(BATCH, json={"deeds": [deed_body({"officer": p.officer}, title=f"Sửa đường làng {n}-{i}")
                                               for i in range(500)]}, headers=auth(lead))
        assert r.status_code == 201
    needle = client.post(DEEDS, json=deed_body({"officer": p.officer}, title="Cứu hộ Ngựa Ô trong lũ"),
                         headers=auth(lead)).get_json()
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", rt.db.url.replace("%", "%%"))
    with rt.db.engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0003_intake_outbox_confirmed")
        conn.commit()
    with rt.db.reading() as s:
        assert not s.execute(sa.text("SELECT 1 FROM pg_indexes WHERE indexname = 'ix_deeds_search_trgm'")).scalar()
    rt.migrate()  # the upgrade builds the index over the deeds already there
    with rt.db.reading() as s:
        s.execute(sa.text("ANALYZE deeds"))
        assert s.execute(sa.text("SELECT 1 FROM pg_indexes WHERE indexname = 'ix_deeds_search_trgm'")).scalar()

    seen: list[tuple[str, Any]] = []
    listener = lambda _c, _cur, statement, params, *_: seen.append((statement, params))  # noqa: E731
    sa.event.listen(rt.db.engine, "before_cursor_execute", listener)
    found = client.get(f"{DEEDS}?q=ngựa%20ô", headers=auth(lead)).get_json()["items"]
    sa.event.remove(rt.db.engine, "before_cursor_execute", listener)
    assert [d["id"] for d in found] == [needle["id"]]
    statement, params = next((s, prm) for s, prm in seen if "FROM deeds" in s and "LIKE" in s)
    with rt.db.engine.connect() as conn:
        conn.exec_driver_sql("SET enable_seqscan = off")
        plan = "\n".join(conn.exec_driver_sql("EXPLAIN " + statement, params).scalars())
    assert "ix_deeds_search_trgm" in plan, plan
    rt.db.dispose()


def test_the_trigram_index_is_postgresql_only(runtime) -> None:
    with runtime.db.reading() as s:
        names = {r[0] for r in s.execute(sa.text("SELECT name FROM sqlite_master WHERE type = 'index'"))}
    assert "ix_deeds_search_trgm" not in names and "ix_deeds_unit_id" in names


def test_the_batch_body_survives_the_round_trip(client, token, people) -> None:
    """The answer of a batch is built from the rows written, not read back: it must be what a
    read answers."""
    tok = token("subunit_lead", people.lead)
    deeds = [deed_body({"officer": people.officer}, title="Nhà về", description="Nha\u0300 ve\u0302\u0300", place=...),
             deed_body({"collective": people.subunit}, beneficiaries=...)]
    r = client.post(BATCH, data=json.dumps({"deeds": deeds}), content_type="application/json", headers=auth(tok))
    assert r.status_code == 201
    for item in r.get_json()["items"]:
        assert client.get(f"{DEEDS}/{item['id']}", headers=auth(tok)).get_json() == item
