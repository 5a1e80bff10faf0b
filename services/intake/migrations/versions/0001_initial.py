"""intake: deeds, unit months, introduction closures, evidence.

Revision ID: 0001_intake_initial
Revises:
"""
import sqlalchemy as sa
from alembic import op

from shared.tables import create_common_tables

revision = "0001_intake_initial"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_common_tables(op)
    tz = sa.DateTime(timezone=True)
    op.create_table(
        "deeds",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("author_kind", sa.String(16), nullable=False),
        sa.Column("author_code", sa.String(64), nullable=False),
        sa.Column("author_name", sa.Text, nullable=False),
        sa.Column("unit", sa.String(64), nullable=False),
        sa.Column("subunit", sa.String(64), nullable=True),
        sa.Column("occurred_on", sa.Date, nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("relation", sa.String(16), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("place", sa.Text, nullable=True),
        sa.Column("beneficiaries", sa.Text, nullable=True),
        sa.Column("search_text", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("book_entries", sa.JSON, nullable=False),
        sa.Column("created_at", tz, nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
    )
    op.create_index("ix_deeds_unit_month_status", "deeds", ["unit", "month", "status"])
    op.create_index("ix_deeds_unit_id", "deeds", ["unit", "id"])
    op.create_table(
        "unit_months",
        sa.Column("unit", sa.String(64), primary_key=True),
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("closed_at", tz, nullable=True),
        sa.Column("closed_by_round", sa.String(64), nullable=True),
    )
    op.create_table(
        "introduction_closures",
        sa.Column("round_id", sa.String(64), primary_key=True),
        sa.Column("council", sa.String(64), nullable=False),
        sa.Column("unit", sa.String(64), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("deed_ids", sa.JSON, nullable=False),
        sa.Column("closed_at", tz, nullable=False),
    )
    op.create_table(
        "evidence_files",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("stored_at", tz, nullable=False),
    )
    op.create_table(
        "deed_evidence",
        sa.Column("deed_id", sa.String(36), sa.ForeignKey("deeds.id"), primary_key=True),
        sa.Column("sha256", sa.String(64), sa.ForeignKey("evidence_files.sha256"), primary_key=True),
        sa.Column("added_at", tz, nullable=False),
        sa.Column("added_by", sa.String(100), nullable=False),
    )


def downgrade() -> None:
    for table in ("deed_evidence", "evidence_files", "introduction_closures", "unit_months", "deeds"):
        op.drop_table(table)
