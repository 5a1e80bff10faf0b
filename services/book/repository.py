"""All of the book's SQL: its books, entries, signed heads, running figures and stored
publications. Never commits: whoever opened the unit of work does (``work.Work``).

SQLAlchemy Core over the tables ``orm.py`` declares, as in the other services: a use case gets
frozen domain dataclasses back (``Book``, ``Entry``) through ``Books``, which a fake unit of work
holds as easily (tests/book/fakes.py); the publications read the rows by the module's functions.
Statements of constant shape are built once (compiled once).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.book.domain.book import Book
from services.book.domain.chain import canonical_text
from services.book.domain.entries import INSCRIPTION, REVOCATION, Entry, indexed_fields, instant_text
from services.book.domain.figures import PROVINCE_SCOPE, count_key, scope_of
from services.book.domain.witness import SignedHead
from services.book.orm import artifacts, books, entries, figure_counts, figure_deeds, heads

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


def close_book(session: Session, code: str, at: dt.datetime) -> None:
    session.execute(books.update().where(books.c.code == code).values(closed_at=at))


def advance_book(session: Session, code: str, seq: int, head: str, at: dt.datetime) -> None:
    session.execute(books.update().where(books.c.code == code).values(entries=seq, head=head, updated_at=at))


def pages_published(session: Session, code: str, seq: int) -> None:
    session.execute(books.update().where(books.c.code == code).values(pages_seq=seq))


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


def entry_of(row: sa.Row) -> Entry:
    """An entry as a use case and the publications read it (``decoded``)."""
    return Entry.of(decoded(row))


def insert_entry(session: Session, fields: Mapping[str, Any], source: str, at: dt.datetime) -> None:
    """Append a sealed entry; its nested parts are written as their canonical text (R15)."""
    values = {name: fields[name] for name in ("book", "seq", "kind", "revokes", "reason", "prev_hash", "hash")}
    for name in ("deed", "decision", "tally"):
        values[name] = canonical_text(fields[name]) if fields[name] is not None else None
    session.execute(entries.insert().values(**values, **indexed_fields(fields), inscribed_at=at, source=source))


def deed_revoked(session: Session, deed_id: str) -> bool:
    """R15a: whether any book holds a revocation of this deed's recognition."""
    return session.execute(
        sa.select(entries.c.id).where(entries.c.deed_id == deed_id, entries.c.kind == "revocation").limit(1)
    ).first() is not None


def source_exists(session: Session, source: str) -> bool:
    return session.execute(sa.select(entries.c.id).where(entries.c.source == source)).first() is not None


def stored_entries(session: Session, code: str) -> list[dict[str, Any]]:
    rows = session.execute(sa.select(*_ENTRY_COLUMNS).where(entries.c.book == code).order_by(entries.c.seq, entries.c.id))
    return [stored(r) for r in rows]


def book_entries(session: Session, code: str) -> list[Entry]:
    rows = session.execute(sa.select(*_ENTRY_COLUMNS).where(entries.c.book == code).order_by(entries.c.seq))
    return [entry_of(r) for r in rows]


def every_entry(session: Session) -> list[Entry]:
    rows = session.execute(sa.select(*_ENTRY_COLUMNS).order_by(entries.c.book, entries.c.seq))
    return [entry_of(r) for r in rows]


def entries_page(session: Session, code: str, after: int, limit: int) -> list[Entry]:
    rows = session.execute(
        sa.select(*_ENTRY_COLUMNS)
        .where(entries.c.book == code, entries.c.seq > after)
        .order_by(entries.c.seq)
        .limit(limit)
    )
    return [entry_of(r) for r in rows]


def entry(session: Session, code: str, seq: int) -> Entry | None:
    row = session.execute(sa.select(*_ENTRY_COLUMNS).where(entries.c.book == code, entries.c.seq == seq)).first()
    return entry_of(row) if row else None


def entries_between(session: Session, code: str, first: int, last: int) -> list[Entry]:
    """Entries ``first`` to ``last`` of a book, by seq (one feed document's)."""
    rows = session.execute(
        sa.select(*_ENTRY_COLUMNS)
        .where(entries.c.book == code, entries.c.seq >= first, entries.c.seq <= last)
        .order_by(entries.c.seq)
    )
    return [entry_of(r) for r in rows]


