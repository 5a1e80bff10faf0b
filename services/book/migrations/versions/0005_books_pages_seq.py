"""books.pages_seq: the last entry whose pages are published

A burst of inscriptions into one book leaves one ``book.republish_pages`` per entry; the first
one handled publishes the pages of every entry after ``pages_seq`` and the others find nothing
left to do. Existing books' pages are taken as published up to their last entry.

Revision ID: 0005_books_pages_seq
Revises: 0004_book_bounded_publishing
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_books_pages_seq"
down_revision = "0004_book_bounded_publishing"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("books") as batch:
        batch.add_column(sa.Column("pages_seq", sa.Integer, nullable=False, server_default="0"))
    op.execute("UPDATE books SET pages_seq = entries")


def downgrade() -> None:
    with op.batch_alter_table("books") as batch:
        batch.drop_column("pages_seq")
