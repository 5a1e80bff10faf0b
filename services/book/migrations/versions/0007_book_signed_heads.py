"""heads: every head of every book, signed (R15b)

Books that already hold entries have their current head signed here, once, with the service's key
(``services.book.signing``): the chain as it stands at the upgrade is what the key witnesses from
then on. Nothing signs an unsigned head later, so deleting the signed heads never gets a rewritten
chain signed.

Revision ID: 0007_book_signed_heads
Revises: 0006_book_tokens_last_used
"""

import sqlalchemy as sa
from alembic import context, op

revision = "0007_book_signed_heads"
down_revision = "0006_book_tokens_last_used"
branch_labels = None
depends_on = None


def upgrade() -> None:
    heads = op.create_table(
        "heads",
        sa.Column("book", sa.String(32), primary_key=True),
        sa.Column("entries", sa.Integer, primary_key=True),
        sa.Column("head", sa.String(64), nullable=False),
        sa.Column("signed_at", sa.String(40), nullable=False),
        sa.Column("signature", sa.String(100), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
    )
    conn = op.get_bind()
    books = sa.Table("books", sa.MetaData(), autoload_with=conn)
    existing = conn.execute(
        sa.select(books.c.code, books.c.entries, books.c.head).where(books.c.entries > 0, books.c.head.is_not(None))
    ).all()
    if not existing:
        return
    from services.book.domain.entries import instant_text
    from services.book.signing import keyring
    from shared.config import Settings
    from shared.db import utcnow

    ring = keyring(context.config.attributes.get("settings") or Settings.from_env())
    at = instant_text(utcnow().replace(microsecond=0))
    conn.execute(heads.insert(), [
        ring.sign(code, entries, head, at).public() for code, entries, head in existing
    ])


def downgrade() -> None:
    op.drop_table("heads")
