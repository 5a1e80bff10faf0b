"""R19 as published, R20a: ballots are stored vote by vote, each under its own receipt; the round
keeps how many paper ballots it counted; a round can be ``cancelled``.

``ballots`` (one row per ballot, its choices together) becomes ``votes`` (one row per candidate
chosen on, under SHA-256("{ballot receipt}:{candidate id}")[:16]): nothing stored groups the
votes of one ballot any more, so a recused member's ballot, which lacks their own deed, cannot be
picked out of the table either.

Revision ID: 0004_council_votes
Revises: 0003_council_outbox_confirmed
"""

import hashlib
import json

import sqlalchemy as sa
from alembic import op

revision = "0004_council_votes"
down_revision = "0003_council_outbox_confirmed"
branch_labels = None
depends_on = None

S = sa.String


def _vote_receipt(ballot_receipt: str, candidate_id: str) -> str:
    # services.council.domain.ballots.vote_receipt, as of this revision.
    return hashlib.sha256(f"{ballot_receipt}:{candidate_id}".encode()).hexdigest()[:16]


def upgrade() -> None:
    op.create_table(
        "votes",
        sa.Column("round_id", S(36), primary_key=True),
        sa.Column("receipt", S(16), primary_key=True),
        sa.Column("candidate_id", S(36), nullable=False),
        sa.Column("choice", S(8), nullable=False),
        sa.Column("voter", S(40), nullable=True),
        sqlite_with_rowid=False,
    )
    op.add_column("rounds", sa.Column("paper_ballots", sa.Integer, nullable=True))
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        # "cancelled" is nine letters. SQLite does not enforce a length, and rebuilding ``rounds``
        # there would trip the foreign keys of its candidates and tallies.
        op.alter_column("rounds", "status", type_=S(16), existing_type=S(8), existing_nullable=False)
    rows = conn.execute(sa.text("SELECT round_id, receipt, choices, voter FROM ballots")).all()
    votes = []
    per_round: dict[str, int] = {}
    for round_id, receipt, choices, voter in rows:
        if isinstance(choices, str):
            choices = json.loads(choices)
        per_round[round_id] = per_round.get(round_id, 0) + 1
        votes.extend(
            {"round_id": round_id, "receipt": _vote_receipt(receipt, cid), "candidate_id": cid, "choice": choice,
             "voter": voter}
            for cid, choice in choices.items()
        )
    if votes:
        votes.sort(key=lambda v: (v["round_id"], v["receipt"]))
        conn.execute(sa.text("INSERT INTO votes (round_id, receipt, candidate_id, choice, voter) "
                             "VALUES (:round_id, :receipt, :candidate_id, :choice, :voter)"), votes)
    for round_id, n in per_round.items():
        conn.execute(sa.text("UPDATE rounds SET paper_ballots = :n WHERE id = :id AND paper"),
                     {"n": n, "id": round_id})
    op.drop_table("ballots")


def downgrade() -> None:
    # The votes of one ballot cannot be put back together (that is the point): each vote becomes
    # a ballot of its own, which counts the same.
    op.create_table(
        "ballots",
        sa.Column("round_id", S(36), primary_key=True),
        sa.Column("receipt", S(32), primary_key=True),
        sa.Column("choices", sa.JSON, nullable=False),
        sa.Column("voter", S(40), nullable=True),
        sqlite_with_rowid=False,
    )
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT round_id, receipt, candidate_id, choice, voter FROM votes")).all()
    if rows:
        conn.execute(sa.text("INSERT INTO ballots (round_id, receipt, choices, voter) "
                             "VALUES (:round_id, :receipt, :choices, :voter)"),
                     [{"round_id": r, "receipt": rc, "choices": json.dumps({cid: ch}), "voter": v}
                      for r, rc, cid, ch, v in rows])
    op.drop_table("votes")
    with op.batch_alter_table("rounds") as batch:
        batch.drop_column("paper_ballots")
    if conn.dialect.name != "sqlite":
        op.alter_column("rounds", "status", type_=S(8), existing_type=S(16), existing_nullable=False)
