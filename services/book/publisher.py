"""R16: generating what is published when entries arrive, and serving it.

Every publication is an artifact keyed by its URL path, written in the same transaction as the
entry that changed it (so a page never shows an entry the book does not hold). Requests read the
stored artifact; one that was never generated (an empty period, say) is rendered on the spot
from the same functions.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from services.book import repository as repo
from services.book.domain import publication as pub
from services.book.domain.entries import INSCRIPTION, quarter_of
from services.book.domain.figures import figures
from services.book.domain.publication import PublicItem
from services.book.publication import feeds, pages, pdf
from shared.org import Organisation

FIGURES_PATH = "/api/v1/figures"
BOOKS_PAGE_PATH = "/honour-roll/"
JSON = "application/json; charset=utf-8"
DEFAULT_PROGRAMME = "Sổ vàng lập công – Mỗi ngày một việc tốt vì Nhân dân"


@dataclass(frozen=True)
class Rendered:
    content_type: str
    body: bytes


def feed_path(book: str, fmt: str, archive: int | None = None) -> str:
    return f"/feeds/{book}.{fmt}" if archive is None else f"/feeds/{book}/archive/{archive}.{fmt}"


def book_page_path(book: str) -> str:
    return f"/honour-roll/{book}/"


def period_page_path(book: str, period: str) -> str:
    return f"/honour-roll/{book}/{period}"


def certificate_path(book: str, seq: int) -> str:
    return f"/api/v1/books/{book}/entries/{seq}/certificate.pdf"


def press_path(quarter: str, fmt: str) -> str:
    return f"/press/{quarter}.{fmt}"


class Publisher:
    """Renders one service's publications from its tables (and stores them when asked)."""

    def __init__(self, session: Session, org: Organisation | None) -> None:
        self.session = session
        self.org = org
        # A publisher lives for one use case, after its writes: each book is read once.
        self._books: dict[str, tuple[Any, list[dict], list[PublicItem]] | None] = {}

    # -- what every publication says of the organisation ---------------------------------------
    @property
    def province(self) -> str:
        return self.org.province_code if self.org else "CAT"

    def context(self) -> pages.Context:
        org = self.org
        if org is None:
            return pages.Context("Công an tỉnh", DEFAULT_PROGRAMME, "2021-09-01", lambda code: code)
        return pages.Context(org.province_name, org.programme_name or DEFAULT_PROGRAMME, org.since, org.unit_name)

    def _book(self, code: str) -> tuple[Any, list[dict], list[PublicItem]] | None:
        if code not in self._books:
            book = repo.get_book(self.session, code)
            rows = repo.book_entries(self.session, code) if book is not None else []
            self._books[code] = (book, rows, pub.public_items(code, rows)) if book is not None else None
        return self._books[code]

    # -- rendering -------------------------------------------------------------------------------
    def feed(self, code: str, fmt: str, archive: int | None = None) -> Rendered | None:
        """A book's current feed document, or one of its archives (RFC 5005)."""
        found = self._book(code)
        if found is None:
            return None
        book, _rows, items = found
        archive_total = pub.archive_count(book.entries)
        if archive is not None and not 1 <= archive <= archive_total:
            return None
        first, last = pub.archive_range(archive) if archive else pub.current_range(book.entries)
        chosen = [i for i in items if first <= i.seq <= last]
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
            archive=archive,
            prev_archive=(archive - 1 if archive else archive_total) or None,
            next_archive=(archive + 1 if archive and archive < archive_total else None),
        )
        return Rendered(feeds.CONTENT_TYPES[fmt], feeds.RENDERERS[fmt](doc))

    def books_page(self) -> Rendered:
        return Rendered(pages.HTML, pages.books_page(self.context(), repo.all_books(self.session)))

    def book_page(self, code: str) -> Rendered | None:
        found = self._book(code)
        if found is None:
            return None
        book, _rows, items = found
        return Rendered(pages.HTML, pages.book_page(self.context(), code, book.name, items, book.entries, book.head))

    def period_page(self, code: str, period: str) -> Rendered | None:
        found = self._book(code)
        if found is None or not pub.valid_period(period):
            return None
        book, _rows, items = found
        body = pages.period_page(self.context(), code, book.name, period, items, book.entries, book.head)
        return Rendered(pages.HTML, body)

    def certificate(self, code: str, seq: int) -> Rendered | None:
        found = self._book(code)
        if found is None:
            return None
        book, _rows, items = found
        item = next((i for i in items if i.seq == seq and i.kind == INSCRIPTION), None)
        if item is None:
            return None
        return Rendered(pdf.PDF, pdf.certificate(self.context(), book.name, item))

    def figures(self) -> Rendered:
        units = sorted(self.org.units) if self.org else []
        data = figures(
            repo.every_entry(self.session), province_book=self.province, units=units, since=self.context().since
        )
        return Rendered(JSON, json.dumps(data, ensure_ascii=False).encode("utf-8"))

    def press(self, quarter: str, fmt: str, by_quarter: dict[str, int] | None = None) -> Rendered | None:
        """R16: the quarterly press release of the provincial book (HTML or PDF), with the
        running figure as it stood at the end of that quarter."""
        found = self._book(self.province)
        if found is None:
            return None
        _book, _rows, items = found
        if by_quarter is None:
            by_quarter = json.loads(self.figures().body)["by_quarter"]
        total = sum(n for q, n in by_quarter.items() if q <= quarter)
        if fmt == "pdf":
            return Rendered(pdf.PDF, pdf.press_release(self.context(), self.province, quarter, items, total))
        return Rendered(pages.HTML, pages.press_page(self.context(), self.province, quarter, items, total))

    # -- generating when entries arrive -------------------------------------------------------
    def _put(self, path: str, book: str | None, rendered: Rendered | None, at: dt.datetime) -> None:
        if rendered is not None:
            repo.put_artifact(self.session, path, book, rendered.content_type, rendered.body, at)

    def book_changed(self, code: str, touched: Iterable[int], at: dt.datetime) -> None:
        """Regenerate what entries ``touched`` of a book change (the new entry, the revoked one).

        The caller holds the book's lock; the global publications (figures, the list of books)
        are generated after taking the figures' lock, always in that order.
        """
        found = self._book(code)
        if found is None:
            return
        book, _rows, items = found
        touched = set(touched)
        by_seq = {i.seq: i for i in items}
        archives = pub.archive_count(book.entries)
        to_archive = {a for s in touched if (a := pub.archive_of(s, book.entries))}
        to_archive |= {a for a in (archives, archives - 1) if a >= 1}
        for fmt in feeds.RENDERERS:
            self._put(feed_path(code, fmt), code, self.feed(code, fmt), at)
            for a in sorted(to_archive):
                self._put(feed_path(code, fmt, a), code, self.feed(code, fmt, a), at)
        periods: set[str] = set()
        for seq in touched:
            item = by_seq.get(seq)
            if item is None:
                continue
            if item.kind == INSCRIPTION:
                self._put(certificate_path(code, seq), code, self.certificate(code, seq), at)
            if item.period:
                periods.add(item.period)
                if (quarter := quarter_of(item.period)) is not None:
                    periods.add(quarter)
        self._put(book_page_path(code), code, self.book_page(code), at)
        for period in sorted(periods):
            self._put(period_page_path(code, period), code, self.period_page(code, period), at)
        press: set[str] = set()
        if code == self.province and periods:
            # The running figure of every later release counts this book too.
            since = min(q for p in periods if (q := quarter_of(p)))
            press = {q for q in pub.quarters_of(items) if q >= since} | {p for p in periods if "Q" in p}
        self.globals_changed(at, press_quarters=press)

    def globals_changed(self, at: dt.datetime, press_quarters: Iterable[str] = ()) -> None:
        """The figures, the list of books and the press releases of the given quarters."""
        if repo.lock_artifact(self.session, FIGURES_PATH) is None:
            self._put(FIGURES_PATH, None, Rendered(JSON, b"{}"), at)
            repo.lock_artifact(self.session, FIGURES_PATH)
        current = self.figures()
        self._put(FIGURES_PATH, None, current, at)
        self._put(BOOKS_PAGE_PATH, None, self.books_page(), at)
        by_quarter = json.loads(current.body)["by_quarter"]
        for quarter in sorted(press_quarters):
            for fmt in ("html", "pdf"):
                self._put(press_path(quarter, fmt), self.province, self.press(quarter, fmt, by_quarter), at)

    def book_created(self, code: str, at: dt.datetime) -> None:
        """The first publications of a book (an empty feed, an empty honour roll)."""
        for fmt in feeds.RENDERERS:
            self._put(feed_path(code, fmt), code, self.feed(code, fmt), at)
        self._put(book_page_path(code), code, self.book_page(code), at)
