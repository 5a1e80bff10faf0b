"""org_loads: organisations loaded from the admin's page, step by step (R25)

Revision ID: 0009_intake_org_loads
Revises: 0008_intake_audit_log
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_intake_org_loads"
down_revision = "0008_intake_audit_log"
branch_labels = None
depends_on = None


def upgrade() -> None:
    tz = sa.DateTime(timezone=True)
    op.create_table(
        "org_loads",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("file", sa.String(200), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("document", sa.JSON, nullable=False),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("requested_at", tz, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("steps", sa.JSON, nullable=False),
        sa.Column("finished_at", tz, nullable=True),
    )
    op.create_index("ix_org_loads_requested_at", "org_loads", ["requested_at"])


def downgrade() -> None:
    op.drop_index("ix_org_loads_requested_at", table_name="org_loads")
    op.drop_table("org_loads")
