"""R16: a plain read of a stored publication the process already served, or one asking
If-None-Match as feed readers poll, is answered whole in front of Flask (``stored_responses``),
byte for byte and header for header what Flask answered, and never after the book changed (R15,
R15a): the kept response goes with every invalidation.

Whether Flask ran is counted on the app behind the middleware, never timed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from book_helpers import UNIT, deed_copy, deliver, inscribe_command, make_runtime, republish
from cache_helpers import FEED, entries_shown, eventually, headers_of, subscribed, usable_cache
from flask import Flask
from flask.testing import FlaskClient

from services.book.app import create_app
from services.book.publication import responses as stored_responses
from shared.config import Settings
from shared.runtime import Runtime
from tests.sql_statements import statements as counting


class Counted:
    """The app behind the middleware, counting the requests that reach it."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.calls = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        self.calls += 1
        return self.app(environ, start_response)


@pytest.fixture
def app(web: Runtime) -> Flask:
    return create_app(runtime=web)


@pytest.fixture
def flask_calls(app: Flask) -> Counted:
    middleware = app.wsgi_app
    assert isinstance(middleware, stored_responses.StoredResponses)
    middleware.app = Counted(middleware.app)
    return middleware.app


@pytest.fixture
def client(app: Flask, flask_calls: Counted) -> FlaskClient:
    return app.test_client()


def test_a_feed_read_again_is_answered_without_flask_exactly_as_flask_answered(client, web, worker, flask_calls):
    deliver(worker, inscribe_command(UNIT, deed=deed_copy("Cứu hai em nhỏ — ổ ữ Đ")))
    subscribed(client, web)
    by_flask = client.get(FEED)
    calls = flask_calls.calls
    with counting(web) as statements:
        kept = client.get(FEED)
        again = client.get(FEED)
    assert flask_calls.calls == calls and statements == []
    assert by_flask.status_code == kept.status_code == again.status_code == 200
    assert kept.data == again.data == by_flask.data
    assert headers_of(kept) == headers_of(by_flask)
    assert kept.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    assert kept.headers["Content-Length"] == str(len(by_flask.data))
    assert kept.headers["X-Chain-Entries"] == "1" and kept.headers["Cache-Control"] == "public, max-age=5"
    assert "Cứu hai em nhỏ — ổ ữ Đ" in kept.data.decode()


def test_honour_roll_pages_are_kept_whole_too(client, web, worker, flask_calls):
    deliver(worker, inscribe_command(UNIT))
    republish(worker)  # the pages are stored one hop after the inscription
    subscribed(client, web)
    for path in (f"/honour-roll/{UNIT}/", f"/feeds/{UNIT}.json", f"/feeds/{UNIT}.rss"):
        first = client.get(path)
        assert first.status_code == 200, path
        calls = flask_calls.calls
        second = client.get(path)
        assert flask_calls.calls == calls, path
        assert second.data == first.data and headers_of(second) == headers_of(first), path


def test_a_change_by_another_process_drops_the_kept_response(client, web, worker, flask_calls):
    """R15: the inscription committed by the worker shows in the next plain read once this
    process hears of it; the kept response is not served past the invalidation."""
    deliver(worker, inscribe_command(UNIT))
    subscribed(client, web)
    client.get(FEED)
    calls = flask_calls.calls
    client.get(FEED)
    assert flask_calls.calls == calls
    deliver(worker, inscribe_command(UNIT, deed=deed_copy("Hiến máu cứu người")))
    eventually(lambda: entries_shown(client) == 2, "the worker's inscription in the feed")
    assert "Hiến máu cứu người" in client.get(FEED).data.decode()


