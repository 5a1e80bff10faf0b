"""The council's tables (its own database): councils, rounds, candidates, voter rolls, votes,
tallies, decisions, recognitions, dossiers and the deed counts of R10.

R19: who voted (``voters``) and how (``votes``) are kept apart, and a ballot is stored only as its
votes, one row per candidate under a receipt derived from the ballot's (which is not stored), so
the table does not even say which votes were cast together. Neither table has a timestamp, a
serial id or, on SQLite, a rowid (``WITHOUT ROWID``: rows sit in key order — member code, random
receipt — and nothing else). Both are written in the one transaction that casts a ballot, which
also rewrites all of the round's rows of both tables in key order (``repository.reshuffle``): on
PostgreSQL every live row of the round then carries that last transaction's id (``xmin``) and
sits in key order in the heap (``ctid``), so neither the transaction nor the physical order pairs
a member with a vote. (The superseded row versions stay in the heap until VACUUM reclaims them;
only page inspection as a superuser, or the data files and the WAL, show them.)
"""

from __future__ import annotations

import sqlalchemy as sa

from shared.db import Instant

metadata = sa.MetaData()

S = sa.String

councils = sa.Table(
    "councils",
    metadata,
    sa.Column("code", S(40), primary_key=True),
    sa.Column("unit", S(40), nullable=False),
    sa.Column("secretary", S(40), nullable=False),
    sa.Column("threshold_percent", sa.Integer, nullable=False),
    sa.Column("base", S(16), nullable=False),
    sa.Column("cap", sa.Integer, nullable=True),
    sa.Column("open_ballots", sa.Boolean, nullable=False, default=False),
)

council_members = sa.Table(
    "council_members",
    metadata,
    sa.Column("council", S(40), primary_key=True),
    sa.Column("member", S(40), primary_key=True),
)

