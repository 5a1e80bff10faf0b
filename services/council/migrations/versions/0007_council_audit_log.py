"""audit_log: the audit record of R23 (shared.audit)

Revision ID: 0007_council_audit_log
Revises: 0006_council_tokens_last_used
"""

from alembic import op

from shared.audit import create_audit_table, drop_audit_table

revision = "0007_council_audit_log"
down_revision = "0006_council_tokens_last_used"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_audit_table(op)


def downgrade() -> None:
    drop_audit_table(op)
