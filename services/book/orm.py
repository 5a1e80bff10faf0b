"""The book service's tables (created only by its migrations).

``entries`` is append-only: a row is never updated or deleted. Its nested parts (deed, decision,
tally) are stored as their canonical JSON text, exactly the bytes the hash chain covers (R15).
``books`` holds each book's head: the row locked while appending, so numbering stays gap-free.
``artifacts`` holds what is published (feeds, pages, PDFs, figures), keyed by URL path and
generated when entries arrive.
"""

from __future__ import annotations

import sqlalchemy as sa

from shared.db import Instant

metadata = sa.MetaData()

books = sa.Table(
    "books",
    metadata,
    sa.Column("code", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # unit | province
    sa.Column("entries", sa.Integer, nullable=False, default=0),
    sa.Column("head", sa.String(64), nullable=True),  # hash of the last entry
    sa.Column("created_at", Instant, nullable=False),
    sa.Column("updated_at", Instant, nullable=True),  # when the last entry was appended
)

entries = sa.Table(
    "entries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("book", sa.String(32), sa.ForeignKey("books.code"), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # inscription | revocation
    sa.Column("revokes", sa.Integer, nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("deed", sa.Text, nullable=False),
    sa.Column("decision", sa.Text, nullable=True),
    sa.Column("tally", sa.Text, nullable=True),
    sa.Column("inscribed_at", Instant, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    # Natural key of the command that made the entry: a redelivered Inscribe creates nothing.
    sa.Column("source", sa.String(255), nullable=False),
    sa.UniqueConstraint("source", name="uq_entries_source"),
    sa.UniqueConstraint("book", "seq", name="uq_entries_book_seq"),
    # R15a: an entry is revoked at most once.
    sa.UniqueConstraint("book", "revokes", name="uq_entries_book_revokes"),
)

artifacts = sa.Table(
    "artifacts",
    metadata,
    sa.Column("path", sa.String(255), primary_key=True),
    sa.Column("book", sa.String(32), nullable=True, index=True),
    sa.Column("content_type", sa.String(100), nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("etag", sa.String(80), nullable=False),
    sa.Column("updated_at", Instant, nullable=False),
)
