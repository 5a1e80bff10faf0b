"""council: councils, rounds, candidates, voter rolls, ballots, tallies, decisions, recognitions,
dossiers, deed counts.

Revision ID: 0001_council_initial
Revises:
Create Date: 2025-01-01
"""
import sqlalchemy as sa
from alembic import op

from shared.tables import create_common_tables

revision = "0001_council_initial"
down_revision = None
branch_labels = None
depends_on = None

S = sa.String
# Instants (shared.db.Instant): aware, stored as UTC.
Instant = sa.DateTime(timezone=True)


def upgrade() -> None:
    create_common_tables(op)
    op.create_table(
        "councils",
        sa.Column("code", S(40), primary_key=True),
        sa.Column("unit", S(40), nullable=False),
        sa.Column("secretary", S(40), nullable=False),
        sa.Column("threshold_percent", sa.Integer, nullable=False),
        sa.Column("base", S(16), nullable=False),
        sa.Column("cap", sa.Integer, nullable=True),
        sa.Column("open_ballots", sa.Boolean, nullable=False),
    )
    op.create_table(
        "council_members",
        sa.Column("council", S(40), primary_key=True),
        sa.Column("member", S(40), primary_key=True),
    )
    op.create_table(
        "rounds",
        sa.Column("id", S(36), primary_key=True),
        sa.Column("natural_key", S(200), nullable=False, unique=True),
        sa.Column("council", S(40), nullable=False),
        sa.Column("unit", S(40), nullable=False),
        sa.Column("kind", S(16), nullable=False),
        sa.Column("period", S(8), nullable=False),
        sa.Column("status", S(8), nullable=False),
        sa.Column("opens_at", Instant, nullable=False),
        sa.Column("closes_at", Instant, nullable=False),
        sa.Column("created_at", Instant, nullable=False),
        sa.Column("opened_by", S(64), nullable=False),
        sa.Column("runoff_of", S(36), nullable=True),
        sa.Column("places", sa.Integer, nullable=True),
        sa.Column("threshold_percent", sa.Integer, nullable=False),
        sa.Column("base", S(16), nullable=False),
        sa.Column("cap", sa.Integer, nullable=True),
        sa.Column("open_ballots", sa.Boolean, nullable=False),
        sa.Column("entitled", sa.Integer, nullable=False),
        sa.Column("paper", sa.Boolean, nullable=False),
        sa.Column("paper_voters", sa.Integer, nullable=True),
        sa.Column("recorded", sa.Integer, nullable=True),
    )
    op.create_index("ix_rounds_council_period", "rounds", ["council", "period"])
    op.create_index("ix_rounds_status_closes_at", "rounds", ["status", "closes_at"])
    op.create_table(
        "candidates",
        sa.Column("id", S(36), primary_key=True),
        sa.Column("round_id", S(36), sa.ForeignKey("rounds.id"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("deed_id", S(64), nullable=False),
        sa.Column("title", S(400), nullable=False),
        sa.Column("author", sa.JSON, nullable=False),
        sa.Column("unit", S(40), nullable=False),
        sa.Column("deed", sa.JSON, nullable=False),
        sa.Column("dossier_id", S(36), nullable=True),
        sa.UniqueConstraint("round_id", "deed_id", name="uq_candidates_round_deed"),
    )
    op.create_table(
        "entitlements",
        sa.Column("round_id", S(36), primary_key=True),
        sa.Column("member", S(40), primary_key=True),
        sa.Column("candidate_id", S(36), primary_key=True),
    )
    op.create_table(
        "voters",
        sa.Column("round_id", S(36), primary_key=True),
        sa.Column("member", S(40), primary_key=True),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "ballots",
        sa.Column("round_id", S(36), primary_key=True),
        sa.Column("receipt", S(32), primary_key=True),
        sa.Column("choices", sa.JSON, nullable=False),
        sa.Column("voter", S(40), nullable=True),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "tallies",
        sa.Column("round_id", S(36), sa.ForeignKey("rounds.id"), primary_key=True),
        sa.Column("closed_at", Instant, nullable=False),
        sa.Column("closed_by", S(16), nullable=False),
        sa.Column("voted", sa.Integer, nullable=False),
        sa.Column("quota_met", sa.Boolean, nullable=True),
        sa.Column("decision_number", S(80), nullable=True),
        sa.Column("decision_date", S(10), nullable=True),
        sa.Column("runoff_round_id", S(36), nullable=True),
    )
    op.create_table(
        "candidate_results",
        sa.Column("round_id", S(36), primary_key=True),
        sa.Column("candidate_id", S(36), primary_key=True),
        sa.Column("approve", sa.Integer, nullable=False),
        sa.Column("reject", sa.Integer, nullable=False),
        sa.Column("abstain", sa.Integer, nullable=False),
        sa.Column("entitled", sa.Integer, nullable=False),
        sa.Column("base", sa.Integer, nullable=False),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.Column("selected", sa.Boolean, nullable=False),
        sa.Column("runoff", sa.Boolean, nullable=False),
    )
    op.create_table(
        "decisions",
        sa.Column("number", S(80), primary_key=True),
        sa.Column("issuer", S(40), nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("date", S(10), nullable=False),
        sa.Column("round_id", S(36), nullable=False, unique=True),
        sa.Column("issued_at", Instant, nullable=False),
        sa.UniqueConstraint("issuer", "year", "seq", name="uq_decisions_issuer_year_seq"),
    )
    op.create_table(
        "recognitions",
        sa.Column("deed_id", S(64), primary_key=True),
        sa.Column("unit", S(40), nullable=False),
        sa.Column("month", S(7), nullable=False),
        sa.Column("round_id", S(36), nullable=False),
        sa.Column("candidate_id", S(36), nullable=False),
        sa.Column("deed", sa.JSON, nullable=False),
        sa.Column("decision", sa.JSON, nullable=False),
        sa.Column("tally", sa.JSON, nullable=False),
        sa.Column("recognised_at", Instant, nullable=False),
        sa.Column("proposed_in", S(36), nullable=True),
    )
    op.create_index("ix_recognitions_unit_month", "recognitions", ["unit", "month"])
    op.create_table(
        "dossiers",
        sa.Column("id", S(36), primary_key=True),
        sa.Column("deed_id", S(64), nullable=False, unique=True),
        sa.Column("quarter", S(7), nullable=False),
        sa.Column("unit", S(40), nullable=False),
        sa.Column("quarterly_round_id", S(36), nullable=False),
        sa.Column("deed", sa.JSON, nullable=False),
        sa.Column("evidence", sa.JSON, nullable=False),
        sa.Column("monthly_decision", sa.JSON, nullable=False),
        sa.Column("monthly_tally", sa.JSON, nullable=False),
        sa.Column("quarterly_tally", sa.JSON, nullable=False),
        sa.Column("created_at", Instant, nullable=False),
    )
    op.create_index("ix_dossiers_quarter", "dossiers", ["quarter"])
    op.create_table(
        "tracked_deeds",
        sa.Column("deed_id", S(64), primary_key=True),
        sa.Column("unit", S(40), nullable=False),
        sa.Column("month", S(7), nullable=False),
        sa.Column("introduced", sa.Boolean, nullable=False),
    )
    op.create_index("ix_tracked_deeds_unit_month", "tracked_deeds", ["unit", "month"])
    op.create_table(
        "ballot_requests",
        sa.Column("lookup", S(64), primary_key=True),
        sa.Column("fingerprint", S(64), nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
        sa.Column("created_at", Instant, nullable=False),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    for name in (
        "ballot_requests", "tracked_deeds", "dossiers", "recognitions", "decisions", "candidate_results", "tallies",
        "ballots", "voters", "entitlements", "candidates", "rounds", "council_members", "councils",
        "idempotency_records", "parked_messages", "inbox", "outbox", "tokens", "org_documents",
    ):
        op.drop_table(name)
