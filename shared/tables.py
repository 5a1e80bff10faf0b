"""The tables every service has in its own database: organisation copy, tokens, outbox, inbox,
idempotency records. Each service's first migration creates them in its own schema."""

from __future__ import annotations

import sqlalchemy as sa

from shared.columns import Instant

metadata = sa.MetaData()

org_documents = sa.Table(
    "org_documents",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("digest", sa.String(64), nullable=False, unique=True),
    sa.Column("document", sa.JSON, nullable=False),
    sa.Column("loaded_at", Instant, nullable=False),
)

tokens = sa.Table(
    "tokens",
    metadata,
    # sha256 of the bearer token: the token itself is never stored.
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("subject", sa.String(64), nullable=False),
    sa.Column("issued_at", Instant, nullable=False),
    sa.Column("expires_at", Instant, nullable=False),
    sa.Column("revoked_at", Instant, nullable=True),
    # R24: ``sovang token list`` shows it; written at most once a minute (shared.auth). Added by
    # each service's migration "tokens_last_used".
    sa.Column("last_used_at", Instant, nullable=True),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("message_id", sa.String(36), nullable=False, unique=True),
    sa.Column("type", sa.String(80), nullable=False),
    sa.Column("queue", sa.String(32), nullable=False),
    sa.Column("envelope", sa.JSON, nullable=False),
    sa.Column("created_at", Instant, nullable=False),
    sa.Column("sent_at", Instant, nullable=True),
    # The broker run (Redis run_id) the row was sent to: a broker that restarted without its data
    # gets the rows sent to its earlier run again (shared.outbox). Added by each service's 0002.
    sa.Column("broker_run", sa.String(40), nullable=True),
    # When the consumer was seen to have handled it (its confirmation in Redis): a sent row never
    # confirmed is sent again (shared.outbox: a worker's BRPOP answer lost on the way). Added by 0003.
    sa.Column("confirmed_at", Instant, nullable=True),
    sa.Index("ix_outbox_unsent", "sent_at", "id"),
)
# The relays look at sent rows not yet confirmed every few seconds: a partial index keeps that to
# the few in flight, however many rows the outbox keeps.
_UNCONFIRMED = sa.text("confirmed_at IS NULL AND sent_at IS NOT NULL")
sa.Index("ix_outbox_unconfirmed", outbox.c.sent_at, postgresql_where=_UNCONFIRMED, sqlite_where=_UNCONFIRMED)

inbox = sa.Table(
    "inbox",
    metadata,
    sa.Column("message_id", sa.String(36), primary_key=True),
    sa.Column("type", sa.String(80), nullable=False),
    sa.Column("processed_at", Instant, nullable=False),
)

parked_messages = sa.Table(
    "parked_messages",
    metadata,
    # A message that failed max_deliveries times: kept for an operator, no longer retried.
    sa.Column("message_id", sa.String(36), primary_key=True),
    sa.Column("type", sa.String(80), nullable=False),
    sa.Column("envelope", sa.JSON, nullable=False),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("deliveries", sa.Integer, nullable=False),
    sa.Column("parked_at", Instant, nullable=False),
)

idempotency_records = sa.Table(
    "idempotency_records",
    metadata,
    sa.Column("subject", sa.String(80), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("content_type", sa.String(100), nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("created_at", Instant, nullable=False),
)


def create_common_tables(op) -> None:  # noqa: ANN001 - alembic's op proxy
    """Called from each service's first migration; spelled out so that history never moves."""
    tz = sa.DateTime(timezone=True)
    op.create_table(
        "org_documents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("document", sa.JSON, nullable=False),
        sa.Column("loaded_at", tz, nullable=False),
    )
    op.create_table(
        "tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("issued_at", tz, nullable=False),
        sa.Column("expires_at", tz, nullable=False),
        sa.Column("revoked_at", tz, nullable=True),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(36), nullable=False, unique=True),
        sa.Column("type", sa.String(80), nullable=False),
        sa.Column("queue", sa.String(32), nullable=False),
        sa.Column("envelope", sa.JSON, nullable=False),
        sa.Column("created_at", tz, nullable=False),
        sa.Column("sent_at", tz, nullable=True),
    )
    op.create_index("ix_outbox_unsent", "outbox", ["sent_at", "id"])
    op.create_table(
        "inbox",
        sa.Column("message_id", sa.String(36), primary_key=True),
        sa.Column("type", sa.String(80), nullable=False),
        sa.Column("processed_at", tz, nullable=False),
    )
    op.create_table(
        "parked_messages",
        sa.Column("message_id", sa.String(36), primary_key=True),
        sa.Column("type", sa.String(80), nullable=False),
        sa.Column("envelope", sa.JSON, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("deliveries", sa.Integer, nullable=False),
        sa.Column("parked_at", tz, nullable=False),
    )
    op.create_table(
        "idempotency_records",
        sa.Column("subject", sa.String(80), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("created_at", tz, nullable=False),
    )


def add_outbox_broker_run(op) -> None:  # noqa: ANN001 - alembic's op proxy
    """Called from each service's second migration (nothing lost when Redis restarts empty)."""
    op.add_column("outbox", sa.Column("broker_run", sa.String(40), nullable=True))


def drop_outbox_broker_run(op) -> None:  # noqa: ANN001
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("broker_run")


def add_outbox_confirmed_at(op) -> None:  # noqa: ANN001
    """Called from each service's third migration (a message taken off the queue and lost
    before its consumer had it is sent again)."""
    op.add_column("outbox", sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True))
    where = sa.text("confirmed_at IS NULL AND sent_at IS NOT NULL")
    op.create_index("ix_outbox_unconfirmed", "outbox", ["sent_at"], postgresql_where=where, sqlite_where=where)


def drop_outbox_confirmed_at(op) -> None:  # noqa: ANN001
    op.drop_index("ix_outbox_unconfirmed", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("confirmed_at")


def add_tokens_last_used(op) -> None:  # noqa: ANN001 - alembic's op proxy
    """R24: when each token was last used, for ``sovang token list``."""
    op.add_column("tokens", sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_tokens_subject", "tokens", ["subject"])


def drop_tokens_last_used(op) -> None:  # noqa: ANN001
    op.drop_index("ix_tokens_subject", table_name="tokens")
    with op.batch_alter_table("tokens") as batch:
        batch.drop_column("last_used_at")
