"""What the book service answers: queries ``fn(uow, ctx, …)`` over the unit of work their
entrypoint opened, read on its reader; nothing here writes. What they read is public (R16), so
none is told who asks. ``ctx.organisations()`` may be None (none loaded yet): the publications
then name the force in general terms."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa

from services.book import repository as repo
from services.book.domain.chain import Verdict, verify
from services.book.domain.entries import Entry
from services.book.domain.witness import SignedHead, Witnessed, check
from services.book.orm import books
from services.book.publication.publisher import Publisher, Rendered
from services.book.signing import keyring
from shared.context import Context
from shared.db import UnitOfWork

T = TypeVar("T")


def list_books(uow: UnitOfWork, ctx: Context, after: str | None, limit: int) -> list[Any]:
    query = sa.select(books).order_by(books.c.code).limit(limit)
    if after is not None:
        query = query.where(books.c.code > after)
    return list(uow.reader.execute(query))


def get_book(uow: UnitOfWork, ctx: Context, code: str) -> Any | None:
    return repo.get_book(uow.reader, code)


def entries_page(uow: UnitOfWork, ctx: Context, code: str, after: int,
                 limit: int) -> list[tuple[Entry, int | None]] | None:
    """(entry, seq of its revocation or None) after ``after``, by seq; None for an unknown book."""
    s = uow.reader
    if repo.get_book(s, code) is None:
        return None
    rows = repo.entries_page(s, code, after, limit)
    revoked = repo.revocations_of(s, code, [r.seq for r in rows])
    return [(r, revoked.get(r.seq)) for r in rows]


def get_entry(uow: UnitOfWork, ctx: Context, code: str, seq: int) -> tuple[Entry, int | None] | None:
    s = uow.reader
    row = repo.entry(s, code, seq)
    if row is None:
        return None
    return row, repo.revocations_of(s, code, [seq]).get(seq)


@dataclass(frozen=True)
class Checked:
    """A book checked (R15, R15b): the verdict on the whole (its first bad ``seq`` is the earliest
    that the chain or a signed head contradicts) and what the signed heads say."""

    verdict: Verdict
    witnessed: Witnessed


def combined(chain: Verdict, witnessed: Witnessed) -> Verdict:
    """The chain's verdict and the signed heads' together: invalid if either is, at the earlier
    of their first bad entries."""
    if witnessed.valid:
        return chain
    if not chain.valid and chain.first_bad_seq is not None and chain.first_bad_seq <= witnessed.first_bad_seq:
        return chain
    return Verdict(False, chain.entries, chain.head, witnessed.first_bad_seq, witnessed.problem)


def check_book(uow: UnitOfWork, ctx: Context, code: str) -> Checked | None:
    """R15, R15b: the book's stored entries checked against its chain, its recorded head and every
    head ever signed for it (the signatures by the keys in the keys folder, never the database)."""
    s = uow.reader
    book = repo.get_book(s, code)
    if book is None:
        return None
    rows = repo.stored_entries(s, code)
    heads = repo.all_heads(s, code)
    chain = verify(code, rows, recorded_entries=book.entries, recorded_head=book.head)
    hashes = {r["seq"]: r["hash"] for r in rows}
    count = max(hashes, default=0)
    witnessed = check(hashes, count, heads, keyring(ctx.settings).holds)
    return Checked(combined(chain, witnessed), witnessed)


def verify_book(uow: UnitOfWork, ctx: Context, code: str) -> Verdict | None:
    """R15, R15b: the verdict of ``check_book``."""
    checked = check_book(uow, ctx, code)
    return checked.verdict if checked else None


def heads_page(uow: UnitOfWork, ctx: Context, code: str, before: int | None, limit: int) -> list[SignedHead] | None:
    """R15b: a book's signed heads, newest first; None for an unknown book."""
    s = uow.reader
    if repo.get_book(s, code) is None:
        return None
    return repo.heads_page(s, code, before, limit)


