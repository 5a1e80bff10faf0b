"""R15a, R16: an inscription republishes only what it changes, reading only what those
publications show; every publication stays what a render from the whole book gives; the running
figures come from counts equal to a recount of every entry; feeds are served from one read."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from book_helpers import (
    OTHER_SECRETARY,
    PROVINCE,
    PROVINCE_SECRETARY,
    UNIT,
    UNIT_SECRETARY,
    deed_copy,
    deliver,
    handle_pages,
    inscribe_command,
    make_runtime,
    pages_pending,
    republish,
    revoke,
)
from whole_book import WholeBook

from services.book import DECLARATION, MIGRATIONS, services
from services.book import repository as repo
from services.book.app import build_runtime, context, create_app
from services.book.domain import publication as pub
from services.book.domain.chain import GENESIS, canonical_text
from services.book.domain.entries import Entry, inscription, public_deed, revocation
from services.book.orm import artifacts, books, entries, figure_counts, figure_deeds
from services.book.publication import feeds, pages
from services.book.publication import publisher as paths
from services.book.publication.publisher import Publications, Publisher, store_certificate
from shared import clock
from shared.auth import Principal
from shared.config import Settings
from shared.db import utcnow
from shared.messages import RepublishPages, envelope
from shared.runtime import Runtime
from shared.tables import outbox

OTHER = "CAH-CJ"


# -- helpers --------------------------------------------------------------------------------------
def secretary(token, book: str) -> dict[str, str]:
    if book == PROVINCE:
        return {"Authorization": f"Bearer {token('province_secretary', PROVINCE_SECRETARY)}"}
    return {"Authorization": f"Bearer {token('unit_secretary', OTHER_SECRETARY if book == OTHER else UNIT_SECRETARY)}"}


def stored_artifacts(runtime: Runtime) -> dict[str, tuple[str, bytes]]:
    with runtime.db.reading() as s:
        return {r.path: (r.etag, r.body) for r in s.execute(sa.select(artifacts.c.path, artifacts.c.etag, artifacts.c.body))}


# The origin the test client's requests come to: a reader there gets the feeds' links and the
# certificates' QR codes under it (R15b, no public URL configured).
ORIGIN = "http://localhost"


def reference_render(runtime: Runtime, path: str, origin: str | None = None) -> bytes | None:
    """What the whole-book renderer publishes at ``path`` now (as served at ``origin``)."""
    with runtime.db.reading() as s:
        whole = WholeBook(s, runtime.orgs.get())
        made = render_path(whole, path, origin)
    if made is None:
        return None
    return feeds.absolute(made.body, origin) if origin and path.startswith("/feeds/") else made.body


def render_path(publisher: Publisher, path: str, origin: str | None = None):  # noqa: ANN201
    if path == paths.FIGURES_PATH:
        return publisher.figures()
    if path == paths.BOOKS_PAGE_PATH:
        return publisher.books_page()
    if path.startswith("/press/"):
        quarter, fmt = path.removeprefix("/press/").split(".")
        return publisher.press(quarter, fmt)
    if path.startswith("/feeds/"):
        rest, fmt = path.removeprefix("/feeds/").rsplit(".", 1)
        if "/archive/" in rest:
            code, number = rest.split("/archive/")
            return publisher.feed(code, fmt, int(number))
        return publisher.feed(rest, fmt)
    if path.startswith("/honour-roll/"):
        code, _, period = path.removeprefix("/honour-roll/").partition("/")
        return publisher.period_page(code, period) if period else publisher.book_page(code)
    if path.endswith("/certificate.pdf"):
        code, seq = path.removeprefix("/api/v1/books/").removesuffix("/certificate.pdf").split("/entries/")
        return publisher.certificate(code, int(seq), origin)
    raise AssertionError(path)


def every_path(runtime: Runtime, code: str) -> list[str]:
    """Every publication of a book (each feed document, period and quarter page, certificate,
    press release), and the global ones."""
    with runtime.db.reading() as s:
        book = repo.get_book(s, code)
        rows = repo.book_entries(s, code)
    found = [paths.FIGURES_PATH, paths.BOOKS_PAGE_PATH, paths.book_page_path(code)]
    for fmt in ("atom", "rss", "json"):
        found.append(paths.feed_path(code, fmt))
        found += [paths.feed_path(code, fmt, a) for a in range(1, pub.archive_count(book.entries) + 2)]
    periods = {p for r in rows if (p := (r.tally or {}).get("period"))}
    periods |= {q for p in periods if (q := pub.quarter_of(p))} | {"2023-01", "2023-Q1"}
    found += [paths.period_page_path(code, p) for p in sorted(periods)]
    found += [paths.certificate_path(code, r.seq) for r in rows]
    quarters = sorted({q for p in periods if (q := pub.quarter_of(p))} | {"2023-Q1"})
    found += [paths.press_path(q, fmt) for q in quarters for fmt in ("html", "pdf")]
    return found


def assert_same_as_whole_book(runtime: Runtime, code: str) -> int:
    """Each publication rendered now by the bounded publisher equals the whole-book render."""
    compared = 0
    for path in every_path(runtime, code):
        with runtime.db.reading() as s:
            made = render_path(Publisher(s, runtime.orgs.get()), path)
        expected = reference_render(runtime, path)
        assert (made.body if made is not None else None) == expected, path
        compared += expected is not None
    return compared


@contextmanager
def changed_artifacts(runtime: Runtime) -> Iterator[dict[str, bytes]]:
    """The artifacts an operation wrote (new or with a new body)."""
    before = {p: etag for p, (etag, _) in stored_artifacts(runtime).items()}
    changed: dict[str, bytes] = {}
    yield changed
    changed.update({p: body for p, (etag, body) in stored_artifacts(runtime).items() if before.get(p) != etag})


class _CountingCursor:
    """A DBAPI cursor that counts the rows fetched from it."""

    def __init__(self, cursor, reads: Reads) -> None:  # noqa: ANN001
        self._cursor = cursor
        self._reads = reads

    def fetchone(self):  # noqa: ANN201
        row = self._cursor.fetchone()
        self._reads.rows += row is not None
        return row

    def fetchmany(self, *args):  # noqa: ANN002, ANN201
        rows = self._cursor.fetchmany(*args)
        self._reads.rows += len(rows)
        return rows

    def fetchall(self):  # noqa: ANN201
        rows = self._cursor.fetchall()
        self._reads.rows += len(rows)
        return rows

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self._cursor, name)


class Reads:
    """SQL statements executed, and rows fetched, on a runtime's engines."""

    def __init__(self, runtime: Runtime) -> None:
        self.statements = 0
        self.rows = 0
        self.engines = {runtime.db.engine, runtime.db.read_engine}
        for engine in self.engines:
            sa.event.listen(engine, "before_cursor_execute", self._before)
            sa.event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, *args: object) -> None:
        self.statements += 1

    def _after(self, conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        if context is not None:
            context.cursor = _CountingCursor(cursor, self)

    def reset(self) -> tuple[int, int]:
        seen = (self.statements, self.rows)
        self.statements = self.rows = 0
        return seen

    def close(self) -> None:
        for engine in self.engines:
            sa.event.remove(engine, "before_cursor_execute", self._before)
            sa.event.remove(engine, "after_cursor_execute", self._after)


def fill(runtime: Runtime, book: str, count: int, period: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """``count`` inscriptions through the use case in one transaction, publishing nothing."""
    with monkeypatch.context() as m:
        m.setattr(Publications, "entries_changed", lambda *args, **kwargs: None)
        with runtime.db.unit_of_work() as uow:
            for n in range(count):
                msg = inscribe_command(book, deed=deed_copy(f"Việc tốt {n}", unit=book), period=period)
                services.inscribe(uow, context(runtime, uow), msg)
            # Nor one message later: the pages are published once, by the next delivery's.
            uow.session.execute(outbox.delete().where(outbox.c.type == RepublishPages.TYPE))
            uow.commit()


# -- publications equal to the whole-book render --------------------------------------------------
def test_every_publication_equals_a_render_of_the_whole_book(client, runtime, token, inscribe, monkeypatch):
    """R15a, R16: after each inscription and revocation, what was republished equals what the
    whole-book renderer makes; at the end every publication rendered by the bounded publisher
    does too (feeds and their archives, pages, certificates, press releases, figures)."""
    monkeypatch.setattr(pub, "FEED_PAGE", 3)
    monkeypatch.setattr(pages, "LATEST_ON_INDEX", 4)
    plan = [
        (UNIT, "2024-04"), (UNIT, "2024-05"), (UNIT, "2024-05"), (PROVINCE, "2024-Q2"), (UNIT, "2024-07"),
        (UNIT, "2024-05"), (PROVINCE, "2024-Q3"), (UNIT, "2024-Q3"), (UNIT, "2024-08"), (PROVINCE, "2024-Q2"),
        (UNIT, "2024-09"), (UNIT, "2024-10"),
    ]
    written = 0
    for n, (book, period) in enumerate(plan):
        kind = "provincial" if book == PROVINCE else "monthly"
        with changed_artifacts(runtime) as changed:
            inscribe(book, deed=deed_copy(f"Việc tốt số {n} — Đắk Mil"), period=period, round_kind=kind)
        assert paths.feed_path(book, "atom") in changed
        for path, body in changed.items():
            assert body == reference_render(runtime, path), path
        written += len(changed)
    # Revoked: one in an archive, one in the current document, one of the provincial book.
    for book, seq, archive in ((UNIT, 2, 1), (UNIT, 9, 3), (PROVINCE, 1, None)):
        with changed_artifacts(runtime) as changed:
            r = client.post(f"/api/v1/books/{book}/revocations", json={"seq": seq, "reason": "Hồ sơ sai"},
                            headers=secretary(token, book))
            assert r.status_code == 201, r.data
        # The revoked entry's archive document is republished with the notice in its place.
        assert archive is None or paths.feed_path(book, "atom", archive) in changed, sorted(changed)
        for path, body in changed.items():
            assert body == reference_render(runtime, path), path
        written += len(changed)
    assert written > 60
    assert assert_same_as_whole_book(runtime, UNIT) > 40
    assert assert_same_as_whole_book(runtime, PROVINCE) > 15
    # Served: what a reader gets is the whole-book render too; but a period page no entry touched
    # lately, which keeps the book's head as it stood when it was last regenerated.
    for path in every_path(runtime, UNIT) + every_path(runtime, PROVINCE):
        if path.count("/") == 3 and path.startswith("/honour-roll/") and not path.endswith("/"):
            continue
        expected = reference_render(runtime, path, ORIGIN)
        r = client.get(path)
        assert r.status_code == (200 if expected is not None else 404), path
        if expected is not None:
            assert r.data == expected, path


# -- certificates ---------------------------------------------------------------------------------
def test_a_certificate_is_made_on_first_request_and_dropped_on_revocation(client, runtime, token, inscribe):
    """R16: no PDF is rendered with the inscription; the first request renders it and keeps it;
    R15a: a revocation drops it and the notice of the revocation is served in its place."""
    inscribe(UNIT, deed=deed_copy("Hiến máu cứu người"))
    path = paths.certificate_path(UNIT, 1)
    key = paths.certificate_key(UNIT, 1, ORIGIN)  # its QR code names the origin asked at (R15b)
    assert path not in stored_artifacts(runtime) and key not in stored_artifacts(runtime)
    first = client.get(path)
    assert first.status_code == 200 and first.mimetype == "application/pdf"
    assert first.data == reference_render(runtime, path, ORIGIN)
    assert stored_artifacts(runtime)[key][1] == first.data
    again = client.get(path)
    assert again.data == first.data and again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Last-Modified"] == first.headers["Last-Modified"]
    assert client.get(path, headers={"If-None-Match": first.headers["ETag"]}).status_code == 304

    r = client.post(f"/api/v1/books/{UNIT}/revocations", json={"seq": 1, "reason": "Sai"}, headers=secretary(token, UNIT))
    assert r.status_code == 201
    assert key not in stored_artifacts(runtime)
    notice = client.get(path, headers={"If-None-Match": first.headers["ETag"]})
    assert notice.status_code == 200 and notice.headers["ETag"] != first.headers["ETag"]
    assert notice.data == reference_render(runtime, path, ORIGIN)
    assert stored_artifacts(runtime)[key][1] == notice.data
    assert client.get(paths.certificate_path(UNIT, 2)).status_code == 404
    assert paths.certificate_path(UNIT, 2) not in stored_artifacts(runtime)


def test_a_certificate_rendered_before_its_revocation_is_not_kept(runtime, inscribe):
    """R15a: a valid certificate rendered while the entry was being revoked is not stored."""
    inscribe(UNIT)
    with runtime.db.reading() as s:
        made = Publisher(s, runtime.orgs.get()).certificate_of(UNIT, 1)
    assert made is not None and made.revoked is False
    principal = Principal(subject=UNIT_SECRETARY, role="unit_secretary")
    revoke(runtime, principal, UNIT, 1, "Sai")
    with runtime.db.unit_of_work() as uow:
        store_certificate(uow, UNIT, 1, made.rendered, made.at, made.revoked)
        uow.commit()
    assert paths.certificate_path(UNIT, 1) not in stored_artifacts(runtime)


# -- the running figures --------------------------------------------------------------------------
def recount(runtime: Runtime) -> bytes:
    return reference_render(runtime, paths.FIGURES_PATH)


def test_the_figures_counts_equal_a_recount_of_every_entry(client, runtime, token, inscribe):
    """R16: through inscriptions and revocations — a deed in two unit books and twice in the
    provincial book, a revoked first occurrence, a unit the organisation does not name, entries
    without a period — the published figures are byte for byte the recount of every entry."""
    twice = deed_copy("Cứu người đuối nước", unit=OTHER)
    stranger = deed_copy("Đơn vị đã giải thể", unit="CAH-CU")
    province_deed = deed_copy("Chiến công tháng năm")
    moved = deed_copy("Hai sổ, sổ sau xếp trước", unit=UNIT)
    steps = [
        lambda: inscribe(UNIT, deed=deed_copy("Một"), period="2024-05"),
        lambda: inscribe(OTHER, deed=twice, period="2024-06"),
        lambda: inscribe(UNIT, deed=twice, period="2024-08"),  # the same deed in a second unit book
        lambda: inscribe(UNIT, deed=moved, period="2024-04"),
        # ... and one whose new entry comes first by (book, seq): it is counted there from now on.
        lambda: inscribe(OTHER, deed=moved, period="2024-09"),
        lambda: inscribe(OTHER, deed=stranger, period="2024-07"),
        lambda: inscribe(UNIT, deed=deed_copy("Không kỳ", occurred_on="2024"), period=""),
        lambda: inscribe(PROVINCE, deed=province_deed, period="2024-Q2", round_kind="provincial"),
        lambda: inscribe(PROVINCE, deed=province_deed, period="2024-Q3", round_kind="provincial"),
        lambda: inscribe(PROVINCE, deed=deed_copy("Quý ba", unit=OTHER), period="2024-Q3", round_kind="provincial"),
        lambda: inscribe(PROVINCE, deed=stranger, period="2024-Q4", round_kind="provincial"),
    ]
    for step in steps:
        step()
        assert client.get("/api/v1/figures").data == recount(runtime)
    body = client.get("/api/v1/figures").get_json()
    assert body["province_total"] == 3 and body["by_quarter"] == {"2024-Q2": 1, "2024-Q3": 1, "2024-Q4": 1}
    assert list(body["by_unit"])[-1] == "CAH-CU" and body["unit_books"]["total"] == 5
    revocations = [
        (OTHER, 1),  # the first of a deed counted twice: the other book's entry now counts it
        (PROVINCE, 1),  # the first of a deed in the provincial book: its second entry now counts
        (PROVINCE, 2),  # and then that one too: the deed no longer counts
        (UNIT, 1),
    ]
    for book, seq in revocations:
        r = client.post(f"/api/v1/books/{book}/revocations", json={"seq": seq, "reason": "Sai"},
                        headers=secretary(token, book))
        assert r.status_code == 201, r.data
        assert client.get("/api/v1/figures").data == recount(runtime)
    body = client.get("/api/v1/figures").get_json()
    assert body["province_total"] == 2 and body["by_quarter"] == {"2024-Q3": 1, "2024-Q4": 1}
    assert body["unit_books"] == {"total": 4, "by_quarter": {"2024-Q3": 3}, "by_unit": body["unit_books"]["by_unit"]}
    assert body["unit_books"]["by_unit"][UNIT] == 2 and body["unit_books"]["by_unit"]["CAH-CU"] == 1
    # The quarterly press release carries the same running figure.
    assert client.get("/press/2024-Q4.html").data == reference_render(runtime, "/press/2024-Q4.html")


# -- bounded work ---------------------------------------------------------------------------------
# Statements of one inscription (its delivery through the inbox included) into the books below
# when it also rendered the pages and global publications in its own transaction.
STATEMENTS_WITH_PAGES = 46


def test_one_inscription_does_the_same_work_in_a_book_of_20_or_300_entries(
    runtime, sqlite_settings, org_document, tmp_path, monkeypatch
):
    """R16: one inscription, and then the message publishing its pages, each execute as many
    statements and fetch as many rows in a book of 300 entries as in one of 20: what they read is
    bounded by the page sizes (made small here, so that both books outgrow them), never by the
    book. The inscription's own transaction, publishing only the feeds, does less than it did
    when it published the pages too."""
    monkeypatch.setattr(pub, "FEED_PAGE", 5)
    monkeypatch.setattr(pages, "LATEST_ON_INDEX", 5)
    large = make_runtime(Settings(home=tmp_path / "large"), org_document)
    seen = []
    try:
        for rt, size in ((runtime, 20), (large, 300)):
            # The organisation is checked for a newer document once a second: pinned, so that
            # the check never falls inside one count and not the other.
            rt.orgs.check_seconds = 3600.0
            rt.orgs.require()
            # Earlier entries in one older period: a month's honour roll is the month's.
            fill(rt, UNIT, size, "2020-01", monkeypatch)
            deliver(rt, inscribe_command(UNIT, deed=deed_copy("Khởi động"), period="2024-04"))
            republish(rt)
            reads = Reads(rt)
            try:
                deliver(rt, inscribe_command(UNIT, deed=deed_copy("Đo đếm"), period="2024-05"))
                inscription = reads.reset()
                reads.close()
                [env] = pages_pending(rt)
                reads = Reads(rt)
                assert handle_pages(rt, env) is True
                seen.append((inscription, reads.reset()))
            finally:
                reads.close()
            with rt.db.reading() as s:
                assert repo.get_book(s, UNIT).entries == size + 2
            stored = stored_artifacts(rt)
            for path in (paths.feed_path(UNIT, "atom"), paths.book_page_path(UNIT),
                         paths.period_page_path(UNIT, "2024-05"), paths.FIGURES_PATH):
                assert reference_render(rt, path) == stored[path][1], path
    finally:
        large.db.dispose()
    (small, small_pages), (large_work, large_pages) = seen
    assert small == large_work and small_pages == large_pages, seen
    assert 0 < large_work[1] + large_pages[1] < 100, seen
    assert large_work[0] < STATEMENTS_WITH_PAGES, seen


# -- pages one hop after the feeds ------------------------------------------------------------------
def test_an_inscription_publishes_its_feeds_and_the_pages_follow_one_message_later(runtime, client):
    """R16: right after the inscription its feeds hold the entry; the pages it changes are no
    longer stored but rendered on request, already with the entry (never behind the book); it
    left exactly one message to store them again; once that is handled, every page, feed and
    global publication is what a render of the whole book gives."""
    deliver(runtime, inscribe_command(UNIT, deed=deed_copy("Trước"), period="2024-04"))
    republish(runtime)
    before = stored_artifacts(runtime)
    deliver(runtime, inscribe_command(UNIT, deed=deed_copy("Cứu người trong lũ — Đắk Mil"), period="2024-05"))
    after = stored_artifacts(runtime)
    for fmt in ("atom", "rss", "json"):
        assert "Cứu người trong lũ".encode() in after[paths.feed_path(UNIT, fmt)][1], fmt
    stale = (paths.book_page_path(UNIT), paths.period_page_path(UNIT, "2024-05"), paths.BOOKS_PAGE_PATH)
    assert all(path in before or "2024-05" in path for path in stale)
    assert not set(stale) & set(after), "the pages the entry changes are not kept stale"
    # The figures are stored afresh with the entry: their row is the global publications' lock.
    assert after[paths.FIGURES_PATH][1] == reference_render(runtime, paths.FIGURES_PATH) != before[paths.FIGURES_PATH][1]
    assert after[paths.period_page_path(UNIT, "2024-04")] == before[paths.period_page_path(UNIT, "2024-04")]
    for path in (*stale, paths.FIGURES_PATH):
        served = client.get(path)
        assert served.status_code == 200, path
        assert served.data == reference_render(runtime, path), path
    assert "Cứu người trong lũ".encode() in client.get(paths.book_page_path(UNIT)).data
    pending = pages_pending(runtime)
    assert [env["payload"] for env in pending] == [
        {"book": UNIT, "seqs": [2], "at": pending[0]["payload"]["at"]}
    ]
    with runtime.db.reading() as s:
        entry_time = repo.get_book(s, UNIT).updated_at
    assert dt.datetime.fromisoformat(pending[0]["payload"]["at"]) == entry_time
    assert handle_pages(runtime, pending[0]) is True
    assert pages_pending(runtime) == []
    published = stored_artifacts(runtime)
    assert "Cứu người trong lũ".encode() in published[paths.book_page_path(UNIT)][1]
    assert "Cứu người trong lũ".encode() in published[paths.period_page_path(UNIT, "2024-05")][1]
    assert assert_same_as_whole_book(runtime, UNIT) > 10


def test_pages_are_dated_by_their_entry_and_a_redelivery_changes_nothing(client, runtime):
    """R16: the pages carry the entry's time as Last-Modified, as the feed does; the same
    message delivered again (a new envelope, as a replayed outbox row would be) writes nothing."""
    deliver(runtime, inscribe_command(UNIT, deed=deed_copy("Một lần thôi"), period="2024-05"))
    [env] = pages_pending(runtime)
    assert handle_pages(runtime, env) is True
    pages_once = stored_artifacts(runtime)
    feed = client.get(paths.feed_path(UNIT, "atom"))
    page = client.get(paths.book_page_path(UNIT))
    assert page.status_code == 200 and page.headers["Last-Modified"] == feed.headers["Last-Modified"]
    again = envelope(RepublishPages(**env["payload"]), clock.isoformat(utcnow()))
    assert again["id"] != env["id"]
    with changed_artifacts(runtime) as changed:
        assert handle_pages(runtime, again) is True
    assert changed == {}
    assert stored_artifacts(runtime) == pages_once
    assert client.get(paths.book_page_path(UNIT)).headers["Last-Modified"] == page.headers["Last-Modified"]


def test_pages_handled_after_later_entries_show_them_and_a_missing_entry_is_ignored(runtime):
    """R16: the message of an earlier entry handled after later ones publishes the pages of every
    entry not yet published, rendered from the book as it stands, and the later messages of the
    burst find nothing left to do; a message naming an entry the book does not hold publishes
    nothing."""
    months = ("2024-04", "2024-05", "2024-06")
    for n, period in enumerate(months):
        deliver(runtime, inscribe_command(UNIT, deed=deed_copy(f"Việc tốt {n}"), period=period))
    first, *rest = pages_pending(runtime)
    assert first["payload"]["seqs"] == [1] and len(rest) == 2
    handle_pages(runtime, first)
    stored = stored_artifacts(runtime)
    for path in (paths.book_page_path(UNIT), paths.FIGURES_PATH, paths.BOOKS_PAGE_PATH,
                 *(paths.period_page_path(UNIT, month) for month in months),
                 paths.period_page_path(UNIT, "2024-Q2")):
        assert stored[path][1] == reference_render(runtime, path), path
    assert "Việc tốt 2".encode() in stored[paths.book_page_path(UNIT)][1]
    with runtime.db.reading() as s:
        assert repo.get_book(s, UNIT).pages_seq == 3
    with changed_artifacts(runtime) as changed:
        for env in rest:
            handle_pages(runtime, env)
    assert changed == {}, "the burst's later messages render nothing again"
    assert assert_same_as_whole_book(runtime, UNIT) > 10
    before = stored_artifacts(runtime)
    for payload in ({"book": UNIT, "seqs": [99], "at": first["payload"]["at"]},
                    {"book": "NOPE", "seqs": [1], "at": first["payload"]["at"]}):
        assert handle_pages(runtime, envelope(RepublishPages(**payload), clock.isoformat(utcnow()))) is True
    assert stored_artifacts(runtime) == before


# -- serving feeds --------------------------------------------------------------------------------
def test_a_feed_is_served_from_one_read_and_304_before_its_body(client, runtime, inscribe):
    """R16: a feed and its book's chain head come from one SELECT; a matching If-None-Match is
    answered 304 from one SELECT that does not fetch the body; feeds may be cached 5 s."""
    for n in range(3):
        inscribe(UNIT, deed=deed_copy(f"Việc {n}"))
    statements: list[str] = []

    def seen(conn, cursor, statement, *args):  # noqa: ANN001, ANN202
        statements.append(statement)

    def selects() -> list[str]:
        found = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
        statements.clear()
        return found

    engine = runtime.db.read_engine
    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        r = client.get(f"/feeds/{UNIT}.atom")
        assert r.status_code == 200 and r.headers["Cache-Control"] == "public, max-age=5"
        with runtime.db.reading() as s:
            book = repo.get_book(s, UNIT)
        one = selects()
        assert len(one) == 2 and "body" in one[0].split(" FROM ")[0]  # the feed, then the test's own
        assert (r.headers["X-Chain-Entries"], r.headers["X-Chain-Head"]) == ("3", book.head)
        assert r.headers["ETag"] and r.headers["Last-Modified"]

        again = client.get(f"/feeds/{UNIT}.atom", headers={"If-None-Match": r.headers["ETag"]})
        assert again.status_code == 304 and again.data == b""
        assert again.headers["X-Chain-Head"] == book.head and again.headers["Cache-Control"] == "public, max-age=5"
        one = selects()
        assert len(one) == 1 and "body" not in one[0].split(" FROM ")[0], one

        since = client.get(f"/feeds/{UNIT}.atom", headers={"If-Modified-Since": r.headers["Last-Modified"]})
        assert since.status_code == 304 and len(selects()) == 1

        stale = client.get(f"/feeds/{UNIT}.atom", headers={"If-None-Match": '"other"'})
        assert stale.status_code == 200 and stale.data == r.data and stale.headers["ETag"] == r.headers["ETag"]
        assert len(selects()) == 2  # the validators first, then the body
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    assert client.get("/feeds/NOPE.atom").status_code == 404


# -- the migration --------------------------------------------------------------------------------
def _alembic(runtime: Runtime, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with runtime.db.engine.connect() as conn:
        if runtime.db.is_postgres:
            conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{runtime.db.schema}"')
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        conn.commit()


def _old_insert(session, fields: dict, source: str, at: dt.datetime) -> None:  # noqa: ANN001
    """An entry written as revision 0003 wrote it (no indexed columns), inscribed at ``at``: the
    instant its hash was computed with (another second would break the chain)."""
    values = {n: fields[n] for n in ("book", "seq", "kind", "revokes", "reason", "prev_hash", "hash")}
    for n in ("deed", "decision", "tally"):
        values[n] = canonical_text(fields[n]) if fields[n] is not None else None
    session.execute(sa.text(
        "INSERT INTO entries (book, seq, kind, revokes, reason, deed, decision, tally, inscribed_at, prev_hash, hash,"
        " source) VALUES (:book, :seq, :kind, :revokes, :reason, :deed, :decision, :tally, :at, :prev_hash, :hash,"
        " :source)"
    ), {**values, "at": at if session.bind.dialect.name != "sqlite" else at.replace(tzinfo=None), "source": source})


def _old_book(session, code: str, kind: str, at: dt.datetime) -> None:  # noqa: ANN001
    """A book as revision 0003 wrote it (no ``pages_seq``)."""
    session.execute(sa.text(
        "INSERT INTO books (code, name, kind, entries, created_at) VALUES (:code, :code, :kind, 0, :at)"
    ), {"code": code, "kind": kind, "at": at if session.bind.dialect.name != "sqlite" else at.replace(tzinfo=None)})


def migration_case(settings: Settings, org_document: dict) -> None:
    runtime = build_runtime(settings)
    try:
        _alembic(runtime, "0003_book_outbox_confirmed")
        now = utcnow().replace(microsecond=0)
        twice = deed_copy("Hai sổ", unit=OTHER)
        with runtime.db.unit_of_work() as uow:
            s = uow.session
            for code, kind in ((UNIT, "unit"), (OTHER, "unit"), (PROVINCE, "province")):
                _old_book(s, code, kind, now)
            heads: dict[str, tuple[int, str]] = {}

            def add(book: str, deed: dict, period: str | None) -> dict:
                seq, head = heads.get(book, (0, GENESIS))
                fields = inscription(book=book, seq=seq + 1, prev_hash=head, deed=public_deed(deed), decision={},
                                     tally={"period": period} if period else {}, at=now)
                _old_insert(s, fields, f"old:{book}:{seq + 1}", now)
                heads[book] = (seq + 1, fields["hash"])
                return fields

            first = add(UNIT, deed_copy("Một"), "2024-05")
            add(UNIT, twice, "2024-Q3")
            add(OTHER, twice, "2024-06")
            add(UNIT, deed_copy("Không kỳ", occurred_on="2023-11-30"), None)
            add(PROVINCE, deed_copy("Tỉnh"), "2024-Q2")
            seq, head = heads[UNIT]
            revoked = revocation(book=UNIT, seq=seq + 1, prev_hash=head, target=Entry.of(first), reason="Sai", decision={}, at=now)
            _old_insert(s, revoked, "revocation:old", now)
            heads[UNIT] = (seq + 1, revoked["hash"])
            for code, (seq, head) in heads.items():
                repo.advance_book(s, code, seq, head, now)
            uow.commit()

        runtime.migrate()  # to the newest revision, as a deployment does
        with runtime.db.reading() as s:
            rows = {(r.book, r.seq): r for r in s.execute(sa.select(entries))}
            deeds = {(r.scope, r.deed_id): (r.book, r.seq, r.quarter, r.unit) for r in s.execute(sa.select(figure_deeds))}
            counts = {(r.scope, r.quarter, r.unit): r.deeds for r in s.execute(sa.select(figure_counts))}
            assert s.execute(sa.select(sa.func.count()).select_from(books)).scalar() == 3
            # Their pages taken as published up to their last entry (revision 0005).
            assert {r.code: r.pages_seq for r in s.execute(sa.select(books))} == {
                code: seq for code, (seq, _head) in heads.items()}
        assert (rows[UNIT, 1].period, rows[UNIT, 1].quarter, rows[UNIT, 1].unit) == ("2024-05", "2024-Q2", UNIT)
        assert rows[UNIT, 1].deed_id == first["deed"]["id"]
        assert (rows[UNIT, 2].period, rows[UNIT, 2].quarter, rows[UNIT, 2].deed_id) == ("2024-Q3", "2024-Q3", twice["id"])
        assert (rows[UNIT, 3].period, rows[UNIT, 3].quarter) == ("2023-11", "2023-Q4")  # from occurred_on
        assert (rows[UNIT, 4].kind, rows[UNIT, 4].period, rows[UNIT, 4].deed_id) == ("revocation", None, first["deed"]["id"])
        # The deed in two unit books counts once, at its first entry by (book, seq); the revoked
        # one not at all.
        assert deeds[("units", twice["id"])] == (OTHER, 1, "2024-Q2", OTHER)
        assert ("units", first["deed"]["id"]) not in deeds
        assert counts == {("units", "2024-Q2", OTHER): 1, ("units", "2023-Q4", UNIT): 1, ("province", "2024-Q2", UNIT): 1}
        DECLARATION.load_org(runtime, org_document)
        with runtime.db.reading() as s:
            published = Publisher(s, runtime.orgs.get()).figures().body
        assert published == reference_render(runtime, paths.FIGURES_PATH)
        assert json.loads(published)["unit_books"]["total"] == 2
        client = create_app(runtime=runtime).test_client()
        assert client.get(f"/api/v1/books/{UNIT}/verify").get_json()["valid"] is True
        # And the book goes on: the next inscription counts and publishes as any other.
        deliver(runtime, inscribe_command(UNIT, deed=deed_copy("Sau nâng cấp"), period="2024-05"))
        assert republish(runtime) == 1
        assert client.get("/api/v1/figures").data == reference_render(runtime, paths.FIGURES_PATH)
        assert client.get(f"/honour-roll/{UNIT}/2024-05").data == reference_render(runtime, f"/honour-roll/{UNIT}/2024-05")
    finally:
        runtime.db.dispose()


def test_the_migration_fills_the_new_columns_and_counts_of_an_existing_database(tmp_path: Path, org_document):
    migration_case(Settings(home=tmp_path / "home"), org_document)


@pytest.mark.distributed
def test_the_migration_on_postgresql(pg_settings, org_document):
    migration_case(pg_settings, org_document)
