"""The book's unit of work held in memory (cosmicpython's ``FakeUnitOfWork``): the same methods
as ``services.book.work.Work`` — its books (``repository.Books``), its publications
(``publisher.Publications``), the outbox and the audit record — over lists and dicts, so that a
use case runs without a database. What it wrote, published, emitted and recorded is there to
look at; it never commits (the entrypoint would)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

from services.book.domain.book import Book
from services.book.domain.entries import REVOCATION, Entry
from services.book.domain.witness import SignedHead
from shared.org import Organisation
from tests.fake_work import FakeUnitOfWork


class FakeBooks:
    def __init__(self) -> None:
        self.by_code: dict[str, Book] = {}
        self.entries: dict[tuple[str, int], Entry] = {}
        self.sources: dict[str, tuple[str, int]] = {}
        self.heads: list[SignedHead] = []
        self.counted: list[tuple[str, object]] = []  # (book kind, deed id) of each entry counted (R16)
        self.locked: list[str] = []

    def get(self, code: str) -> Book | None:
        return self.by_code.get(code)

    def lock(self, code: str) -> Book | None:
        if code in self.by_code:
            self.locked.append(code)
        return self.by_code.get(code)

    def every(self) -> list[Book]:
        return [self.by_code[c] for c in sorted(self.by_code)]

    def add(self, code: str, name: str, kind: str, at: dt.datetime) -> None:
        assert code not in self.by_code
        self.by_code[code] = Book(code, name, kind, 0, None, at)

    def rename(self, code: str, name: str) -> None:
        self.by_code[code] = replace(self.by_code[code], name=name)

    def close(self, code: str, at: dt.datetime) -> None:
        self.by_code[code] = replace(self.by_code[code], closed_at=at)

    def advance(self, code: str, seq: int, head: str, at: dt.datetime) -> None:
        self.by_code[code] = replace(self.by_code[code], entries=seq, head=head, updated_at=at)

    def pages_published(self, code: str, seq: int) -> None:
        self.by_code[code] = replace(self.by_code[code], pages_seq=seq)

    def append(self, entry: Entry, source: str, at: dt.datetime) -> None:
        # The table's unique keys: (book, seq) and the command's source.
        assert (entry.book, entry.seq) not in self.entries and source not in self.sources
        self.entries[(entry.book, entry.seq)] = entry
        self.sources[source] = (entry.book, entry.seq)

    def entry(self, code: str, seq: int) -> Entry | None:
        return self.entries.get((code, seq))

    def revoked_by(self, code: str, seq: int) -> int | None:
        return next((e.seq for (c, _), e in self.entries.items() if c == code and e.kind == REVOCATION
                     and e.revokes == seq), None)

    def source_exists(self, source: str) -> bool:
        return source in self.sources

    def deed_revoked(self, deed_id: str) -> bool:
        return any(e.kind == REVOCATION and str(e.deed_id) == deed_id for e in self.entries.values())

    def add_head(self, signed: SignedHead) -> None:
        self.heads.append(signed)

    def count(self, book_kind: str, deed_id: object, at: dt.datetime) -> None:
        self.counted.append((book_kind, deed_id))

    def of(self, code: str) -> list[Entry]:
        """A book's entries by seq."""
        return [e for (c, _), e in sorted(self.entries.items()) if c == code]


class FakePublisher:
    def __init__(self, published: list[tuple[Any, ...]]) -> None:
        self.published = published

    def book_created(self, code: str, at: dt.datetime) -> None:
        self.published.append(("book_created", code))

    def globals_changed(self, at: dt.datetime) -> None:
        self.published.append(("globals_changed",))


class FakePublications:
    def __init__(self) -> None:
        self.published: list[tuple[Any, ...]] = []

    def of(self, org: Organisation | None) -> FakePublisher:
        return FakePublisher(self.published)

    def entries_changed(self, org: Organisation | None, code: str, touched: set[int], at: dt.datetime,
                        part: str = "all", signed: SignedHead | None = None) -> None:
        self.published.append(("entries_changed", code, sorted(touched), part))

    def certificate_revoked(self, code: str, seq: int) -> None:
        self.published.append(("certificate_revoked", code, seq))


class FakeWork(FakeUnitOfWork):
    """What a use case of the book is given as its unit of work."""

    def __init__(self) -> None:
        super().__init__()
        self.books = FakeBooks()
        self.publications = FakePublications()