rounds = sa.Table(
    "rounds",
    metadata,
    sa.Column("id", S(36), primary_key=True),
    # One round per council, kind and period ("HD-X:monthly:2025-05"); a runoff per round it settles.
    sa.Column("natural_key", S(200), nullable=False, unique=True),
    sa.Column("council", S(40), nullable=False),
    sa.Column("unit", S(40), nullable=False),
    sa.Column("kind", S(16), nullable=False),
    sa.Column("period", S(8), nullable=False),
    sa.Column("status", S(16), nullable=False),
    sa.Column("opens_at", Instant, nullable=False),
    sa.Column("closes_at", Instant, nullable=False),
    sa.Column("created_at", Instant, nullable=False),
    sa.Column("opened_by", S(64), nullable=False),
    sa.Column("runoff_of", S(36), nullable=True),
    sa.Column("places", sa.Integer, nullable=True),
    # The council's rules as they stood at opening.
    sa.Column("threshold_percent", sa.Integer, nullable=False),
    sa.Column("base", S(16), nullable=False),
    sa.Column("cap", sa.Integer, nullable=True),
    sa.Column("open_ballots", sa.Boolean, nullable=False),
    sa.Column("entitled", sa.Integer, nullable=False),
    sa.Column("paper", sa.Boolean, nullable=False, default=False),
    sa.Column("paper_voters", sa.Integer, nullable=True),
    # R19a: how many paper ballots the count holds (its votes alone cannot say it).
    sa.Column("paper_ballots", sa.Integer, nullable=True),
    sa.Column("recorded", sa.Integer, nullable=True),
    # R17a: the unit council whose undecidable deeds a referral round of the province decides.
    sa.Column("referred_from", S(40), nullable=True),
    # API.md: cancelled because intake's answer held no candidate, not by its secretary (R20a).
    sa.Column("found_empty", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("ix_rounds_council_period", "council", "period"),
    sa.Index("ix_rounds_status_closes_at", "status", "closes_at"),
)

candidates = sa.Table(
    "candidates",
    metadata,
    sa.Column("id", S(36), primary_key=True),
    sa.Column("round_id", S(36), sa.ForeignKey("rounds.id"), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("deed_id", S(64), nullable=False),
    sa.Column("title", S(400), nullable=False),
    sa.Column("author", sa.JSON, nullable=False),
    sa.Column("unit", S(40), nullable=False),
    # The frozen public copy of the deed (shared.messages.DeedCopySchema).
    sa.Column("deed", sa.JSON, nullable=False),
    sa.Column("dossier_id", S(36), nullable=True),
    # R15a: the deed's recognition was revoked while the round was open: not counted, not selected.
    sa.Column("withdrawn", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.UniqueConstraint("round_id", "deed_id", name="uq_candidates_round_deed"),
)

# R17: which member may vote on which candidate, frozen at opening.
entitlements = sa.Table(
    "entitlements",
    metadata,
    sa.Column("round_id", S(36), primary_key=True),
    sa.Column("member", S(40), primary_key=True),
    sa.Column("candidate_id", S(36), primary_key=True),
)

# R18, R19: who voted, and nothing else.
voters = sa.Table(
    "voters",
    metadata,
    sa.Column("round_id", S(36), primary_key=True),
    sa.Column("member", S(40), primary_key=True),
    sqlite_with_rowid=False,
)

# R19: how they voted, vote by vote, each under its own receipt (domain.ballots.vote_receipt);
# ``voter`` only for councils with open ballots.
votes = sa.Table(
    "votes",
    metadata,
    sa.Column("round_id", S(36), primary_key=True),
    sa.Column("receipt", S(16), primary_key=True),
    sa.Column("candidate_id", S(36), nullable=False),
    sa.Column("choice", S(8), nullable=False),
    sa.Column("voter", S(40), nullable=True),
    sqlite_with_rowid=False,
)

# R20: one tally per round, written in the transaction that closes it.
tallies = sa.Table(
    "tallies",
    metadata,
    sa.Column("round_id", S(36), sa.ForeignKey("rounds.id"), primary_key=True),
    sa.Column("closed_at", Instant, nullable=False),
    sa.Column("closed_by", S(16), nullable=False),
    sa.Column("voted", sa.Integer, nullable=False),
    sa.Column("quota_met", sa.Boolean, nullable=True),
    sa.Column("decision_number", S(80), nullable=True),
    sa.Column("decision_date", S(10), nullable=True),
    sa.Column("runoff_round_id", S(36), nullable=True),
)

candidate_results = sa.Table(
    "candidate_results",
    metadata,
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

# R8, R14: numbered per issuing unit per year.
decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column("number", S(80), primary_key=True),
    sa.Column("issuer", S(40), nullable=False),
    sa.Column("year", sa.Integer, nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("date", S(10), nullable=False),
    sa.Column("round_id", S(36), nullable=False, unique=True),
    sa.Column("issued_at", Instant, nullable=False),
    sa.UniqueConstraint("issuer", "year", "seq", name="uq_decisions_issuer_year_seq"),
)

# R8, R11: the deeds a unit recognised, the pool of its quarterly round.
recognitions = sa.Table(
    "recognitions",
    metadata,
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
    sa.Index("ix_recognitions_unit_month", "unit", "month"),
)

# R11: the proposal dossier a unit sends the provincial council, frozen.
dossiers = sa.Table(
    "dossiers",
    metadata,
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
    sa.Index("ix_dossiers_quarter", "quarter"),
)

# R10: the deeds intake told us about, for the monthly summary.
tracked_deeds = sa.Table(
    "tracked_deeds",
    metadata,
    sa.Column("deed_id", S(64), primary_key=True),
    sa.Column("unit", S(40), nullable=False),
    sa.Column("month", S(7), nullable=False),
    sa.Column("introduced", sa.Boolean, nullable=False),
    sa.Index("ix_tracked_deeds_unit_month", "unit", "month"),
)

# R19 with Idempotency-Key: a retried ballot gets its first answer back, but the record is found
# only through the client's secret key (``lookup`` and ``fingerprint`` are keyed hashes, ``sealed``
# the answer enciphered with it), so it pairs no member with a receipt.
ballot_requests = sa.Table(
    "ballot_requests",
    metadata,
    sa.Column("lookup", S(64), primary_key=True),
    sa.Column("fingerprint", S(64), nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("sealed", sa.LargeBinary, nullable=False),
    sa.Column("created_at", Instant, nullable=False),
    sqlite_with_rowid=False,
)

# R15a: deeds whose recognition a golden book revoked; never put to the vote again. ``month`` is
# that of the round that recognised it (else the deed's own), where R10 counts it as revoked.
revocations = sa.Table(
    "revocations",
    metadata,
    sa.Column("deed_id", S(64), primary_key=True),
    sa.Column("unit", S(40), nullable=False),
    sa.Column("month", S(7), nullable=False),
    sa.Column("book", S(40), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("revoked_at", Instant, nullable=False),
    sa.Index("ix_revocations_unit_month", "unit", "month"),
)
