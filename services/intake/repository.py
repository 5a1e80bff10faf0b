"""All of intake's SQL about deeds, their evidence and the months' introductions, and intake's
unit of work (``Work``), which carries them.

SQLAlchemy Core over the tables ``orm.py`` declares, not the ORM's objects: what a use case gets
back is a frozen domain dataclass (``domain.deed``), which a fake unit of work holds as easily
(tests/intake/fakes.py); there is no identity map whose flush order a use case would depend on;
the hot paths (recording, a batch) were Core statements already for their speed; and council and
the book speak Core alike. Statements of constant shape are built once (compiled once).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.intake.domain.deed import Closure, Deed, Evidence, UnitMonth
from services.intake.domain.org_load import RUNNING, OrgLoad
from services.intake.domain.signin import StoredSession
from services.intake.domain.text import search_needles, search_text
from services.intake.orm import Deed as DeedRow
from services.intake.orm import (
    DeedEvidence,
    EvidenceFile,
    IntroductionClosure,
    Password,
    PersonSession,
    SigninFailure,
    UnitCarry,
    org_loads,
)
from services.intake.orm import UnitMonth as UnitMonthRow
from shared import audit
from shared.auth import forget_tokens_on_commit
from shared.db import UnitOfWork
from shared.idempotency import purge
from shared.messages import Message
from shared.orgcopy import store_org
from shared.outbox import outbox_rows
from shared.tables import outbox, tokens

deeds = DeedRow.__table__
evidence_files = EvidenceFile.__table__
deed_evidence = DeedEvidence.__table__
unit_months = UnitMonthRow.__table__
unit_carries = UnitCarry.__table__
closures = IntroductionClosure.__table__

_DEED_COLUMNS = [c for c in deeds.c if c.name != "search_text"]
_INSERT_DEED = deeds.insert()
_BY_ID = sa.select(*_DEED_COLUMNS).where(deeds.c.id == sa.bindparam("id"))
_BY_ID_LOCKED = _BY_ID.with_for_update()
_INSERTS = {True: postgresql.insert, False: sqlite.insert}


def _inserting(table: sa.Table, prefix: str, names: list[str]) -> sa.Insert:
    """An INSERT of one row whose values are bound as ``prefix`` + column name."""
    return table.insert().values({n: sa.bindparam(prefix + n, type_=table.c[n].type) for n in names})


_DEED_NAMES = ["id", "author_kind", "author_code", "author_name", "unit", "subunit", "occurred_on", "month", "kind",
               "relation", "title", "description", "place", "beneficiaries", "search_text", "status", "book_entries",
               "created_at", "created_by"]
_MESSAGE_NAMES = ["message_id", "type", "queue", "envelope", "created_at"]
_LINE_NAMES = ["at", "role", "subject", "action", "object", "unit", "details"]
# PostgreSQL: one deed, its message and its audit line (R23) in one statement, one round trip
# instead of three. Data-modifying CTEs run whether or not the outer statement reads them, all
# in the statement's (so the request's) transaction. SQLite has no INSERT in a WITH clause.
_RECORD_ONE = _inserting(audit.audit_log, "a_", _LINE_NAMES).add_cte(
    _inserting(deeds, "d_", _DEED_NAMES).cte("new_deed"),
    _inserting(outbox, "m_", _MESSAGE_NAMES).cte("new_message"),
)


def _deed(row: Any) -> Deed:
    return Deed(
        id=row.id, author_kind=row.author_kind, author_code=row.author_code, author_name=row.author_name,
        unit=row.unit, subunit=row.subunit, occurred_on=row.occurred_on, month=row.month, kind=row.kind,
        relation=row.relation, title=row.title, description=row.description, place=row.place,
        beneficiaries=row.beneficiaries, status=row.status, created_at=row.created_at, created_by=row.created_by,
        carried_over=bool(row.carried_over), carried_to=row.carried_to,
        book_entries=tuple(row.book_entries or ()),
    )


def _row(deed: Deed) -> dict[str, Any]:
    return {
        "id": deed.id, "author_kind": deed.author_kind, "author_code": deed.author_code,
        "author_name": deed.author_name, "unit": deed.unit, "subunit": deed.subunit,
        "occurred_on": deed.occurred_on, "month": deed.month, "kind": deed.kind, "relation": deed.relation,
        "title": deed.title, "description": deed.description, "place": deed.place,
        "beneficiaries": deed.beneficiaries, "search_text": search_text(deed.title, deed.description),
        "status": deed.status, "book_entries": [dict(e) for e in deed.book_entries], "created_at": deed.created_at,
        "created_by": deed.created_by,
    }


class Deeds:
    """The deeds, their evidence and the months' introductions, in one unit of work."""

    def __init__(self, work: UnitOfWork) -> None:
        self.work = work

    @property
    def _s(self) -> Session:
        return self.work.session

    @property
    def _postgres(self) -> bool:
        return self.work.db.is_postgres

    # -- deeds -----------------------------------------------------------------------------------
    def add(self, new: list[Deed]) -> None:
        rows = [_row(d) for d in new]
        # One row as one parameter set, on the session's connection: a list of one would take the
        # executemany path, and the ORM's layers add nothing to a Core INSERT. Several rows are one
        # multi-row INSERT (insertmanyvalues).
        self._s.connection().execute(_INSERT_DEED, rows[0] if len(rows) == 1 else rows)

    def get(self, deed_id: str, *, fresh: bool = False, lock: bool = False) -> Deed | None:
        """The deed; ``fresh``: as this transaction's writer sees it now (after taking a lock
        that orders it after a concurrent change); ``lock``: and locked until the end."""
        if len(deed_id) > 36:
            return None
        session = self._s if fresh or lock else self.work.reader
        row = session.connection().execute(_BY_ID_LOCKED if lock else _BY_ID, {"id": deed_id}).first()
        return _deed(row) if row is not None else None

    def change(self, deed_id: str, **values: Any) -> None:
        if "book_entries" in values:
            values["book_entries"] = [dict(e) for e in values["book_entries"]]
        self._s.execute(deeds.update().where(deeds.c.id == deed_id).values(**values))

    def find(self, *, unit: str | None, also_by_officer: str | None, month: str | None, status: str | None,
             q: str, limit: int, after: str | None) -> list[Deed]:
        """Up to ``limit`` deeds after the id ``after``, oldest first: of ``unit`` (and, with
        ``also_by_officer``, that officer's own wherever recorded, R25), of a month and a status,
        matching ``q`` (R4: every word of it starts a word of the title or the description)."""
        query = sa.select(*_DEED_COLUMNS).order_by(deeds.c.id).limit(limit)
        if unit is not None and also_by_officer is not None:
            query = query.where(sa.or_(deeds.c.unit == unit, sa.and_(deeds.c.author_kind == "officer",
                                                                    deeds.c.author_code == also_by_officer)))
        elif unit is not None:
            query = query.where(deeds.c.unit == unit)
        if month:
            query = query.where(deeds.c.month == month)
        if status:
            query = query.where(deeds.c.status == status)
        # strpos / instr: a plain substring test no index serves. Written ``!= 0`` (never ``> 0``):
        # the planner then takes it to keep almost every row and keeps the plans the LIKE alone
        # gets; ``> 0`` (a third) turned some into slow bitmap scans (bench/analysis.md, R4).
        locate = sa.func.strpos if self._postgres else sa.func.instr
        for needle in search_needles(q):
            # R4: a word's start (" word"). For PostgreSQL's trigram index a word of three letters
            # or more is looked up as before (``LIKE '%word%'``): the space would add the trigrams
            # "  w" and " wo", whose lists hold most deeds. Its start is then checked on the rows
            # found. A shorter word has no trigram of its own (the index would be read whole): its
            # start is what the index looks up.
            if len(needle) > 3:
                query = query.where(deeds.c.search_text.contains(needle[1:], autoescape=True))
                query = query.where(locate(deeds.c.search_text, needle) != 0)
            else:
                query = query.where(deeds.c.search_text.contains(needle, autoescape=True))
        if after is not None:
            query = query.where(deeds.c.id > after)
        return [_deed(r) for r in self.work.reader.execute(query)]

    def any_in(self, unit: str) -> bool:
        return self.work.reader.execute(sa.select(deeds.c.id).where(deeds.c.unit == unit).limit(1)).first() is not None

    def introduced_by_unit(self) -> dict[str, int]:
        """How many introduced deeds wait in each unit, by unit."""
        rows = self.work.reader.execute(
            sa.select(deeds.c.unit, sa.func.count()).where(deeds.c.status == "introduced")
            .group_by(deeds.c.unit).order_by(deeds.c.unit)).all()
        return {unit: n for unit, n in rows}

    def candidates(self, unit: str, month: str, statuses: Iterable[str]) -> list[Deed]:
        """R5, R5a: the unit's deeds of ``month`` and those carried over to it from earlier months
        (not yet taken by another month's round), in ``statuses``."""
        own = sa.and_(deeds.c.month == month, sa.not_(deeds.c.carried_over))
        carried = sa.and_(deeds.c.carried_over, deeds.c.month < month,
                          sa.or_(deeds.c.carried_to.is_(None), deeds.c.carried_to == month))
        rows = self._s.execute(
            sa.select(*_DEED_COLUMNS)
            .where(deeds.c.unit == unit, deeds.c.status.in_(list(statuses)), sa.or_(own, carried))
            .order_by(deeds.c.id)
        )
        return [_deed(r) for r in rows]

    def recorded_in(self, unit: str, month: str) -> int:
        return int(self._s.scalar(sa.select(sa.func.count()).select_from(deeds).where(
            deeds.c.unit == unit, deeds.c.month == month)) or 0)

    def of_status(self, ids: list[str], status: str) -> list[Deed]:
        if not ids:
            return []
        rows = self._s.execute(sa.select(*_DEED_COLUMNS).where(deeds.c.id.in_(ids), deeds.c.status == status))
        return [_deed(r) for r in rows]

    # -- evidence --------------------------------------------------------------------------------
    def evidence_of(self, deed_ids: list[str]) -> dict[str, list[Evidence]]:
        out: dict[str, list[Evidence]] = {i: [] for i in deed_ids}
        if not deed_ids:
            return out
        rows = self.work.reader.execute(
            sa.select(deed_evidence.c.deed_id, evidence_files.c.sha256, evidence_files.c.size,
                      evidence_files.c.content_type)
            .join(evidence_files, evidence_files.c.sha256 == deed_evidence.c.sha256)
            .where(deed_evidence.c.deed_id.in_(deed_ids))
            .order_by(deed_evidence.c.added_at, deed_evidence.c.sha256)
        ).all()
        for row in rows:
            out[row.deed_id].append(Evidence(row.sha256, row.size, row.content_type))
        return out

    def keep_file(self, sha256: str, content_type: str, data: bytes, at: dt.datetime) -> None:
        """Keep a file once, by its content's hash."""
        exists = self._s.execute(sa.select(evidence_files.c.sha256).where(evidence_files.c.sha256 == sha256)).first()
        if exists is None:
            self._s.execute(evidence_files.insert().values(sha256=sha256, size=len(data), content_type=content_type,
                                                           data=data, stored_at=at))

    def attach(self, deed_id: str, sha256: str, at: dt.datetime, by: str) -> bool:
        """Attach a kept file to a deed; False when it already was."""
        t = deed_evidence
        if self._s.execute(sa.select(t.c.sha256).where(t.c.deed_id == deed_id, t.c.sha256 == sha256)).first():
            return False
        self._s.execute(t.insert().values(deed_id=deed_id, sha256=sha256, added_at=at, added_by=by))
        return True

    def file(self, deed_id: str, sha256: str) -> tuple[str, bytes] | None:
        """The content type and bytes of a file of the deed."""
        row = self.work.reader.execute(
            sa.select(evidence_files.c.content_type, evidence_files.c.data)
            .join(deed_evidence, deed_evidence.c.sha256 == evidence_files.c.sha256)
            .where(deed_evidence.c.deed_id == deed_id, evidence_files.c.sha256 == sha256)
        ).first()
        return (row.content_type, row.data) if row is not None else None

    # -- a unit's months -------------------------------------------------------------------------
    def lock_month(self, unit: str, month: str) -> UnitMonth:
        """The (unit, month), locked: introductions and the month's closing take turns on it."""
        self._s.execute(_INSERTS[self._postgres](unit_months).values(unit=unit, month=month).on_conflict_do_nothing())
        row = self._s.execute(sa.select(unit_months).where(
            unit_months.c.unit == unit, unit_months.c.month == month).with_for_update()).one()
        return UnitMonth(row.unit, row.month, row.closed_at, row.closed_by_round)

    def mark_month(self, unit: str, month: str, closed_at: dt.datetime | None, closed_by_round: str | None) -> None:
        self._s.execute(unit_months.update().where(unit_months.c.unit == unit, unit_months.c.month == month)
                        .values(closed_at=closed_at, closed_by_round=closed_by_round))

    def lock_carries(self, unit: str) -> None:
        """The unit's carried introductions (R5a), locked: a carried introduction and the closing
        of any month of the unit take turns on it."""
        self._s.execute(_INSERTS[self._postgres](unit_carries).values(unit=unit).on_conflict_do_nothing())
        self._s.execute(sa.select(unit_carries.c.unit).where(unit_carries.c.unit == unit).with_for_update()).one()

    def closure(self, round_id: str) -> Closure | None:
        row = self._s.execute(sa.select(closures).where(closures.c.round_id == round_id)).first()
        if row is None:
            return None
        return Closure(row.round_id, row.council, row.unit, row.month, tuple(row.deed_ids or ()), row.closed_at)

    def add_closure(self, closure: Closure) -> None:
        self._s.execute(closures.insert().values(
            round_id=closure.round_id, council=closure.council, unit=closure.unit, month=closure.month,
            deed_ids=list(closure.deed_ids), closed_at=closure.closed_at))

    def newest_closure_after(self, closure: Closure) -> str | None:
        """The round that closed the same month after ``closure``, if any (its newest)."""
        return self._s.scalars(sa.select(closures.c.round_id).where(
            closures.c.unit == closure.unit, closures.c.month == closure.month,
            closures.c.closed_at > closure.closed_at,
        ).order_by(closures.c.closed_at.desc())).first()