def entries_at(session: Session, code: str, seqs: list[int]) -> list[Entry]:
    rows = session.execute(
        sa.select(*_ENTRY_COLUMNS).where(entries.c.book == code, entries.c.seq.in_(seqs)).order_by(entries.c.seq)
    )
    return [entry_of(r) for r in rows]


def inscriptions_of_period(session: Session, code: str, period: str) -> list[Entry]:
    """The inscriptions of a month's or a quarter's honour roll, by seq (``period_matches``:
    a month holds its own period; a quarter its own and its months')."""
    on_roll = entries.c.period == period
    if "Q" in period:
        on_roll = sa.or_(on_roll, entries.c.quarter == period)
    rows = session.execute(
        sa.select(*_ENTRY_COLUMNS)
        .where(entries.c.book == code, entries.c.kind == INSCRIPTION, on_roll)
        .order_by(entries.c.seq)
    )
    return [entry_of(r) for r in rows]


def latest_inscriptions(session: Session, code: str, limit: int) -> list[Entry]:
    """The newest ``limit`` inscriptions of a book, by seq."""
    rows = session.execute(
        sa.select(*_ENTRY_COLUMNS)
        .where(entries.c.book == code, entries.c.kind == INSCRIPTION)
        .order_by(entries.c.seq.desc())
        .limit(limit)
    )
    return [entry_of(r) for r in reversed(rows.all())]


def revoking(session: Session, code: str, seqs: list[int]) -> dict[int, dict[str, Any]]:
    """{revoked seq: {"seq", "reason"} of the revocation} for the given entries of a book."""
    if not seqs:
        return {}
    rows = session.execute(
        sa.select(entries.c.revokes, entries.c.seq, entries.c.reason).where(
            entries.c.book == code, entries.c.kind == REVOCATION, entries.c.revokes.in_(seqs)
        )
    )
    return {r.revokes: {"seq": r.seq, "reason": r.reason} for r in rows}


def periods_at(session: Session, code: str, seqs: list[int]) -> dict[int, str | None]:
    if not seqs:
        return {}
    rows = session.execute(sa.select(entries.c.seq, entries.c.period).where(entries.c.book == code, entries.c.seq.in_(seqs)))
    return {r.seq: r.period for r in rows}


def period_tally(session: Session, code: str) -> list[tuple[str | None, int, int]]:
    """(period, inscriptions, of them revoked) for every period a book has inscriptions in."""
    # The book's revoked seqs as one uncorrelated set (hashed once), never a join per entry.
    revoked = sa.select(entries.c.revokes).where(entries.c.book == code, entries.c.kind == REVOCATION)
    rows = session.execute(
        sa.select(
            entries.c.period,
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(sa.case((entries.c.seq.in_(revoked.scalar_subquery()), 1), else_=0)), 0),
        )
        .where(entries.c.book == code, entries.c.kind == INSCRIPTION)
        .group_by(entries.c.period)
    )
    return [(r[0], int(r[1]), int(r[2])) for r in rows]


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


# -- signed heads (R15b) -----------------------------------------------------------------------
_HEAD_COLUMNS = (heads.c.book, heads.c.entries, heads.c.head, heads.c.signed_at, heads.c.signature, heads.c.key_id)
_ADD_HEAD = heads.insert()
_HEAD_AT = sa.select(*_HEAD_COLUMNS).where(heads.c.book == sa.bindparam("b"), heads.c.entries == sa.bindparam("n"))


def _signed(row: sa.Row) -> SignedHead:
    return SignedHead(row.book, row.entries, row.head, row.signed_at, row.signature, row.key_id)


def add_head(session: Session, signed: SignedHead) -> None:
    session.execute(_ADD_HEAD, signed.public())


def head_at(session: Session, code: str, entries_count: int) -> SignedHead | None:
    """The head signed when the book reached ``entries_count`` entries."""
    row = session.execute(_HEAD_AT, {"b": code, "n": entries_count}).first()
    return _signed(row) if row else None


def heads_page(session: Session, code: str, before: int | None, limit: int) -> list[SignedHead]:
    """A book's signed heads, newest first, those before ``before`` entries when given."""
    query = sa.select(*_HEAD_COLUMNS).where(heads.c.book == code)
    if before is not None:
        query = query.where(heads.c.entries < before)
    rows = session.execute(query.order_by(heads.c.entries.desc()).limit(limit))
    return [_signed(r) for r in rows]


