"""outbox.broker_run: the broker run each message was sent to (shared.outbox)

Revision ID: 0002_intake_outbox_broker_run
Revises: 0001_intake_initial
"""

from alembic import op

from shared.tables import add_outbox_broker_run, drop_outbox_broker_run

revision = "0002_intake_outbox_broker_run"
down_revision = "0001_intake_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_outbox_broker_run(op)


def downgrade() -> None:
    drop_outbox_broker_run(op)