class Work(UnitOfWork):
    """intake's unit of work: the shared one (a transaction, the outbox) with the deeds and the
    audit record (R23) at hand."""

    def __init__(self, db: Any) -> None:
        super().__init__(db)
        self.deeds = Deeds(self)
        self.people = People(self)
        self.org_loads = OrgLoads(self)
        self.tokens = Tokens(self)

    def audit(self, lines: list[audit.Line], at: dt.datetime | None = None) -> None:
        """R23: lines of the audit record, in this transaction."""
        audit.record_many(self, lines, at)

    def record(self, new: list[Deed], messages: list[Message], lines: list[audit.Line],
               at: dt.datetime | None = None) -> None:
        """New deeds, their messages and their audit lines (R23), in this transaction: what
        ``deeds.add``, ``emit_many`` and ``audit`` write, in one statement on PostgreSQL when it
        is one of each (``POST /api/v1/deeds``), else in one statement each."""
        if not (self.db.is_postgres and len(new) == len(messages) == len(lines) == 1):
            self.deeds.add(new)
            self.emit_many(messages)
            self.audit(lines, at)
            return
        params = {"d_" + k: v for k, v in _row(new[0]).items()}
        params.update(("m_" + k, v) for k, v in outbox_rows(messages)[0].items())
        params.update(("a_" + k, v) for k, v in audit.line_rows(lines, at)[0].items())
        self.session.connection().execute(_RECORD_ONE, params)
        self.emitted += 1

    def keep_organisation(self, doc: dict[str, Any], actor: audit.Actor, details: dict[str, Any] | None) -> bool:
        """intake's copy of the organisation (``shared.orgcopy``); False when it is the same."""
        return store_org(self, doc, actor, details)

    def purge_answers(self, now: dt.datetime, ttl_hours: float) -> int:
        """Forget Idempotency-Key answers past their time (``shared.idempotency.purge``)."""
        return purge(self.session, now, ttl_hours)


