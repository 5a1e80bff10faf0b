"""The reference the bounded publisher is held to: every publication rendered from every entry of
the book (and the figures recounted from every entry of every book), as it was done before the
publisher read only what it shows."""

from __future__ import annotations

import json
from typing import Any

from services.book import repository as repo
from services.book.domain import publication as pub
from services.book.domain.entries import INSCRIPTION, Entry
from services.book.domain.figures import figures
from services.book.domain.publication import PublicItem
from services.book.publication import feeds, pages, pdf
from services.book.publication.publisher import JSON, Publisher, Rendered


class WholeBook(Publisher):
    """A publisher that reads whole books."""

    def __init__(self, session: Any, org: Any) -> None:
        super().__init__(session, org)
        self._whole: dict[str, tuple[Any, list[Entry], list[PublicItem]] | None] = {}

    def _book(self, code: str) -> tuple[Any, list[Entry], list[PublicItem]] | None:
        if code not in self._whole:
            book = repo.get_book(self.session, code)
            rows = repo.book_entries(self.session, code) if book is not None else []
            self._whole[code] = (book, rows, pub.public_items(code, rows)) if book is not None else None
        return self._whole[code]

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
            signed_head=self.signed_head(code, count),
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
        return Rendered(pages.HTML, pages.book_page(
            self.context(), code, book.name, items, book.entries, book.head, self.signed_head(code, book.entries)
        ))

    def period_page(self, code: str, period: str) -> Rendered | None:
        found = self._book(code)
        if found is None or not pub.valid_period(period):
            return None
        book, _rows, items = found
        body = pages.period_page(self.context(), code, book.name, period, items, book.entries, book.head)
        return Rendered(pages.HTML, body)

    def certificate(self, code: str, seq: int, origin: str | None = None) -> Rendered | None:
        found = self._book(code)
        if found is None:
            return None
        book, _rows, items = found
        item = next((i for i in items if i.seq == seq and i.kind == INSCRIPTION), None)
        if item is None:
            return None
        verify_url = f"{origin}/verify/{code}/{seq}" if origin else None
        return Rendered(pdf.PDF, pdf.certificate(self.context(), book.name, item, verify_url))

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

