"""R15a: council learns of revocations (``revocations``) and withdraws the deed from open rounds
(``candidates.withdrawn``)

Revision ID: 0008_council_revocations
Revises: 0007_council_audit_log
"""

import sqlalchemy as sa
from alembic import op

# Instants (shared.db.Instant): aware, stored as UTC.
Instant = sa.DateTime(timezone=True)

revision = "0008_council_revocations"
down_revision = "0007_council_audit_log"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("candidates") as batch:
        batch.add_column(sa.Column("withdrawn", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "revocations",
        sa.Column("deed_id", sa.String(64), primary_key=True),
        sa.Column("unit", sa.String(40), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("book", sa.String(40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("revoked_at", Instant, nullable=False),
    )
    op.create_index("ix_revocations_unit_month", "revocations", ["unit", "month"])


def downgrade() -> None:
    op.drop_index("ix_revocations_unit_month", "revocations")
    op.drop_table("revocations")
    with op.batch_alter_table("candidates") as batch:
        batch.drop_column("withdrawn")
