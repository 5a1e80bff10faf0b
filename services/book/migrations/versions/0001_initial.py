"""book: golden books, their hash-chained entries, and the published artifacts.

Revision ID: 0001_book_initial
Revises:
Create Date: 2025-01-01
"""
from alembic import op
import sqlalchemy as sa

from shared.db import Instant
from shared.tables import create_common_tables

revision = "0001_book_initial"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_common_tables(op)
    op.create_table(
        "books",
        sa.Column("code", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("entries", sa.Integer, nullable=False, server_default="0"),
        sa.Column("head", sa.String(64), nullable=True),
        sa.Column("created_at", Instant, nullable=False),
        sa.Column("updated_at", Instant, nullable=True),
    )
    op.create_table(
        "entries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("book", sa.String(32), sa.ForeignKey("books.code", name="fk_entries_book"), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("revokes", sa.Integer, nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("deed", sa.Text, nullable=False),
        sa.Column("decision", sa.Text, nullable=True),
        sa.Column("tally", sa.Text, nullable=True),
        sa.Column("inscribed_at", Instant, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("source", sa.String(255), nullable=False),
        sa.UniqueConstraint("source", name="uq_entries_source"),
        sa.UniqueConstraint("book", "seq", name="uq_entries_book_seq"),
        sa.UniqueConstraint("book", "revokes", name="uq_entries_book_revokes"),
    )
    op.create_table(
        "artifacts",
        sa.Column("path", sa.String(255), primary_key=True),
        sa.Column("book", sa.String(32), nullable=True),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("etag", sa.String(80), nullable=False),
        sa.Column("updated_at", Instant, nullable=False),
    )
    op.create_index("ix_artifacts_book", "artifacts", ["book"])


def downgrade() -> None:
    op.drop_table("artifacts")
    op.drop_table("entries")
    op.drop_table("books")
