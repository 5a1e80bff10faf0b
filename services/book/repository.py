"""Reading and writing the book service's tables (never commits: use cases do)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.book.domain.chain import canonical_text
from services.book.domain.entries import REVOCATION, instant_text
from services.book.orm import artifacts, books, entries

_ENTRY_COLUMNS = (
    entries.c.book, entries.c.seq, entries.c.kind, entries.c.revokes, entries.c.reason, entries.c.deed,
    entries.c.decision, entries.c.tally, entries.c.inscribed_at, entries.c.prev_hash, entries.c.hash,
)


# -- books --------------------------------------------------------------------------------------
def get_book(session: Session, code: str) -> sa.Row | None:
    return session.execute(sa.select(books).where(books.c.code == code)).first()


def lock_book(session: Session, code: str) -> sa.Row | None:
    """The book's head row, locked until the transaction ends (R15: gap-free numbering).

    PostgreSQL: ``SELECT … FOR UPDATE``; SQLite writers already hold the database's write lock
    from ``BEGIN IMMEDIATE``.
    """
    return session.execute(sa.select(books).where(books.c.code == code).with_for_update()).first()


def all_books(session: Session) -> list[sa.Row]:
    return list(session.execute(sa.select(books).order_by(books.c.code)))


def add_book(session: Session, code: str, name: str, kind: str, now: dt.datetime) -> None:
    session.execute(books.insert().values(code=code, name=name, kind=kind, entries=0, head=None, created_at=now))


def rename_book(session: Session, code: str, name: str) -> None:
    session.execute(books.update().where(books.c.code == code).values(name=name))


def advance_book(session: Session, code: str, seq: int, head: str, at: dt.datetime) -> None:
    session.execute(books.update().where(books.c.code == code).values(entries=seq, head=head, updated_at=at))


# -- entries ------------------------------------------------------------------------------------
def stored(row: sa.Row) -> dict[str, Any]:
    """An entry as stored: nested parts as their JSON text, the instant as the chain writes it."""
    data = dict(row._mapping)
    data["inscribed_at"] = instant_text(data["inscribed_at"])
    return {c.name: data[c.name] for c in _ENTRY_COLUMNS}


def decoded(row: sa.Row) -> dict[str, Any]:
    """An entry with its nested parts as values (what the API and the publications show)."""
    data = stored(row)
    for name in ("deed", "decision", "tally"):
        data[name] = json.loads(data[name]) if data[name] is not None else None
    return data


def insert_entry(session: Session, fields: Mapping[str, Any], source: str, at: dt.datetime) -> None:
    """Append a sealed entry; its nested parts are written as their canonical text (R15)."""
    values = {name: fields[name] for name in ("book", "seq", "kind", "revokes", "reason", "prev_hash", "hash")}
    for name in ("deed", "decision", "tally"):
        values[name] = canonical_text(fields[name]) if fields[name] is not None else None
    session.execute(entries.insert().values(**values, inscribed_at=at, source=source))


def source_exists(session: Session, source: str) -> bool:
    return session.execute(sa.select(entries.c.id).where(entries.c.source == source)).first() is not None


def stored_entries(session: Session, code: str) -> list[dict[str, Any]]:
    rows = session.execute(sa.select(*_ENTRY_COLUMNS).where(entries.c.book == code).order_by(entries.c.seq, entries.c.id))
    return [stored(r) for r in rows]


def book_entries(session: Session, code: str) -> list[dict[str, Any]]:
    rows = session.execute(sa.select(*_ENTRY_COLUMNS).where(entries.c.book == code).order_by(entries.c.seq))
    return [decoded(r) for r in rows]


def every_entry(session: Session) -> list[dict[str, Any]]:
    rows = session.execute(sa.select(*_ENTRY_COLUMNS).order_by(entries.c.book, entries.c.seq))
    return [decoded(r) for r in rows]


def entries_page(session: Session, code: str, after: int, limit: int) -> list[dict[str, Any]]:
    rows = session.execute(
        sa.select(*_ENTRY_COLUMNS)
        .where(entries.c.book == code, entries.c.seq > after)
        .order_by(entries.c.seq)
        .limit(limit)
    )
    return [decoded(r) for r in rows]


def entry(session: Session, code: str, seq: int) -> dict[str, Any] | None:
    row = session.execute(sa.select(*_ENTRY_COLUMNS).where(entries.c.book == code, entries.c.seq == seq)).first()
    return decoded(row) if row else None


def revocations_of(session: Session, code: str, seqs: list[int]) -> dict[int, int]:
    """{revoked seq: seq of the revocation} for the given entries of a book."""
    if not seqs:
        return {}
    rows = session.execute(
        sa.select(entries.c.revokes, entries.c.seq).where(
            entries.c.book == code, entries.c.kind == REVOCATION, entries.c.revokes.in_(seqs)
        )
    )
    return {r.revokes: r.seq for r in rows}


# -- artifacts ----------------------------------------------------------------------------------
def etag_of(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:40]


def get_artifact(session: Session, path: str) -> sa.Row | None:
    return session.execute(sa.select(artifacts).where(artifacts.c.path == path)).first()


def lock_artifact(session: Session, path: str) -> sa.Row | None:
    return session.execute(sa.select(artifacts.c.path).where(artifacts.c.path == path).with_for_update()).first()


def put_artifact(
    session: Session, path: str, book: str | None, content_type: str, body: bytes, at: dt.datetime
) -> bool:
    """Store what is published at ``path``; an unchanged body keeps its ETag and date."""
    etag = etag_of(body)
    current = session.execute(
        sa.select(artifacts.c.etag, artifacts.c.content_type).where(artifacts.c.path == path)
    ).first()
    if current is not None and current.etag == etag and current.content_type == content_type:
        return False
    values = {"book": book, "content_type": content_type, "body": body, "etag": etag, "updated_at": at}
    if current is None:
        session.execute(artifacts.insert().values(path=path, **values))
    else:
        session.execute(artifacts.update().where(artifacts.c.path == path).values(**values))
    return True


def drop_artifacts(session: Session, book: str) -> None:
    session.execute(artifacts.delete().where(artifacts.c.book == book))
