"""A round that found no candidate says so in a column of its own (``rounds.found_empty``)
instead of a suffix of its natural key (``#empty:``): R21's calendar may open its period again,
unlike a period whose round its secretary cancelled (R20a)

Revision ID: 0009_council_rounds_found_empty
Revises: 0008_council_revocations
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_council_rounds_found_empty"
down_revision = "0008_council_revocations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rounds") as batch:
        batch.add_column(sa.Column("found_empty", sa.Boolean(), nullable=False, server_default=sa.false()))
    rounds = sa.table("rounds", sa.column("natural_key", sa.String), sa.column("found_empty", sa.Boolean))
    op.execute(rounds.update().where(rounds.c.natural_key.like("%#empty:%")).values(found_empty=True))


def downgrade() -> None:
    with op.batch_alter_table("rounds") as batch:
        batch.drop_column("found_empty")