def test_a_feed_reader_polling_with_its_etag_is_answered_without_flask_until_the_feed_changes(
    client, web, worker, flask_calls,
):
    """How a feed reader polls: If-None-Match with the ETag it holds. The 304 Flask made for that
    value is kept (without its Date) and answered again; the inscription drops it, and the same
    question then gets the new feed."""
    deliver(worker, inscribe_command(UNIT))
    subscribed(client, web)
    etag = client.get(FEED).headers["ETag"]
    asked = {"If-None-Match": etag}
    by_flask = client.get(FEED, headers=asked)
    calls = flask_calls.calls
    with counting(web) as statements:
        kept = client.get(FEED, headers=asked)
    assert flask_calls.calls == calls and statements == []
    assert by_flask.status_code == kept.status_code == 304 and kept.data == b""
    assert headers_of(kept) == headers_of(by_flask) and "Date" not in kept.headers
    assert kept.headers["ETag"] == etag and kept.headers["X-Chain-Entries"] == "1"

    other = {"If-None-Match": '"not-this-one"'}
    assert client.get(FEED, headers=other).status_code == 200
    calls = flask_calls.calls
    again = client.get(FEED, headers=other)
    assert flask_calls.calls == calls and again.status_code == 200 and again.headers["ETag"] == etag

    deliver(worker, inscribe_command(UNIT, deed=deed_copy("Hiến máu cứu người")))
    eventually(lambda: client.get(FEED, headers=asked).status_code == 200, "the changed feed for the old ETag")
    changed = client.get(FEED, headers=asked)
    assert changed.headers["X-Chain-Entries"] == "2" and "Hiến máu cứu người" in changed.data.decode()
    assert changed.headers["ETag"] != etag


def test_other_validators_head_and_query_requests_go_to_flask(client, web, worker, flask_calls):
    deliver(worker, inscribe_command(UNIT))
    subscribed(client, web)
    first = client.get(FEED)
    client.get(FEED)
    etag = first.headers["ETag"]
    too_long = '"' + "x" * stored_responses.MAX_KEPT_VALIDATOR + '", ' + etag
    asks = [
        ("GET", FEED, {"If-None-Match": etag, "If-Modified-Since": first.headers["Last-Modified"]}, 304),
        ("GET", FEED, {"If-Modified-Since": first.headers["Last-Modified"]}, 304),
        ("GET", FEED, {"If-None-Match": too_long}, 304),
        ("GET", FEED, {"Range": "bytes=0-9"}, 200),  # feeds are not served in parts
        ("HEAD", FEED, {}, 200),
        ("GET", FEED + "?x=1", {}, 200),
    ]
    for method, path, headers, status in asks:
        for _ in range(2):
            calls = flask_calls.calls
            resp = client.open(path, method=method, headers=headers)
            assert resp.status_code == status, (method, path, headers)
            assert flask_calls.calls == calls + 1, (method, path, headers)
            assert resp.headers["ETag"] == etag


def test_what_is_not_a_stored_publication_is_never_kept(client, web, worker, flask_calls):
    deliver(worker, inscribe_command(UNIT))
    subscribed(client, web)
    for path in ("/feeds/KHONG-CO.atom", "/api/v1/books", f"/api/v1/books/{UNIT}/entries"):
        first = client.get(path)
        calls = flask_calls.calls
        second = client.get(path)
        assert flask_calls.calls == calls + 1, path
        assert second.status_code == first.status_code, path
    assert client.get("/feeds/KHONG-CO.atom").status_code == 404


def test_without_the_broker_nothing_is_kept(tmp_path: Path, pg_database, org_document):
    """No subscription to invalidations, no kept responses: every read reaches Flask."""
    settings = Settings(home=tmp_path, database_url=pg_database, broker_url="redis://127.0.0.1:1/0")
    runtime = make_runtime(settings, org_document)
    try:
        deliver(runtime, inscribe_command(UNIT))
        app = create_app(runtime=runtime)
        middleware = app.wsgi_app
        middleware.app = counted = Counted(middleware.app)
        client = app.test_client()
        for _ in range(3):
            assert client.get(FEED).status_code == 200
        assert counted.calls == 3
    finally:
        runtime.db.dispose()


