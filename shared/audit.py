"""R23: the audit record of one service — who (role, subject) changed what, and when.

Each service keeps its own ``audit_log`` table (created by its own migration, with
``create_audit_table``); a use case writes its line with ``record`` inside the unit of work that
makes the change, so the line and the change are committed together or not at all. The record
is read at ``GET /api/v1/audit/{service}`` by the unit secretary (their unit's lines) and the
province secretary (every line).

R19: nothing here says how anyone voted. A ballot leaves no line when it is cast (a line with
its instant would tell the secretary who has voted while the round is open, R20a, and order the
voters); the close writes one line per member who voted, stamped with the close, taken from the
voters table, which holds nothing about choices.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa

from shared import clock
from shared.db import Instant, UnitOfWork, utcnow
from shared.refusals import Forbidden, Invalid

SYSTEM = "system"
metadata = sa.MetaData()

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", Instant, nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("subject", sa.String(80), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("object", sa.String(200), nullable=False),
    # The unit the change concerns (a unit code or the province's), for the unit secretary's view.
    sa.Column("unit", sa.String(40), nullable=True),
    sa.Column("details", sa.JSON, nullable=False),
    sa.Index("ix_audit_log_unit_id", "unit", "id"),
    sa.Index("ix_audit_log_at", "at"),
)


class Actor(Protocol):
    role: str
    subject: str


@dataclass(frozen=True)
class Named:
    role: str
    subject: str


def system(subject: str) -> Named:
    """The system as an actor: ``schedule``, ``calendar``, or the service whose message it acts on."""
    return Named(SYSTEM, subject)


# The operator at the command line (``sovang token issue|revoke``).
CLI = Named("admin", "cli")


def unit_of(org: Any, role: str, subject: str) -> str | None:
    """The unit a person's line belongs to: the unit they are secretary of, their own unit as an
    officer, the province for the province's own people; None for programs (admin)."""
    if role in ("province_secretary", "press"):
        return org.province_code
    if role == "unit_secretary":
        return org.unit_led_by(subject) or org.unit_of_officer(subject)
    return org.unit_of_officer(subject)


def record(uow: UnitOfWork, actor: Actor, action: str, object: str, details: dict[str, Any] | None = None,
           unit: str | None = None, at: dt.datetime | None = None) -> None:
    """Write one line of the audit record in ``uow``'s transaction (the caller commits)."""
    record_many(uow, [(actor, action, object, unit, details or {})], at)


Line = tuple[Actor, str, str, "str | None", dict[str, Any]]
# Built once; ``inline``: nobody reads a line's id back, so no RETURNING is added for it.
_INSERT = audit_log.insert().inline()


def line_rows(lines: Iterable[Line], at: dt.datetime | None = None) -> list[dict[str, Any]]:
    """The rows of ``lines`` (``at``, ``role``, ``subject``, ``action``, ``object``, ``unit``,
    ``details``), for a caller that writes them in a statement of its own."""
    now = at or utcnow()
    return [
        {"at": now, "role": actor.role, "subject": actor.subject, "action": action, "object": obj,
         "unit": unit, "details": details}
        for actor, action, obj, unit, details in lines
    ]


def record_many(uow: UnitOfWork, lines: Iterable[Line], at: dt.datetime | None = None) -> None:
    """Several lines ``(actor, action, object, unit, details)`` in one INSERT: a batch of a
    thousand deeds costs one statement, as its deeds do."""
    rows = line_rows(lines, at)
    if rows:
        # On the session's connection (the ORM's layers add nothing to a Core INSERT); one row as
        # one parameter set, not a list of one (the executemany path).
        uow.session.connection().execute(_INSERT, rows[0] if len(rows) == 1 else rows)


def create_audit_table(op) -> None:  # noqa: ANN001 - alembic's op proxy
    """Called from each service's migration that adds the record; spelled out so history never moves."""
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(80), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("object", sa.String(200), nullable=False),
        sa.Column("unit", sa.String(40), nullable=True),
        sa.Column("details", sa.JSON, nullable=False),
    )
    op.create_index("ix_audit_log_unit_id", "audit_log", ["unit", "id"])
    op.create_index("ix_audit_log_at", "audit_log", ["at"])


def drop_audit_table(op) -> None:  # noqa: ANN001
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_index("ix_audit_log_unit_id", table_name="audit_log")
    op.drop_table("audit_log")


# -- reading ------------------------------------------------------------------------------------
def bound(name: str, text: str | None, end: bool) -> dt.datetime | None:
    """``from``/``to``: a local date (the whole day: ``to`` is inclusive) or an instant with offset."""
    if not text:
        return None
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            instant = clock.at_local(day + dt.timedelta(days=1) if end else day)
        else:
            instant = dt.datetime.fromisoformat(text)
        if instant.tzinfo is not None:
            instant.astimezone(dt.UTC)  # near year 1 or 9999 an instant has no UTC to be compared in
    except (ValueError, OverflowError):
        instant = None
    if instant is None or instant.tzinfo is None:
        raise Invalid(f"{name} phải là ngày YYYY-MM-DD hoặc thời điểm ISO 8601 có múi giờ.",
                      errors={name: ["Phải là YYYY-MM-DD hoặc thời điểm ISO 8601 có múi giờ."]})
    return instant


def read(db: Any, unit: str | None, start: dt.datetime | None, end: dt.datetime | None, limit: int,
         after: int | None) -> list[dict[str, Any]]:
    """Up to ``limit + 1`` lines, oldest first, after the line ``after``."""
    query = sa.select(audit_log)
    if unit is not None:
        query = query.where(audit_log.c.unit == unit)
    if start is not None:
        query = query.where(audit_log.c.at >= start)
    if end is not None:
        query = query.where(audit_log.c.at < end)
    if after is not None:
        query = query.where(audit_log.c.id > after)
    with db.reading() as s:
        rows = s.execute(query.order_by(audit_log.c.id).limit(limit + 1)).all()
    return [
        {"at": clock.isoformat(r.at), "actor": {"role": r.role, "subject": r.subject}, "action": r.action,
         "object": r.object, "details": r.details, "_id": r.id}
        for r in rows
    ]


READERS = ("unit_secretary", "province_secretary")


def scope(org: Any, who: Actor, unit: str | None) -> str | None:
    """R23: whose lines ``who`` may read — a unit secretary their unit's, the province secretary
    every unit's (or the one asked for); None for all. The API and the pages ask this alike."""
    if who.role == "unit_secretary":
        own = org.unit_led_by(who.subject)
        if own is None:
            raise Forbidden("Không phải thư ký của đơn vị nào.")
        if unit is not None and unit != own:
            raise Forbidden(f"Thư ký đơn vị chỉ xem nhật ký của đơn vị mình ({own}).")
        return own
    if who.role != "province_secretary" or who.subject != org.province_secretary:
        raise Forbidden("Chỉ thư ký Công an tỉnh được xem nhật ký của mọi đơn vị.")
    return unit
