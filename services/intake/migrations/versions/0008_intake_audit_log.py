"""audit_log: the audit record of R23 (shared.audit)

Revision ID: 0008_intake_audit_log
Revises: 0007_intake_search_word_starts
"""

from alembic import op

from shared.audit import create_audit_table, drop_audit_table

revision = "0008_intake_audit_log"
down_revision = "0007_intake_search_word_starts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_audit_table(op)


def downgrade() -> None:
    drop_audit_table(op)