# -- people, their sessions and sign-in failures (R24) -------------------------------------------
passwords = Password.__table__
person_sessions = PersonSession.__table__
signin_failures = SigninFailure.__table__


def _stored(row: Any) -> StoredSession:
    return StoredSession(row.id_hash, row.subject, row.role, row.csrf, row.created_at, row.last_seen_at,
                         row.ended_at, row.ended_why)


class People:
    """Passwords (their hashes only), sessions (their ids' digests only) and failed sign-ins."""

    def __init__(self, work: UnitOfWork) -> None:
        self.work = work

    @property
    def _s(self) -> Session:
        return self.work.session

    # -- passwords -------------------------------------------------------------------------------
    def password_hash(self, subject: str) -> str | None:
        return self.work.reader.execute(
            sa.select(passwords.c.hash).where(passwords.c.subject == subject)).scalar()

    def set_password(self, subject: str, digest: str, at: dt.datetime, by: str) -> None:
        """Set or replace the subject's password hash."""
        changed = self._s.execute(passwords.update().where(passwords.c.subject == subject)
                                  .values(hash=digest, set_at=at, set_by=by))
        if not changed.rowcount:
            self._s.execute(passwords.insert().values(subject=subject, hash=digest, set_at=at, set_by=by))

    def rehash(self, subject: str, digest: str) -> None:
        """The same password, hashed again with today's parameters."""
        self._s.execute(passwords.update().where(passwords.c.subject == subject).values(hash=digest))

    def with_passwords(self, live_since: dt.datetime) -> list[dict[str, Any]]:
        """Every person with a password (subject, set_at) and how many sessions of theirs were used
        since ``live_since`` and not ended (``sessions``), by subject."""
        reader = self.work.reader
        live = dict(reader.execute(
            sa.select(person_sessions.c.subject, sa.func.count()).where(
                person_sessions.c.ended_at.is_(None), person_sessions.c.last_seen_at > live_since
            ).group_by(person_sessions.c.subject)).all())
        rows = reader.execute(sa.select(passwords.c.subject, passwords.c.set_at).order_by(passwords.c.subject)).all()
        return [{"subject": r.subject, "set_at": r.set_at, "sessions": live.get(r.subject, 0)} for r in rows]

    # -- failed sign-ins -------------------------------------------------------------------------
    def failures_since(self, subject: str, address: str, since: dt.datetime) -> tuple[int, int]:
        """How many sign-ins of ``subject``, and from ``address``, failed after ``since``."""
        counts = []
        for column, value in ((signin_failures.c.subject, subject), (signin_failures.c.address, address)):
            counts.append(int(self.work.reader.execute(
                sa.select(sa.func.count()).select_from(signin_failures)
                .where(column == value, signin_failures.c.at > since)).scalar() or 0))
        return counts[0], counts[1]

    def add_failure(self, subject: str, address: str, at: dt.datetime, forget_before: dt.datetime) -> None:
        """Count a failure; those up to ``forget_before`` go as it comes (the table holds about
        one window's worth)."""
        self._s.execute(signin_failures.delete().where(signin_failures.c.at <= forget_before))
        self._s.execute(signin_failures.insert().values(subject=subject[:64], address=address[:64], at=at))

    def clear_failures(self, subject: str) -> None:
        self._s.execute(signin_failures.delete().where(signin_failures.c.subject == subject))

    # -- sessions --------------------------------------------------------------------------------
    def add_session(self, session: StoredSession) -> None:
        self._s.execute(person_sessions.insert().values(
            id_hash=session.digest, subject=session.subject, role=session.role, csrf=session.csrf,
            created_at=session.created_at, last_seen_at=session.last_seen_at))

    def session(self, digest: str) -> StoredSession | None:
        row = self.work.reader.execute(sa.select(person_sessions).where(person_sessions.c.id_hash == digest)).first()
        return _stored(row) if row is not None else None

    def touch(self, digest: str, at: dt.datetime) -> None:
        self._s.execute(person_sessions.update().where(person_sessions.c.id_hash == digest).values(last_seen_at=at))

    def set_role(self, digest: str, role: str) -> None:
        self._s.execute(person_sessions.update().where(person_sessions.c.id_hash == digest).values(role=role))

    def end(self, digest: str, why: str, at: dt.datetime) -> StoredSession | None:
        """End the session if it is live: the session as ended, or None when it was not live."""
        row = self._s.execute(person_sessions.update().where(
            person_sessions.c.id_hash == digest, person_sessions.c.ended_at.is_(None)
        ).values(ended_at=at, ended_why=why).returning(*person_sessions.c)).first()
        return _stored(row) if row is not None else None

    def end_all(self, subject: str, why: str, at: dt.datetime) -> int:
        """End every live session of ``subject``; how many there were."""
        result = self._s.execute(person_sessions.update().where(
            person_sessions.c.subject == subject, person_sessions.c.ended_at.is_(None)
        ).values(ended_at=at, ended_why=why))
        return int(result.rowcount or 0)