def all_heads(session: Session, code: str) -> list[SignedHead]:
    rows = session.execute(sa.select(*_HEAD_COLUMNS).where(heads.c.book == code).order_by(heads.c.entries))
    return [_signed(r) for r in rows]


# -- the running figures (R16) ------------------------------------------------------------------
def _in_scope(in_province: bool) -> sa.ColumnElement[bool]:
    province = sa.select(books.c.code).where(books.c.kind == "province")
    return entries.c.book.in_(province) if in_province else entries.c.book.not_in(province)


def _first_standing(in_province: bool, no_deed: bool) -> sa.Select:
    revocation = entries.alias("revocation")
    same_deed = entries.c.deed_id.is_(None) if no_deed else entries.c.deed_id == sa.bindparam("deed_id")
    return (
        sa.select(entries.c.book, entries.c.seq, entries.c.quarter, entries.c.unit)
        .where(
            same_deed,
            entries.c.kind == INSCRIPTION,
            _in_scope(in_province),
            ~sa.exists().where(
                revocation.c.book == entries.c.book,
                revocation.c.revokes == entries.c.seq,
                revocation.c.kind == REVOCATION,
            ),
        )
        .order_by(entries.c.book, entries.c.seq)
        .limit(1)
    )


# The statements of every inscription's figures, built once with bound parameters: building them
# per call (the subquery, the alias, the cache key) cost more than running them (R16).
_FIRST_STANDING = {(p, n): _first_standing(p, n) for p in (True, False) for n in (True, False)}
_FIGURE_KEY = (figure_deeds.c.scope == sa.bindparam("k_scope"), figure_deeds.c.deed_id == sa.bindparam("k_deed"))
_COUNTED = sa.select(figure_deeds.c.book, figure_deeds.c.seq, figure_deeds.c.quarter, figure_deeds.c.unit).where(
    *_FIGURE_KEY
)
_UNCOUNT = figure_deeds.delete().where(*_FIGURE_KEY)
_COUNT = figure_deeds.insert()
_RECOUNT = figure_deeds.update().where(*_FIGURE_KEY)
_BUMP = figure_counts.update().where(
    figure_counts.c.scope == sa.bindparam("k_scope"),
    figure_counts.c.quarter == sa.bindparam("k_quarter"),
    figure_counts.c.unit == sa.bindparam("k_unit"),
).values(deeds=figure_counts.c.deeds + sa.bindparam("by", type_=sa.Integer))


def settle_figure(session: Session, scope: str, deed_id: str | None) -> None:
    """Count deed ``deed_id`` in ``scope`` at the first of its standing inscriptions by (book, seq),
    or not at all (R16), after an entry of it was added. The caller holds the figures' lock."""
    first = session.execute(
        _FIRST_STANDING[(scope == PROVINCE_SCOPE, deed_id is None)], {} if deed_id is None else {"deed_id": deed_id}
    ).first()
    key = {"k_scope": scope, "k_deed": count_key(deed_id)}
    counted = session.execute(_COUNTED, key).first()
    new = (first.book, first.seq, first.quarter or "", first.unit or "") if first else None
    old = tuple(counted) if counted else None
    if new == old:
        return
    if old is not None:
        _bump(session, scope, old[2], old[3], -1)
    if new is not None:
        _bump(session, scope, new[2], new[3], +1)
    values = dict(zip(("book", "seq", "quarter", "unit"), new, strict=True)) if new else {}
    if new is None:
        session.execute(_UNCOUNT, key)
    elif old is None:
        session.execute(_COUNT, {"scope": scope, "deed_id": count_key(deed_id), **values})
    else:
        session.execute(_RECOUNT, {**key, **values})


def _bump(session: Session, scope: str, quarter: str, unit: str, by: int) -> None:
    done = session.execute(_BUMP, {"k_scope": scope, "k_quarter": quarter, "k_unit": unit, "by": by})
    if done.rowcount == 0:
        session.execute(figure_counts.insert(), {"scope": scope, "quarter": quarter, "unit": unit, "deeds": by})


def figure_counts_now(session: Session) -> list[tuple[str, str, str, int]]:
    rows = session.execute(
        sa.select(figure_counts.c.scope, figure_counts.c.quarter, figure_counts.c.unit, figure_counts.c.deeds).where(
            figure_counts.c.deeds > 0
        )
    )
    return [tuple(r) for r in rows]


