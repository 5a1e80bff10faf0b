"""outbox.confirmed_at: when the consumer was seen to have handled the message (shared.outbox)

Revision ID: 0003_intake_outbox_confirmed
Revises: 0002_intake_outbox_broker_run
"""

from alembic import op

from shared.tables import add_outbox_confirmed_at, drop_outbox_confirmed_at

revision = "0003_intake_outbox_confirmed"
down_revision = "0002_intake_outbox_broker_run"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_outbox_confirmed_at(op)


def downgrade() -> None:
    drop_outbox_confirmed_at(op)
