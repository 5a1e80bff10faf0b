"""People and their sessions (R24): passwords, sessions, failed sign-ins; tokens.last_used_at

Revision ID: 0006_intake_people_sessions
Revises: 0005_intake_carried_over
"""

import sqlalchemy as sa
from alembic import op

from shared.tables import add_tokens_last_used, drop_tokens_last_used

revision = "0006_intake_people_sessions"
down_revision = "0005_intake_carried_over"
branch_labels = None
depends_on = None


def upgrade() -> None:
    tz = sa.DateTime(timezone=True)
    add_tokens_last_used(op)
    op.create_table(
        "passwords",
        sa.Column("subject", sa.String(64), primary_key=True),
        sa.Column("hash", sa.Text, nullable=False),
        sa.Column("set_at", tz, nullable=False),
        sa.Column("set_by", sa.String(100), nullable=False),
    )
    op.create_table(
        "sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", tz, nullable=False),
        sa.Column("last_seen_at", tz, nullable=False),
        sa.Column("ended_at", tz, nullable=True),
        sa.Column("ended_why", sa.String(16), nullable=True),
    )
    op.create_index("ix_sessions_subject", "sessions", ["subject"])
    op.create_table(
        "signin_failures",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("at", tz, nullable=False),
    )
    op.create_index("ix_signin_failures_subject_at", "signin_failures", ["subject", "at"])
    op.create_index("ix_signin_failures_address_at", "signin_failures", ["address", "at"])


def downgrade() -> None:
    op.drop_table("signin_failures")
    op.drop_table("sessions")
    op.drop_table("passwords")
    drop_tokens_last_used(op)