# -- organisation loads from the admin's page (R25) ----------------------------------------------
def _org_load(row: Any) -> OrgLoad:
    return OrgLoad(row.id, row.file, row.digest, row.document, row.requested_by, row.requested_at, row.state,
                   {name: dict(step) for name, step in row.steps.items()}, row.finished_at)


class OrgLoads:
    """The loads of an organisation asked for on the admin's page, each with its steps."""

    def __init__(self, work: UnitOfWork) -> None:
        self.work = work

    def running_since(self, since: dt.datetime) -> OrgLoad | None:
        """The newest load still running that was asked for after ``since``."""
        row = self.work.session.execute(
            sa.select(org_loads).where(org_loads.c.state.in_(RUNNING), org_loads.c.requested_at >= since)
            .order_by(org_loads.c.requested_at.desc())).first()
        return _org_load(row) if row is not None else None

    def add(self, load: OrgLoad) -> None:
        self.work.session.execute(org_loads.insert().values(
            id=load.id, file=load.file, digest=load.digest, document=load.document,
            requested_by=load.requested_by, requested_at=load.requested_at, state=load.state, steps=load.steps,
            finished_at=load.finished_at))

    def get(self, load_id: str, *, lock: bool = False) -> OrgLoad | None:
        """The load; ``lock``: and locked until the end of the transaction (its answers take turns)."""
        query = sa.select(org_loads).where(org_loads.c.id == load_id)
        session = self.work.session if lock else self.work.reader
        row = session.execute(query.with_for_update() if lock else query).first()
        return _org_load(row) if row is not None else None

    def update(self, load: OrgLoad) -> None:
        self.work.session.execute(org_loads.update().where(org_loads.c.id == load.id).values(
            state=load.state, steps=load.steps, finished_at=load.finished_at))

    def recent(self, limit: int) -> list[dict[str, Any]]:
        """The newest loads first, without their documents."""
        rows = self.work.reader.execute(sa.select(
            org_loads.c.id, org_loads.c.file, org_loads.c.digest, org_loads.c.requested_by,
            org_loads.c.requested_at, org_loads.c.state, org_loads.c.finished_at,
        ).order_by(org_loads.c.requested_at.desc(), org_loads.c.id.desc()).limit(limit)).all()
        return [r._asdict() for r in rows]


