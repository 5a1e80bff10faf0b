"""The book service's tables (created only by its migrations).

``entries`` is append-only: a row is never updated or deleted. Its nested parts (deed, decision,
tally) are stored as their canonical JSON text, exactly the bytes the hash chain covers (R15).
``heads`` holds every head a book had, signed with the service's key (R15b).
``books`` holds each book's head: the row locked while appending, so numbering stays gap-free.
``artifacts`` holds what is published (feeds, pages, PDFs, figures), keyed by URL path and
generated when entries arrive.

``entries.period``, ``quarter``, ``deed_id`` and ``unit`` repeat what the entry's JSON already says
(its period as ``period_of`` reads it, that period's quarter, the deed's id and unit), so that a
publication reads only its own entries by index; the chain never covers them. ``figure_deeds`` and
``figure_counts`` keep the running figures (R16) as counts kept in step by each inscription and
revocation, so that no publication recounts every entry of every book.
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
    # The last entry whose pages are published (``services.republish_pages``).
    sa.Column("pages_seq", sa.Integer, nullable=False, default=0, server_default="0"),
    # R25: when an organisation without this unit (or province) was loaded; never written again.
    sa.Column("closed_at", Instant, nullable=True),
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
    # Read from the entry's own JSON when it is written (never part of the hash).
    # Text: what a tally or a deed copy names is not ours to cut short.
    sa.Column("period", sa.Text, nullable=True),
    sa.Column("quarter", sa.String(16), nullable=True),
    sa.Column("deed_id", sa.Text, nullable=True),
    sa.Column("unit", sa.Text, nullable=True),
    sa.UniqueConstraint("source", name="uq_entries_source"),
    sa.UniqueConstraint("book", "seq", name="uq_entries_book_seq"),
    # R15a: an entry is revoked at most once.
    sa.UniqueConstraint("book", "revokes", name="uq_entries_book_revokes"),
    sa.Index("ix_entries_book_period", "book", "period"),
    sa.Index("ix_entries_book_quarter", "book", "quarter"),
    sa.Index("ix_entries_deed_id", "deed_id"),
)

# R16: each deed counted in the running figures, once per scope (the provincial book, or the units'
# books together), at the first of its standing inscriptions in (book, seq) order.
figure_deeds = sa.Table(
    "figure_deeds",
    metadata,
    sa.Column("scope", sa.String(16), primary_key=True),  # province | units
    sa.Column("deed_id", sa.Text, primary_key=True),
    sa.Column("book", sa.String(32), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("quarter", sa.String(16), nullable=False),  # "" when the entry has none
    sa.Column("unit", sa.Text, nullable=False),  # "" when the deed names none
)

# How many deeds of ``figure_deeds`` each (scope, quarter, unit) holds.
figure_counts = sa.Table(
    "figure_counts",
    metadata,
    sa.Column("scope", sa.String(16), primary_key=True),
    sa.Column("quarter", sa.String(16), primary_key=True),
    sa.Column("unit", sa.Text, primary_key=True),
    sa.Column("deeds", sa.Integer, nullable=False),
)

# R15b: every head a book ever had, signed (append-only, one row per entry appended). The key is
# outside the database: rows can be deleted or altered, not forged (``domain.witness``).
heads = sa.Table(
    "heads",
    metadata,
    sa.Column("book", sa.String(32), primary_key=True),
    sa.Column("entries", sa.Integer, primary_key=True),
    sa.Column("head", sa.String(64), nullable=False),
    sa.Column("signed_at", sa.String(40), nullable=False),  # exactly as signed
    sa.Column("signature", sa.String(100), nullable=False),
    sa.Column("key_id", sa.String(32), nullable=False),
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
