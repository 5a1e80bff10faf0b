"""The book service on PostgreSQL + Redis (the distributed path): migration, a use case through
the API, the worker's task, and 8 concurrent inscribers — numbering contiguous, one head."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from book_helpers import (
    UNIT,
    UNIT_SECRETARY,
    deed_copy,
    deliver,
    inscribe_command,
    make_runtime,
    sent_messages,
)

from services.book import repository as repo
from services.book.app import create_app
from services.book.orm import entries
from services.book.worker import create_worker
from shared import clock
from shared.auth import new_token, store_token
from shared.db import utcnow
from shared.messages import envelope
from shared.runtime import Runtime
from shared.signing import message_keys, sign

pytestmark = pytest.mark.distributed


@pytest.fixture
def pg_runtime(pg_settings, org_document) -> Iterator[Runtime]:
    runtime = make_runtime(pg_settings, org_document)
    yield runtime
    runtime.db.dispose()


def test_the_book_schema_lives_in_its_own_postgresql_schema(pg_runtime):
    assert pg_runtime.db.is_postgres and pg_runtime.db.schema == "book"
    with pg_runtime.db.reading() as s:
        tables = set(s.execute(sa.text(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'book'")).scalars())
    assert {"books", "entries", "artifacts", "outbox", "inbox", "tokens"} <= tables


def test_inscribe_list_verify_and_revoke_on_postgresql(pg_runtime):
    client = create_app(runtime=pg_runtime).test_client()
    msg = inscribe_command(UNIT, deed=deed_copy("Giúp đồng bào M'Nông thu hoạch cà phê — ổ ữ Đ"))
    deliver(pg_runtime, msg)
    deliver(pg_runtime, msg)  # redelivered under another id: nothing new
    entry = client.get(f"/api/v1/books/{UNIT}/entries/1").get_json()
    assert entry["deed"]["title"] == "Giúp đồng bào M'Nông thu hoạch cà phê — ổ ữ Đ"
    assert entry["inscribed_at"].endswith("+07:00")
    assert client.get(f"/api/v1/books/{UNIT}/verify").get_json()["valid"] is True
    assert "Giúp đồng bào M'Nông" in client.get(f"/feeds/{UNIT}.atom").data.decode()

    token = new_token()
    with pg_runtime.db.unit_of_work() as uow:
        store_token(uow, token, "unit_secretary", UNIT_SECRETARY, 1)
        uow.commit()
    r = client.post(f"/api/v1/books/{UNIT}/revocations", json={"seq": 1, "reason": "Sai sự thật"},
                    headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 201, r.data
    assert client.post(f"/api/v1/books/{UNIT}/revocations", json={"seq": 1, "reason": "Lần hai"},
                       headers={"Authorization": f"Bearer {token}"}).status_code == 409
    body = client.get(f"/api/v1/books/{UNIT}/verify").get_json()
    assert (body["valid"], body["entries"]) == (True, 2)
    assert [m["kind"] for m in sent_messages(pg_runtime, "intake.deed_inscribed")] == ["inscription", "revocation"]


def test_the_worker_task_inscribes_once_on_postgresql(pg_runtime):
    worker = create_worker(runtime=pg_runtime)
    # Signed as the relay signs what it publishes (shared.signing).
    env = sign(envelope(inscribe_command(UNIT), clock.isoformat(utcnow())), message_keys(pg_runtime.settings))
    worker.tasks["book.inscribe"].apply(args=[env], throw=True)
    worker.tasks["book.inscribe"].apply(args=[env], throw=True)
    with pg_runtime.db.reading() as s:
        assert repo.get_book(s, UNIT).entries == 1


def run_threads(count: int, work) -> list[BaseException]:  # noqa: ANN001
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def body(n: int) -> None:
        try:
            start.wait()
            work(n)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(n,)) for n in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return errors


def test_eight_concurrent_inscribers_number_contiguously_with_one_head(pg_runtime):
    per_worker = 4

    def inscriber(n: int) -> None:
        for k in range(per_worker):
            deliver(pg_runtime, inscribe_command(UNIT, deed=deed_copy(f"Việc tốt {n}-{k}")))

    assert run_threads(8, inscriber) == []
    with pg_runtime.db.reading() as s:
        rows = repo.book_entries(s, UNIT)
        book = repo.get_book(s, UNIT)
    assert [r.seq for r in rows] == list(range(1, 8 * per_worker + 1))
    assert len({r.deed["title"] for r in rows}) == 8 * per_worker
    assert [r.prev_hash for r in rows[1:]] == [r.hash for r in rows[:-1]]
    assert (book.entries, book.head) == (8 * per_worker, rows[-1].hash)
    client = create_app(runtime=pg_runtime).test_client()
    body = client.get(f"/api/v1/books/{UNIT}/verify").get_json()
    assert (body["valid"], body["entries"], body["head"]) == (True, 32, rows[-1].hash)
    assert len(sent_messages(pg_runtime, "intake.deed_inscribed")) == 32


def test_one_command_delivered_by_eight_workers_at_once_is_inscribed_once(pg_runtime):
    msg = inscribe_command(UNIT)

    def redeliver(_: int) -> None:
        try:
            deliver(pg_runtime, msg)
        except sa.exc.IntegrityError:
            pass  # the unique source refused a racer: Celery would retry it and find it done

    assert run_threads(8, redeliver) == []
    deliver(pg_runtime, msg)
    with pg_runtime.db.reading() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(entries)).scalar() == 1
        assert repo.get_book(s, UNIT).entries == 1


def test_numbers_beyond_any_entry_are_404_or_422_not_500_on_postgresql(pg_runtime):
    client = create_app(runtime=pg_runtime).test_client()
    big = 2**40
    for path in (f"/api/v1/books/{UNIT}/entries/{big}", f"/api/v1/books/{UNIT}/entries/{big}/certificate.pdf",
                 f"/feeds/{UNIT}/archive/{big}.atom"):
        assert client.get(path).status_code == 404, path
    from shared.cursors import encode_cursor

    assert client.get(f"/api/v1/books/{UNIT}/entries?cursor={encode_cursor(big)}").status_code == 422
    token = new_token()
    with pg_runtime.db.unit_of_work() as uow:
        store_token(uow, token, "unit_secretary", UNIT_SECRETARY, 1)
        uow.commit()
    r = client.post(f"/api/v1/books/{UNIT}/revocations", json={"seq": big, "reason": "x"},
                    headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 422 and "seq" in r.get_json()["errors"]