def units_first_counted(session: Session, scope: str, units: list[str]) -> list[str]:
    """The given units in the order of their first counted deed by (book, seq)."""
    rows = session.execute(
        sa.select(figure_deeds.c.unit)
        .where(figure_deeds.c.scope == scope, figure_deeds.c.unit.in_(units))
        .order_by(figure_deeds.c.book, figure_deeds.c.seq)
    )
    return list(dict.fromkeys(r.unit for r in rows))


# -- artifacts ----------------------------------------------------------------------------------
FIGURES_PATH = "/api/v1/figures"
_JSON = "application/json; charset=utf-8"


def lock_globals(session: Session, at: dt.datetime) -> None:
    """The lock every writer of the global publications and of the figures' counts takes, after
    its book's (always in that order): the figures' artifact row."""
    if lock_artifact(session, FIGURES_PATH) is None:
        # Never over a row a concurrent first writer stored meanwhile (PostgreSQL waits for it):
        # its figures stay, and the row is locked once it is there.
        add_artifact(session, FIGURES_PATH, None, _JSON, b"{}", at)
        lock_artifact(session, FIGURES_PATH)


def etag_of(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:40]


def get_artifact(session: Session, path: str) -> sa.Row | None:
    return session.execute(sa.select(artifacts).where(artifacts.c.path == path)).first()


def artifact_head(session: Session, path: str) -> sa.Row | None:
    """What is stored at ``path`` but its body (enough to answer a conditional request)."""
    return session.execute(
        sa.select(artifacts.c.content_type, artifacts.c.etag, artifacts.c.updated_at).where(artifacts.c.path == path)
    ).first()


def book_with_artifact(session: Session, code: str, path: str, body: bool) -> sa.Row | None:
    """A book's row and what is stored at ``path`` (columns None when nothing is), in one query;
    the body only when asked for."""
    columns = [artifacts.c.content_type, artifacts.c.etag, artifacts.c.updated_at.label("artifact_updated_at")]
    if body:
        columns.append(artifacts.c.body)
    query = sa.select(books, *columns).select_from(
        books.outerjoin(artifacts, artifacts.c.path == path)
    ).where(books.c.code == code)
    return session.execute(query).first()


def drop_artifact(session: Session, path: str) -> None:
    session.execute(artifacts.delete().where(artifacts.c.path == path))


def drop_artifact_variants(session: Session, path: str) -> None:
    """Drop what is stored at ``path`` and at ``path?…`` (its copies made for other origins)."""
    session.execute(artifacts.delete().where(
        sa.or_(artifacts.c.path == path, artifacts.c.path.startswith(path + "?", autoescape=True))
    ))


def lock_artifact(session: Session, path: str) -> sa.Row | None:
    return session.execute(sa.select(artifacts.c.path).where(artifacts.c.path == path).with_for_update()).first()


def _upsert_artifact(insert: Any, returning: bool = True) -> Any:
    stmt = insert(artifacts)
    upsert = stmt.on_conflict_do_update(
        index_elements=[artifacts.c.path],
        set_={name: stmt.excluded[name] for name in ("book", "content_type", "body", "etag", "updated_at")},
        where=sa.or_(
            artifacts.c.etag.is_distinct_from(stmt.excluded.etag),
            artifacts.c.content_type.is_distinct_from(stmt.excluded.content_type),
        ),
    )
    return upsert.returning(artifacts.c.path) if returning else upsert


# One statement per stored publication, of constant shape (compiled once), where a read and then
# an UPDATE or INSERT cost two round trips each, four or more times per inscription (R16). A row
# comes back only if one was written: a conflict whose WHERE is false writes and returns nothing.
# SQLite takes the WHERE of DO UPDATE and RETURNING from 3.35 on.
_PUT_ARTIFACT = {"postgresql": _upsert_artifact(postgresql.insert), "sqlite": _upsert_artifact(sqlite.insert)}
_PUT_ARTIFACTS = {
    "postgresql": _upsert_artifact(postgresql.insert, returning=False),
    "sqlite": _upsert_artifact(sqlite.insert, returning=False),
}
_ADD_ARTIFACT = {
    "postgresql": postgresql.insert(artifacts).on_conflict_do_nothing(index_elements=[artifacts.c.path]),
    "sqlite": sqlite.insert(artifacts).on_conflict_do_nothing(index_elements=[artifacts.c.path]),
}