# -- the middleware alone -----------------------------------------------------------------------
def _plain_get(path: str = "/feeds/X.atom") -> dict[str, Any]:
    return {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": ""}


def _call(app: Any, environ: dict[str, Any]) -> tuple[str, list, bytes]:
    answered: list[Any] = []
    body = b"".join(app(environ, lambda status, headers, exc_info=None: answered.extend([status, headers])))
    return answered[0], answered[1], body


def test_a_response_overtaken_by_an_invalidation_is_not_kept():
    """The race: the book changed while the request ran; keeping its answer would serve the old
    publication after the invalidation."""
    cache = usable_cache()
    bodies = iter([b"old", b"new", b"newer"])

    def view(environ, start_response):  # noqa: ANN001, ANN202
        environ[stored_responses.KEEP] = True
        body = next(bodies)
        if body == b"old":
            cache.invalidate()  # as the subscriber does when a commit's message arrives
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]

    app = stored_responses.StoredResponses(view, cache)
    assert _call(app, _plain_get())[2] == b"old"
    assert _call(app, _plain_get())[2] == b"new"  # the old one was not kept
    assert _call(app, _plain_get())[2] == b"new"  # read with no invalidation meanwhile: kept
    assert _call(app, {**_plain_get(), "HTTP_IF_NONE_MATCH": '"x"'})[2] == b"newer"


def test_only_a_200_the_view_marked_is_kept_and_its_iterable_is_closed():
    cache = usable_cache()
    closed: list[str] = []
    calls = {"marked-404": 0, "unmarked": 0, "marked": 0}

    class Body(list):
        def close(self) -> None:
            closed.append("closed")

    def view(environ, start_response):  # noqa: ANN001, ANN202
        name = environ["PATH_INFO"].strip("/")
        calls[name] += 1
        if name != "unmarked":
            environ[stored_responses.KEEP] = True
        start_response("404 NOT FOUND" if name == "marked-404" else "200 OK", [("X", name)])
        return Body([name.encode()])

    app = stored_responses.StoredResponses(view, cache)
    for _ in range(2):
        for name in calls:
            status, headers, body = _call(app, _plain_get(f"/{name}"))
            assert body == name.encode() and headers == [("X", name)]
    assert calls == {"marked-404": 2, "unmarked": 2, "marked": 1}
    assert "closed" in closed


def test_a_kept_feed_never_answers_another_origin(client, web, worker, flask_calls):
    """Feed links are absolute under the origin asked at (no public URL configured): the stored
    document is one for every origin, and the response kept whole is kept per origin, so a reader
    at one address never gets the links of another (nor a Host made up to poison the cache)."""
    deliver(worker, inscribe_command(UNIT, deed=deed_copy("Cứu hai em nhỏ — ổ ữ Đ")))
    subscribed(client, web)
    first = client.get(FEED, base_url="https://sovang.example.vn")
    kept = client.get(FEED, base_url="https://sovang.example.vn")
    calls = flask_calls.calls
    assert kept.data == first.data and "https://sovang.example.vn/verify/" in kept.data.decode()
    other = client.get(FEED, base_url="http://10.0.0.7:8000")
    assert flask_calls.calls == calls + 1  # not answered from the other origin's kept response
    assert "http://10.0.0.7:8000/verify/" in other.data.decode() and "sovang.example.vn" not in other.data.decode()
    assert other.headers["ETag"] == kept.headers["ETag"]  # the same stored document
    made_up = client.get(FEED, headers={"Host": 'evil"><x'})
    assert made_up.status_code in (200, 400) and b'evil"' not in made_up.data


def test_a_signed_in_reader_is_never_answered_with_the_kept_public_page(client, web, worker, flask_calls):
    """UI.md: a signed-in person's page carries their masthead; the response kept for the public
    is never theirs, and theirs is never kept (the public one is still answered without Flask)."""
    from shared.sessions import HEADER, Person, session_key, sign

    deliver(worker, inscribe_command(UNIT))
    republish(worker)
    subscribed(client, web)
    path = f"/honour-roll/{UNIT}/"
    public = client.get(path)
    client.get(path)
    calls = flask_calls.calls
    person = sign(Person("CAH-DM-0010", ("officer",), "officer", "csrf", "digest"), session_key(web.settings))
    mine = client.get(path, headers={HEADER: person})
    assert flask_calls.calls == calls + 1
    assert "Đăng xuất" in mine.data.decode() and mine.headers["Cache-Control"] == "private, no-store"
    again = client.get(path)
    assert flask_calls.calls == calls + 1 and again.data == public.data and "Đăng xuất" not in again.data.decode()
