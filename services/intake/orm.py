"""intake's own tables (SQLAlchemy 2). Created only by the migrations in ``migrations/``."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import Instant


class Base(DeclarativeBase):
    metadata = sa.MetaData()


class Deed(Base):
    """A deed as recorded (R1, R2), with its current status and the book entries about it."""

    __tablename__ = "deeds"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    author_kind: Mapped[str] = mapped_column(sa.String(16))  # "officer" | "collective"
    author_code: Mapped[str] = mapped_column(sa.String(64))
    author_name: Mapped[str] = mapped_column(sa.Text)
    unit: Mapped[str] = mapped_column(sa.String(64))
    subunit: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    occurred_on: Mapped[dt.date] = mapped_column(sa.Date)
    month: Mapped[str] = mapped_column(sa.String(7))
    kind: Mapped[str] = mapped_column(sa.String(16))
    relation: Mapped[str] = mapped_column(sa.String(16))
    title: Mapped[str] = mapped_column(sa.Text)
    description: Mapped[str] = mapped_column(sa.Text)
    place: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    beneficiaries: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    # R4: title and description folded (no case, no diacritics) for ``q``.
    search_text: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(16))
    # R5a: introduced after its month's round opened, so carried into a later monthly round of the
    # unit (``carried_to``: that round's month, once its round took the deed).
    carried_over: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.false())
    carried_to: Mapped[str | None] = mapped_column(sa.String(7), nullable=True)
    book_entries: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON)
    created_at: Mapped[dt.datetime] = mapped_column(Instant)
    created_by: Mapped[str] = mapped_column(sa.String(100))

    __table_args__ = (
        sa.Index("ix_deeds_unit_month_status", "unit", "month", "status"),
        sa.Index("ix_deeds_unit_id", "unit", "id"),
        # R4: serves ``search_text LIKE '%word%'`` on PostgreSQL (migration 0004; none on SQLite).
        sa.Index("ix_deeds_search_trgm", "search_text", postgresql_using="gin",
                 postgresql_ops={"search_text": "gin_trgm_ops"}).ddl_if(dialect="postgresql"),
    )

    @property
    def author(self) -> dict[str, str]:
        return {self.author_kind: self.author_code}


class UnitMonth(Base):
    """One unit's month: the row introductions and the round's opening lock on, so that no
    introduction slips in while the month is being closed (API.md, council)."""

    __tablename__ = "unit_months"

    unit: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    month: Mapped[str] = mapped_column(sa.String(7), primary_key=True)
    closed_at: Mapped[dt.datetime | None] = mapped_column(Instant, nullable=True)
    closed_by_round: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)


class UnitCarry(Base):
    """One unit's carried introductions (R5a): the row they and the closing of any of the unit's
    months take turns on, so that a deed carried over is on exactly one round's list."""

    __tablename__ = "unit_carries"

    unit: Mapped[str] = mapped_column(sa.String(64), primary_key=True)


class IntroductionClosure(Base):
    """One round's request to close a month, answered once (natural key: the round)."""

    __tablename__ = "introduction_closures"

    round_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    council: Mapped[str] = mapped_column(sa.String(64))
    unit: Mapped[str] = mapped_column(sa.String(64))
    month: Mapped[str] = mapped_column(sa.String(7))
    deed_ids: Mapped[list[str]] = mapped_column(sa.JSON)
    closed_at: Mapped[dt.datetime] = mapped_column(Instant)


class EvidenceFile(Base):
    """An evidence file, stored once by its content hash (the database is shared by every web
    process of the service, a local folder would not be)."""

    __tablename__ = "evidence_files"

    sha256: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    size: Mapped[int] = mapped_column(sa.BigInteger)
    content_type: Mapped[str] = mapped_column(sa.String(100))
    data: Mapped[bytes] = mapped_column(sa.LargeBinary)
    stored_at: Mapped[dt.datetime] = mapped_column(Instant)


class DeedEvidence(Base):
    """Which evidence files a deed holds."""

    __tablename__ = "deed_evidence"

    deed_id: Mapped[str] = mapped_column(sa.ForeignKey("deeds.id"), primary_key=True)
    sha256: Mapped[str] = mapped_column(sa.ForeignKey("evidence_files.sha256"), primary_key=True)
    added_at: Mapped[dt.datetime] = mapped_column(Instant)
    added_by: Mapped[str] = mapped_column(sa.String(100))


# -- people and their sessions (R24): intake owns them for the three services (shared.sessions) --
class Password(Base):
    """A person's password, as its Argon2 hash only."""

    __tablename__ = "passwords"

    subject: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    hash: Mapped[str] = mapped_column(sa.Text)
    set_at: Mapped[dt.datetime] = mapped_column(Instant)
    set_by: Mapped[str] = mapped_column(sa.String(100))


class PersonSession(Base):
    """One signed-in browser. The cookie holds the id; this row only its SHA-256."""

    __tablename__ = "sessions"

    id_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    subject: Mapped[str] = mapped_column(sa.String(64), index=True)
    role: Mapped[str] = mapped_column(sa.String(32))  # the role it acts with when none is asked
    csrf: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[dt.datetime] = mapped_column(Instant)
    last_seen_at: Mapped[dt.datetime] = mapped_column(Instant)
    ended_at: Mapped[dt.datetime | None] = mapped_column(Instant, nullable=True)
    # signed_out | everywhere (the person's sessions ended by an admin or the CLI) | idle
    ended_why: Mapped[str | None] = mapped_column(sa.String(16), nullable=True)


class SigninFailure(Base):
    """A failed sign-in, counted per subject and per address for the rate limit (R24)."""

    __tablename__ = "signin_failures"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    subject: Mapped[str] = mapped_column(sa.String(64))
    address: Mapped[str] = mapped_column(sa.String(64))
    at: Mapped[dt.datetime] = mapped_column(Instant)

    __table_args__ = (
        sa.Index("ix_signin_failures_subject_at", "subject", "at"),
        sa.Index("ix_signin_failures_address_at", "address", "at"),
    )


# An organisation loaded from the admin's page, step by step per service (R25, ``organisation``).
org_loads = sa.Table(
    "org_loads",
    Base.metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("file", sa.String(200), nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("document", sa.JSON, nullable=False),
    sa.Column("requested_by", sa.String(64), nullable=False),
    sa.Column("requested_at", Instant, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    # {service: {"state": checking|ready|refused|loading|loaded|load_refused, "problems": [...],
    #  "changed": bool}}
    sa.Column("steps", sa.JSON, nullable=False),
    sa.Column("finished_at", Instant, nullable=True),
    sa.Index("ix_org_loads_requested_at", "requested_at"),
)
