"""R16: storing a publication is one statement on each database; an unchanged body keeps its
ETag and date (so conditional requests still answer 304), a changed one is written; the figures'
row, the lock of the global publications, is created once and never overwritten by a racer."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator

import pytest
from book_helpers import UNIT, make_runtime

from services.book import repository as repo
from services.book.publication.publisher import FIGURES_PATH, lock_globals
from shared.db import utcnow
from shared.runtime import Runtime
from tests.sql_statements import statements

PATH = f"/feeds/{UNIT}.atom"
ATOM = "application/atom+xml; charset=utf-8"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.distributed)])
def any_runtime(request: pytest.FixtureRequest, org_document: dict) -> Iterator[Runtime]:
    settings = request.getfixturevalue("sqlite_settings" if request.param == "sqlite" else "pg_settings")
    rt = make_runtime(settings, org_document)
    yield rt
    rt.db.dispose()


def put(runtime: Runtime, body: bytes, at: dt.datetime, content_type: str = ATOM, book: str | None = UNIT) -> bool:
    with runtime.db.unit_of_work() as uow:
        with statements(runtime) as seen:
            written = repo.put_artifact(uow.session, PATH, book, content_type, body, at)
        assert len([s for s in seen if not s.startswith("BEGIN")]) == 1, seen  # SQLite begins lazily
        uow.commit()
    return written


def stored(runtime: Runtime, path: str = PATH):  # noqa: ANN201
    with runtime.db.reading() as s:
        return repo.get_artifact(s, path)


def test_put_artifact_writes_only_what_changed_in_one_statement(any_runtime):
    rt = any_runtime
    first = utcnow().replace(microsecond=0)
    assert put(rt, b"<feed>1</feed>", first) is True
    row = stored(rt)
    assert (row.body, row.etag, row.updated_at, row.book) == (b"<feed>1</feed>", repo.etag_of(b"<feed>1</feed>"), first, UNIT)

    # The same body later: nothing written, the ETag and the date stay.
    assert put(rt, b"<feed>1</feed>", first + dt.timedelta(minutes=5), book="OTHER") is False
    assert tuple(stored(rt)) == tuple(row)

    later = first + dt.timedelta(minutes=10)
    assert put(rt, b"<feed>2</feed>", later) is True
    row = stored(rt)
    assert (row.body, row.etag, row.updated_at) == (b"<feed>2</feed>", repo.etag_of(b"<feed>2</feed>"), later)

    # The same body under another content type is another publication.
    latest = later + dt.timedelta(minutes=1)
    assert put(rt, b"<feed>2</feed>", latest, content_type="text/plain; charset=utf-8") is True
    row = stored(rt)
    assert (row.content_type, row.etag, row.updated_at) == ("text/plain; charset=utf-8", repo.etag_of(b"<feed>2</feed>"), latest)


def test_put_artifacts_stores_several_in_one_statement_by_the_same_rule(any_runtime):
    """The feeds an inscription changes go together; each keeps its ETag and date if unchanged."""
    rt = any_runtime
    first = utcnow().replace(microsecond=0)
    paths = [PATH, f"/feeds/{UNIT}.rss", f"/feeds/{UNIT}/archive/1.atom"]

    def put_all(bodies: list[bytes], at: dt.datetime) -> None:
        with rt.db.unit_of_work() as uow:
            with statements(rt) as seen:
                repo.put_artifacts(uow.session, [(p, UNIT, ATOM, b) for p, b in zip(paths, bodies, strict=True)], at)
            assert len([s for s in seen if not s.startswith("BEGIN")]) == 1, seen
            uow.commit()

    put_all([b"a1", b"r1", b"x1"], first)
    rows = [stored(rt, p) for p in paths]
    assert [(r.body, r.etag, r.updated_at) for r in rows] == [(b, repo.etag_of(b), first) for b in (b"a1", b"r1", b"x1")]
    later = first + dt.timedelta(minutes=5)
    put_all([b"a2", b"r1", b"x1"], later)
    assert (stored(rt, paths[0]).body, stored(rt, paths[0]).updated_at) == (b"a2", later)
    assert [tuple(stored(rt, p)) for p in paths[1:]] == [tuple(r) for r in rows[1:]]
    with rt.db.unit_of_work() as uow:
        with statements(rt) as seen:
            repo.put_artifacts(uow.session, [], later)
        assert seen == []


def test_the_figures_row_is_created_when_missing_and_never_overwritten(any_runtime):
    rt = any_runtime
    at = utcnow().replace(microsecond=0)
    with rt.db.unit_of_work() as uow:
        repo.drop_artifact(uow.session, FIGURES_PATH)
        lock_globals(uow.session, at)
        uow.commit()
    assert stored(rt, FIGURES_PATH).body == b"{}"
    with rt.db.unit_of_work() as uow:
        assert repo.put_artifact(uow.session, FIGURES_PATH, None, "application/json", b'{"n": 1}', at) is True
        uow.commit()
    with rt.db.unit_of_work() as uow:
        repo.add_artifact(uow.session, FIGURES_PATH, None, "application/json", b"{}", at)
        lock_globals(uow.session, at)
        uow.commit()
    assert stored(rt, FIGURES_PATH).body == b'{"n": 1}'


@pytest.mark.distributed
def test_two_first_writers_of_the_figures_on_postgresql_both_go_through(pg_settings, org_document):
    """The second waits for the first's row, then locks it: no unique violation, and the figures
    the first stored stay."""
    rt = make_runtime(pg_settings, org_document)
    try:
        at = utcnow().replace(microsecond=0)
        with rt.db.unit_of_work() as uow:
            repo.drop_artifact(uow.session, FIGURES_PATH)
            uow.commit()
        first_holds = threading.Event()
        errors: list[BaseException] = []

        def second() -> None:
            try:
                first_holds.wait(10)
                with rt.db.unit_of_work() as uow:
                    lock_globals(uow.session, at)
                    uow.commit()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        thread = threading.Thread(target=second)
        thread.start()
        with rt.db.unit_of_work() as uow:
            lock_globals(uow.session, at)
            repo.put_artifact(uow.session, FIGURES_PATH, None, "application/json", b'{"n": 1}', at)
            first_holds.set()
            thread.join(0.5)
            assert thread.is_alive(), "the second writer waits for the first's lock"
            uow.commit()
        thread.join(10)
        assert not thread.is_alive() and errors == []
        assert stored(rt, FIGURES_PATH).body == b'{"n": 1}'
    finally:
        rt.db.dispose()
