"""R16: generating what is published when entries arrive, and serving it.

Every publication is an artifact keyed by its URL path. An inscription's feeds (and any archive
it completes) are written in the same transaction as the entry, so a feed shows the entry as soon
as the book holds it. Its pages and the global publications (the honour roll of the book and of
its periods, the figures, the list of books, the press releases) follow one message later
(``RepublishPages``, emitted in that transaction). Meanwhile the entry's transaction drops the
stored copies it makes stale, so those are rendered on request from what the book holds: a page
does not wait for that message (a web process's cache lets it go at most as late as it hears of
the commit through Redis), and never shows an entry the book does not hold. A revocation, and loading the
organisation, still write everything with their change. Requests read the stored artifact; one
that was never generated (an empty period, say) is rendered on the spot from the same functions.

Each publication reads only the entries it shows (a feed document's, a period's, the newest of
the index), by index, and the figures come from their counts: an entry costs the same work
whatever the size of its book. Certificates are not generated with the entry: the first request
renders and stores one (``store_certificate``), and a revocation drops it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from services.book import repository as repo
from services.book.domain import publication as pub
from services.book.domain.entries import INSCRIPTION, REVOCATION, Entry, quarter_of
from services.book.domain.figures import PROVINCE_SCOPE, UNITS_SCOPE, figures_from_counts
from services.book.domain.publication import PublicItem
from services.book.domain.witness import SignedHead
from services.book.publication import book_pdf, feeds, pages, pdf
from services.book.repository import FIGURES_PATH, lock_globals
from shared import clock
from shared.db import UnitOfWork
from shared.org import Organisation

BOOKS_PAGE_PATH = "/honour-roll/"
JSON = "application/json; charset=utf-8"
log = logging.getLogger(__name__)

__all__ = ["FIGURES_PATH", "Publications", "Publisher", "Rendered", "lock_globals"]

DEFAULT_PROGRAMME = "Sổ vàng lập công – Mỗi ngày một việc tốt vì Nhân dân"


@dataclass(frozen=True)
class Rendered:
    content_type: str
    body: bytes


@dataclass(frozen=True)
class Certificate:
    """A certificate rendered now, the instant it speaks of (the inscription's, or its
    revocation's for the notice in its place) and whether it is that notice."""

    rendered: Rendered
    at: dt.datetime
    revoked: bool


def feed_path(book: str, fmt: str, archive: int | None = None) -> str:
    return f"/feeds/{book}.{fmt}" if archive is None else f"/feeds/{book}/archive/{archive}.{fmt}"


def book_page_path(book: str) -> str:
    return f"/honour-roll/{book}/"


def period_page_path(book: str, period: str) -> str:
    return f"/honour-roll/{book}/{period}"


def certificate_path(book: str, seq: int) -> str:
    return f"/api/v1/books/{book}/entries/{seq}/certificate.pdf"


def certificate_key(book: str, seq: int, origin: str | None) -> str:
    """Where a certificate is stored: its QR code names the origin it was made for (R15b), so one
    made for another origin than the configured public one is stored apart."""
    path = certificate_path(book, seq)
    return f"{path}?origin={origin}" if origin else path


def book_pdf_path(book: str) -> str:
    """The whole book as one PDF, for the printed golden book."""
    return f"/api/v1/books/{book}/book.pdf"


def verify_path(book: str, seq: int) -> str:
    """R15b: the public verification page of an entry."""
    return f"/verify/{book}/{seq}"


def press_path(quarter: str, fmt: str) -> str:
    return f"/press/{quarter}.{fmt}"


class Publisher:
    """Renders one service's publications from its tables (and stores them when asked)."""

    def __init__(self, session: Session, org: Organisation | None) -> None:
        self.session = session
        self.org = org
        # A publisher lives for one use case, after its writes: what it reads stays true meanwhile.
        self._books: dict[str, Any] = {}
        self._ranges: dict[tuple[str, int, int], list[PublicItem]] = {}
        self._tallies: dict[str, list[tuple[str | None, int, int]]] = {}
        self._heads: dict[tuple[str, int], SignedHead | None] = {}

    # -- what every publication says of the organisation ---------------------------------------
    @property
    def province(self) -> str:
        return self.org.province_code if self.org else "CAT"

    def context(self) -> pages.Context:
        org = self.org
        if org is None:
            return pages.Context("Công an tỉnh", DEFAULT_PROGRAMME, "2021-09-01", lambda code: code)
        return pages.Context(org.province_name, org.programme_name or DEFAULT_PROGRAMME, org.since, org.unit_name)

    # -- reading only what is shown ------------------------------------------------------------
    def _book(self, code: str) -> Any | None:
        if code not in self._books:
            self._books[code] = repo.get_book(self.session, code)
        return self._books[code]

    def knows_head(self, signed: SignedHead) -> None:
        """The head just signed in this transaction: its feeds need not read it back."""
        self._heads[(signed.book, signed.entries)] = signed

    def signed_head(self, code: str, entries: int) -> SignedHead | None:
        """R15b: the head signed when the book reached ``entries`` entries (None for none)."""
        if entries <= 0:
            return None
        key = (code, entries)
        if key not in self._heads:
            self._heads[key] = repo.head_at(self.session, code, entries)
        return self._heads[key]

    def _items(self, code: str, rows: list[Entry]) -> list[PublicItem]:
        """Public items of some entries of a book, with what they need from outside them: the
        revocations of their inscriptions, the periods of the entries their revocations revoke."""
        seqs = {r.seq for r in rows}
        revocations = repo.revoking(self.session, code, [r.seq for r in rows if r.kind == INSCRIPTION])
        targets = [r.revokes for r in rows if r.kind == REVOCATION and r.revokes not in seqs]
        return pub.public_items(code, rows, revocations, repo.periods_at(self.session, code, targets))

    def items_of(self, code: str, rows: list[Entry]) -> list[PublicItem]:
        """Public items of some decoded entries of a book (``_items``)."""
        return self._items(code, rows)

    def _range(self, code: str, first: int, last: int) -> list[PublicItem]:
        if first > last:
            return []
        key = (code, first, last)
        if key not in self._ranges:
            self._ranges[key] = self._items(code, repo.entries_between(self.session, code, first, last))
        return self._ranges[key]

    def _items_at(self, code: str, seqs: Iterable[int]) -> list[PublicItem]:
        """Public items of entries ``seqs``, by seq. An inscription's feeds have just read its
        entry in their document's range: taken from there, the pages it makes stale cost no
        second read of it and its revocations. An item is the same whatever range it is read in
        (``public_items`` is given what lies outside)."""
        wanted = set(seqs)
        found: dict[int, PublicItem] = {}
        for (book, first, last), items in self._ranges.items():
            if book == code and any(first <= s <= last for s in wanted):
                found.update((i.seq, i) for i in items if i.seq in wanted)
        if len(found) == len(wanted):
            return [found[s] for s in sorted(wanted)]
        return self._items(code, repo.entries_at(self.session, code, sorted(wanted)))

    def _period_items(self, code: str, period: str) -> list[PublicItem]:
        return self._items(code, repo.inscriptions_of_period(self.session, code, period))

    def _tally(self, code: str) -> list[tuple[str | None, int, int]]:
        if code not in self._tallies:
            self._tallies[code] = repo.period_tally(self.session, code)
        return self._tallies[code]

    def _quarters(self, code: str) -> list[str]:
        """``quarters_of`` the book's items, from its periods."""
        return sorted({q for p, _n, _r in self._tally(code) if (q := quarter_of(p))}, reverse=True)

    # -- rendering -------------------------------------------------------------------------------
    def feed(self, code: str, fmt: str, archive: int | None = None) -> Rendered | None:
        """A book's current feed document, or one of its archives (RFC 5005)."""
        book = self._book(code)
        if book is None:
            return None
        archive_total = pub.archive_count(book.entries)
        if archive is not None and not 1 <= archive <= archive_total:
            return None
        first, last = pub.archive_range(archive) if archive else pub.current_range(book.entries)
        chosen = self._range(code, first, last)
        if archive:
            # An archive publishes the chain as it stood at its last entry: it never goes stale.
            count, head = last, chosen[-1].hash if chosen else None
        else:
            count, head = book.entries, book.head
        ctx = self.context()
        doc = feeds.FeedDoc(
            book=code,
            book_name=book.name,
            province_name=ctx.province_name,
            programme=ctx.programme,
            items=list(reversed(chosen)),
            entries=count,
            head=head,
            signed_head=self.signed_head(code, count),
            archive=archive,
            prev_archive=(archive - 1 if archive else archive_total) or None,
            next_archive=(archive + 1 if archive and archive < archive_total else None),
        )
        return Rendered(feeds.CONTENT_TYPES[fmt], feeds.RENDERERS[fmt](doc))

    def books_page(self) -> Rendered:
        return Rendered(pages.HTML, pages.books_page(self.context(), repo.all_books(self.session)))

    def book_page(self, code: str) -> Rendered | None:
        book = self._book(code)
        if book is None:
            return None
        tally = self._tally(code)
        periods = sorted(((p, n - r) for p, n, r in tally if p), reverse=True)
        latest = self._items(code, repo.latest_inscriptions(self.session, code, pages.LATEST_ON_INDEX))
        body = pages.book_index(
            self.context(),
            code,
            book.name,
            honoured=sum(n - r for _p, n, r in tally),
            periods=periods,
            quarters=[q for q in self._quarters(code) if q not in {p for p, _ in periods}],
            latest=list(reversed(latest)),
            entries=book.entries,
            head=book.head,
            signed_head=self.signed_head(code, book.entries),
            closed_on=clock.local(book.closed_at).strftime("%d/%m/%Y") if book.closed_at is not None else None,
        )
        return Rendered(pages.HTML, body)

    def period_page(self, code: str, period: str) -> Rendered | None:
        book = self._book(code)
        if book is None or not pub.valid_period(period):
            return None
        items = self._period_items(code, period)
        body = pages.period_page(self.context(), code, book.name, period, items, book.entries, book.head)
        return Rendered(pages.HTML, body)

    def certificate_of(self, code: str, seq: int, origin: str | None = None) -> Certificate | None:
        """The certificate of inscription ``seq``, with the QR code of its verification page
        under ``origin`` (the public origin, R15b; none: no code)."""
        book = self._book(code)
        if book is None:
            return None
        rows = repo.entries_at(self.session, code, [seq])
        if not rows or rows[0].kind != INSCRIPTION:
            return None
        item = self._items(code, rows)[0]
        at = item.instant
        if item.revoked_by is not None:
            revocation = repo.entries_at(self.session, code, [item.revoked_by])
            at = dt.datetime.fromisoformat(revocation[0].inscribed_at) if revocation else at
        verify_url = f"{origin}{verify_path(code, seq)}" if origin else None
        rendered = Rendered(pdf.PDF, pdf.certificate(self.context(), book.name, item, verify_url))
        return Certificate(rendered, at, item.revoked)

    def certificate(self, code: str, seq: int, origin: str | None = None) -> Rendered | None:
        made = self.certificate_of(code, seq, origin)
        return made.rendered if made else None

    def book_pdf(self, code: str) -> Rendered | None:
        """R15, R15a, R16: the whole book for printing (every entry, read once, in order). Rendered
        on request and kept until the book's next entry (``pages_stale`` drops it)."""
        book = self._book(code)
        if book is None:
            return None
        items = pub.public_items(code, repo.book_entries(self.session, code))
        body = book_pdf.whole_book(self.context(), code, book.name, items, book.head,
                                   self.signed_head(code, book.entries))
        return Rendered(pdf.PDF, body)

    def figures(self) -> Rendered:
        units = sorted(self.org.units) if self.org else []
        counts = repo.figure_counts_now(self.session)
        known = set(units)
        first_seen = {}
        for scope in (PROVINCE_SCOPE, UNITS_SCOPE):
            others = sorted({u for s, _q, u, _n in counts if s == scope and u and u not in known})
            if others:
                first_seen[scope] = repo.units_first_counted(self.session, scope, others)
        data = figures_from_counts(counts, units=units, since=self.context().since, first_seen=first_seen)
        return Rendered(JSON, json.dumps(data, ensure_ascii=False).encode("utf-8"))

    def press(self, quarter: str, fmt: str, by_quarter: dict[str, int] | None = None,
              draft: str | None = None) -> Rendered | None:
        """R16: the quarterly press release of the provincial book (HTML or PDF), with the
        running figure as it stood at the end of that quarter; ``draft`` (an ISO instant, HTML
        only): the release of a quarter not yet over as it stands then, marked as a draft."""
        if self._book(self.province) is None:
            return None
        items = self._period_items(self.province, quarter)
        if by_quarter is None:
            by_quarter = json.loads(self.figures().body)["by_quarter"]
        total = sum(n for q, n in by_quarter.items() if q <= quarter)
        if fmt == "pdf":
            return Rendered(pdf.PDF, pdf.press_release(self.context(), self.province, quarter, items, total))
        return Rendered(pages.HTML, pages.press_page(self.context(), self.province, quarter, items, total, draft))

    # -- generating when entries arrive -------------------------------------------------------
    def _put(self, path: str, book: str | None, rendered: Rendered | None, at: dt.datetime) -> None:
        if rendered is not None:
            repo.put_artifact(self.session, path, book, rendered.content_type, rendered.body, at)

    def _put_all(self, book: str | None, rendered: Iterable[tuple[str, Rendered | None]], at: dt.datetime) -> None:
        """``_put`` of several publications of one book, in one statement."""
        repo.put_artifacts(self.session, [
            (path, book, r.content_type, r.body) for path, r in rendered if r is not None
        ], at)

    def feeds_changed(self, code: str, touched: Iterable[int], at: dt.datetime) -> None:
        """The book's current feed documents, and the archives ``touched`` lie in or the newest
        entry completed. The caller holds the book's lock."""
        book = self._book(code)
        if book is None:
            return
        archives = pub.archive_count(book.entries)
        to_archive = {a for s in touched if (a := pub.archive_of(s, book.entries))}
        if archives != pub.archive_count(book.entries - 1):
            # The new entry completed a document: it is published, and the one before it gains
            # its next-archive link. Otherwise archives change only where an entry is revoked.
            to_archive |= {a for a in (archives, archives - 1) if a >= 1}
        # Rendered first and stored together: one round trip for all of them, on the path from
        # a round's close to the feed.
        self._put_all(code, [
            (feed_path(code, fmt, a), self.feed(code, fmt, a))
            for fmt in feeds.RENDERERS
            for a in (None, *sorted(to_archive))
        ], at)

    def _touched(self, code: str, touched: Iterable[int]) -> tuple[list[str], set[str]]:
        """The periods whose pages entries ``touched`` change (their months and quarters) and
        the quarters whose press releases they change (for the provincial book, every release
        from the earliest quarter touched on: its running figure counts this book)."""
        periods: set[str] = set()
        for item in self._items_at(code, touched):
            if item.period:
                periods.add(item.period)
                if (quarter := quarter_of(item.period)) is not None:
                    periods.add(quarter)
        press: set[str] = set()
        if code == self.province and periods:
            since = min(q for p in periods if (q := quarter_of(p)))
            press = {q for q in self._quarters(code) if q >= since} | {p for p in periods if "Q" in p}
        return sorted(periods), press

    def pages_stale(self, code: str, touched: Iterable[int], at: dt.datetime) -> None:
        """Drop the stored pages and global publications entries ``touched`` change, so that
        until ``pages_changed`` stores them again they are rendered on request from what the book
        holds: a reader who sees the entry in the book or a feed never gets a page without it.
        The figures are stored afresh instead (their counts are at hand): their row is the lock
        of the global publications (``lock_globals``), which must never go."""
        periods, press = self._touched(code, touched)
        self._put(FIGURES_PATH, None, self.figures(), at)
        paths = [book_page_path(code), BOOKS_PAGE_PATH, book_pdf_path(code)]
        paths += [period_page_path(code, period) for period in periods]
        paths += [press_path(quarter, fmt) for quarter in sorted(press) for fmt in ("html", "pdf")]
        repo.delete_artifacts(self.session, paths)

    def pages_changed(self, code: str, touched: Iterable[int], at: dt.datetime) -> None:
        """The book's page, the pages of the periods (and quarters) of the entries ``touched``,
        and the global publications: the figures, the list of books and, for the provincial book,
        the press releases from the earliest quarter touched on.

        The caller holds the book's lock; the figures' lock is taken here, after it.
        """
        if self._book(code) is None:
            return
        periods, press = self._touched(code, touched)
        self._put(book_page_path(code), code, self.book_page(code), at)
        for period in periods:
            self._put(period_page_path(code, period), code, self.period_page(code, period), at)
        self.globals_changed(at, press_quarters=press)

    def globals_changed(self, at: dt.datetime, press_quarters: Iterable[str] = ()) -> None:
        """The figures, the list of books and the press releases of the given quarters."""
        lock_globals(self.session, at)
        current = self.figures()
        self._put(FIGURES_PATH, None, current, at)
        self._put(BOOKS_PAGE_PATH, None, self.books_page(), at)
        by_quarter = json.loads(current.body)["by_quarter"]
        for quarter in sorted(press_quarters):
            for fmt in ("html", "pdf"):
                self._put(press_path(quarter, fmt), self.province, self.press(quarter, fmt, by_quarter), at)

    def book_created(self, code: str, at: dt.datetime) -> None:
        """The first publications of a book (an empty feed, an empty honour roll)."""
        self._put_all(code, [
            *((feed_path(code, fmt), self.feed(code, fmt)) for fmt in feeds.RENDERERS),
            (book_page_path(code), self.book_page(code)),
        ], at)


class Publications:
    """What a use case asks of the publications, in its unit of work (``work.Work``): the port a
    fake unit of work stands in for (tests/book/fakes.py)."""

    def __init__(self, session: Callable[[], Session]) -> None:
        self._session = session

    @property
    def session(self) -> Session:
        return self._session()

    def of(self, org: Organisation | None) -> Publisher:
        """A publisher for the organisation, for a use case's writes (its books' first
        publications, the global ones)."""
        return Publisher(self.session, org)

    def entries_changed(
        self, org: Organisation | None, code: str, touched: set[int], at: dt.datetime, part: str = "all",
        signed: SignedHead | None = None,
    ) -> None:
        """Regenerate the publications entries change, in their transaction: ``"all"`` of them;
        ``"feeds"``, the feeds (the pages and global publications are dropped, to be rendered on
        request until ``republish_pages`` stores them); ``"pages"``, those pages. A failure to
        render never loses the entry: the stale artifacts go and requests render them afresh."""
        publisher = Publisher(self.session, org)
        if signed is not None:
            publisher.knows_head(signed)
        if part == "all":
            repo.drop_artifact(self.session, book_pdf_path(code))  # "feeds" drops it with the pages
        try:
            with self.session.begin_nested():
                if part in ("all", "feeds"):
                    publisher.feeds_changed(code, touched, at)
                if part == "feeds":
                    publisher.pages_stale(code, touched, at)
                else:
                    publisher.pages_changed(code, touched, at)
        except Exception:
            log.exception("publishing %s of book %s after entries %s failed; serving it unrendered", part, code,
                          sorted(touched))
            repo.drop_artifacts(self.session, code)

    def certificate_revoked(self, code: str, seq: int) -> None:
        """R15a: the certificate stored for the entry must not go on being served as valid; the
        next request renders the notice of its revocation in its place."""
        repo.drop_artifact_variants(self.session, certificate_path(code, seq))


# -- keeping what a request rendered ---------------------------------------------------------------
def store_certificate(
    uow: UnitOfWork, code: str, seq: int, made: Rendered, at: dt.datetime, revoked: bool, path: str | None = None
) -> None:
    """Keep a certificate rendered on request, unless the entry's revocation state changed since
    it was rendered (R15a: a certificate is never stored valid once revoked). Under the book's
    lock, as a revocation drops it under the same lock; in the request's unit of work, which its
    entrypoint commits (one stored meanwhile by another request is replaced by the same)."""
    if repo.lock_book(uow.session, code) is None:
        return
    if (repo.revocations_of(uow.session, code, [seq]).get(seq) is not None) != revoked:
        return
    repo.put_artifact(uow.session, path or certificate_path(code, seq), code, made.content_type, made.body, at)


def keep_rendered(uow: UnitOfWork, code: str, path: str, made: Rendered, entries: int, at: dt.datetime) -> None:
    """Keep a page rendered on request (a period's honour roll, a press release) so that it is
    rendered once, not per request; only if the book has had no entry since it was rendered
    (``entries``): under the book's lock, as an inscription drops the pages it changes
    (``Publisher.pages_stale``) under the same lock. In the request's unit of work, which its
    entrypoint commits; one kept meanwhile by another request stays."""
    row = repo.lock_book(uow.session, code)
    if row is None or row.entries != entries:
        return
    repo.add_artifact(uow.session, path, code, made.content_type, made.body, at)