def _artifact_values(path: str, book: str | None, content_type: str, body: bytes, at: dt.datetime) -> dict[str, Any]:
    return {"path": path, "book": book, "content_type": content_type, "body": body, "etag": etag_of(body),
            "updated_at": at}


def put_artifact(
    session: Session, path: str, book: str | None, content_type: str, body: bytes, at: dt.datetime
) -> bool:
    """Store what is published at ``path``; an unchanged body keeps its ETag and date (returns
    False), so conditional requests still answer 304. Returns whether anything was written."""
    stmt = _PUT_ARTIFACT[session.get_bind().dialect.name]
    written = session.execute(stmt, _artifact_values(path, book, content_type, body, at)).first()
    return written is not None


def put_artifacts(
    session: Session, rows: list[tuple[str, str | None, str, bytes]], at: dt.datetime
) -> None:
    """``put_artifact`` of several (path, book, content type, body), distinct paths, in one
    executemany (one round trip on PostgreSQL, whose driver pipelines it)."""
    if rows:
        session.execute(_PUT_ARTIFACTS[session.get_bind().dialect.name], [
            _artifact_values(path, book, content_type, body, at) for path, book, content_type, body in rows
        ])


def add_artifact(session: Session, path: str, book: str | None, content_type: str, body: bytes, at: dt.datetime) -> None:
    """Store ``body`` at ``path`` unless something is stored there already (then leave it be)."""
    stmt = _ADD_ARTIFACT[session.get_bind().dialect.name]
    session.execute(stmt, _artifact_values(path, book, content_type, body, at))


def delete_artifacts(session: Session, paths: list[str]) -> None:
    if paths:
        session.execute(artifacts.delete().where(artifacts.c.path.in_(paths)))


def drop_artifacts(session: Session, book: str) -> None:
    session.execute(artifacts.delete().where(artifacts.c.book == book))


# -- what a use case reads and writes -----------------------------------------------------------
def book_of(row: sa.Row) -> Book:
    return Book(row.code, row.name, row.kind, row.entries, row.head, row.created_at, row.updated_at,
                row.pages_seq, row.closed_at)


class Books:
    """The golden books, their entries, signed heads and figures' counts, in one unit of work."""

    def __init__(self, session: Callable[[], Session]) -> None:
        self._session = session

    @property
    def _s(self) -> Session:
        return self._session()

    def get(self, code: str) -> Book | None:
        row = get_book(self._s, code)
        return book_of(row) if row is not None else None

    def lock(self, code: str) -> Book | None:
        """R15: the book's row, locked until the transaction ends (``lock_book``)."""
        row = lock_book(self._s, code)
        return book_of(row) if row is not None else None

    def every(self) -> list[Book]:
        return [book_of(r) for r in all_books(self._s)]

    def add(self, code: str, name: str, kind: str, at: dt.datetime) -> None:
        add_book(self._s, code, name, kind, at)

    def rename(self, code: str, name: str) -> None:
        rename_book(self._s, code, name)

    def close(self, code: str, at: dt.datetime) -> None:
        close_book(self._s, code, at)

    def advance(self, code: str, seq: int, head: str, at: dt.datetime) -> None:
        advance_book(self._s, code, seq, head, at)

    def pages_published(self, code: str, seq: int) -> None:
        pages_published(self._s, code, seq)

    def append(self, entry: Entry, source: str, at: dt.datetime) -> None:
        insert_entry(self._s, entry.fields(), source, at)

    def entry(self, code: str, seq: int) -> Entry | None:
        return entry(self._s, code, seq)

    def revoked_by(self, code: str, seq: int) -> int | None:
        """R15a: the seq of the entry's revocation, or None."""
        return revocations_of(self._s, code, [seq]).get(seq)

    def source_exists(self, source: str) -> bool:
        return source_exists(self._s, source)

    def deed_revoked(self, deed_id: str) -> bool:
        return deed_revoked(self._s, deed_id)

    def add_head(self, signed: SignedHead) -> None:
        add_head(self._s, signed)

    def count(self, book_kind: str, deed_id: object, at: dt.datetime) -> None:
        """R16: keep the running figures' counts in step with an entry of the deed just added."""
        lock_globals(self._s, at)
        settle_figure(self._s, scope_of(book_kind), None if deed_id is None else str(deed_id))