@dataclass(frozen=True)
class EntryCheck:
    """What the verification page of one entry shows (R15b)."""

    book: Any
    item: Any  # the entry as the public sees it (``PublicItem``)
    checked: Checked
    signed_head: SignedHead | None  # the head signed when the entry was appended
    latest_head: SignedHead | None  # the book's newest signed head

    @property
    def holds(self) -> bool:
        """Whether the chain holds up to this entry."""
        bad = self.checked.verdict.first_bad_seq
        return self.checked.verdict.valid or (bad is not None and bad > self.item.seq)


def entry_check(uow: UnitOfWork, ctx: Context, code: str, seq: int) -> EntryCheck | None:
    """R15b: one entry, as the public sees it, and the book checked up to it; None when there is
    no such entry."""
    checked = check_book(uow, ctx, code)
    if checked is None:
        return None
    s = uow.reader
    book = repo.get_book(s, code)
    publisher = Publisher(s, ctx.organisations())
    rows = repo.entries_at(s, code, [seq])
    if not rows:
        return None
    item = publisher.items_of(code, rows)[0]
    signed = repo.head_at(s, code, seq)
    latest = repo.heads_page(s, code, None, 1)
    return EntryCheck(book, item, checked, signed, latest[0] if latest else None)


def artifact(uow: UnitOfWork, ctx: Context, path: str) -> Any | None:
    return repo.get_artifact(uow.reader, path)


def rendered(uow: UnitOfWork, ctx: Context, render: Callable[[Publisher], T]) -> T:
    """Render a publication on the spot (one that no entry has generated yet)."""
    return render(Publisher(uow.reader, ctx.organisations()))


@dataclass(frozen=True)
class Found:
    """A book and what is published at a path of it: stored, rendered now, or nothing (``etag``
    None). ``body`` is None when the request's validators matched and it was never read."""

    book: Any
    content_type: str | None = None
    etag: str | None = None
    modified: dt.datetime | None = None  # the stored artifact's; None when rendered now
    body: bytes | None = None
    stored: bool = False  # read from the artifacts (not rendered now)


@dataclass(frozen=True)
class BookHead:
    """The book row's columns, apart from any row of the query that read them (what a response
    kept for later requests holds, without the artifact's columns beside it)."""

    code: str
    name: str
    kind: str
    entries: int
    head: str | None
    created_at: dt.datetime
    updated_at: dt.datetime | None

    @classmethod
    def of(cls, row: Any) -> BookHead:
        return cls(row.code, row.name, row.kind, row.entries, row.head, row.created_at, row.updated_at)


def book_publication(
    uow: UnitOfWork,
    ctx: Context,
    code: str,
    path: str,
    render: Callable[[Publisher], Rendered | None],
    fresh: Callable[[str, dt.datetime | None], bool] | None = None,
) -> Found | None:
    """A book's publication at ``path`` in one read session: the book's row and the stored
    artifact in one query, the body skipped when ``fresh(etag, modified)`` says the asker has it
    (then read apart only if not); rendered by ``render`` when none is stored. None: no such book."""
    s = uow.reader
    row = repo.book_with_artifact(s, code, path, body=fresh is None)
    if row is None:
        return None
    if row.etag is not None:
        if fresh is not None and fresh(row.etag, row.artifact_updated_at):
            return Found(row, row.content_type, row.etag, row.artifact_updated_at, stored=True)
        if fresh is None:
            return Found(row, row.content_type, row.etag, row.artifact_updated_at, row.body, stored=True)
        stored = repo.get_artifact(s, path)
        if stored is not None:
            return Found(row, stored.content_type, stored.etag, stored.updated_at, stored.body, stored=True)
    made = render(Publisher(s, ctx.organisations()))
    if made is None:
        return Found(row)
    return Found(row, made.content_type, repo.etag_of(made.body), None, made.body)
