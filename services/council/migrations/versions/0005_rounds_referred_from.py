"""rounds.referred_from: R17a, the unit council whose deeds a provincial referral round decides

Revision ID: 0005_council_referred_from
Revises: 0004_council_votes
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_council_referred_from"
down_revision = "0004_council_votes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rounds") as batch:
        batch.add_column(sa.Column("referred_from", sa.String(40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rounds") as batch:
        batch.drop_column("referred_from")
