"""tokens.last_used_at: when each token was last used, for ``sovang token list`` (R24)

Revision ID: 0006_council_tokens_last_used
Revises: 0005_council_referred_from
"""

from alembic import op

from shared.tables import add_tokens_last_used, drop_tokens_last_used

revision = "0006_council_tokens_last_used"
down_revision = "0005_council_referred_from"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_tokens_last_used(op)


def downgrade() -> None:
    drop_tokens_last_used(op)
