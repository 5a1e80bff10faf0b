"""books.closed_at: R25, the book of a unit that no longer exists is closed

Revision ID: 0009_books_closed_at
Revises: 0008_book_audit_log
"""

import sqlalchemy as sa
from alembic import op

from shared.db import Instant

revision = "0009_books_closed_at"
down_revision = "0008_book_audit_log"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("books", sa.Column("closed_at", Instant, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("books") as batch:
        batch.drop_column("closed_at")