# -- program tokens in intake's copy (R24) -------------------------------------------------------
class Tokens:
    """intake's copy of the program tokens, read and revoked from the admin's page."""

    def __init__(self, work: UnitOfWork) -> None:
        self.work = work

    def in_force(self, now: dt.datetime) -> list[dict[str, Any]]:
        """Tokens neither revoked nor expired at ``now``, by subject then issue."""
        query = (sa.select(tokens.c.token_hash, tokens.c.role, tokens.c.subject, tokens.c.issued_at,
                           tokens.c.expires_at, tokens.c.last_used_at)
                 .where(tokens.c.revoked_at.is_(None), tokens.c.expires_at > now)
                 .order_by(tokens.c.subject, tokens.c.issued_at))
        return [dict(r) for r in self.work.reader.execute(query).mappings()]

    def matching(self, now: dt.datetime, *, hash_prefix: str | None = None,
                 subject: str | None = None) -> list[tuple[str, str, str]]:
        """(hash, role, subject) of the tokens in force whose hash starts with ``hash_prefix``, or
        of ``subject``."""
        query = sa.select(tokens.c.token_hash, tokens.c.role, tokens.c.subject).where(
            tokens.c.revoked_at.is_(None), tokens.c.expires_at > now)
        if hash_prefix is not None:
            query = query.where(tokens.c.token_hash.like(hash_prefix + "%"))
        else:
            query = query.where(tokens.c.subject == subject)
        return [(r.token_hash, r.role, r.subject) for r in self.work.session.execute(query)]

    def revoke(self, hashes: list[str], at: dt.datetime) -> None:
        """Revoke them; this process forgets the tokens it keeps in memory (``shared.auth``)."""
        self.work.session.execute(tokens.update().where(tokens.c.token_hash.in_(hashes), tokens.c.revoked_at.is_(None))
                                  .values(revoked_at=at))
        forget_tokens_on_commit(self.work)
