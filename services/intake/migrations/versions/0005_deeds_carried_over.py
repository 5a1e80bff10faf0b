"""R5a: deeds introduced after their month's round opened are carried into the unit's next
monthly round (``deeds.carried_over``, ``deeds.carried_to``), under a per-unit lock row

Revision ID: 0005_intake_carried_over
Revises: 0004_intake_search_trigram
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_intake_carried_over"
down_revision = "0004_intake_search_trigram"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deeds") as batch:
        batch.add_column(sa.Column("carried_over", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("carried_to", sa.String(7), nullable=True))
    op.create_table("unit_carries", sa.Column("unit", sa.String(64), primary_key=True))


def downgrade() -> None:
    op.drop_table("unit_carries")
    with op.batch_alter_table("deeds") as batch:
        batch.drop_column("carried_to")
        batch.drop_column("carried_over")
