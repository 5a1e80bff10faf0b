"""All of the council's SQL that its use cases run: queries over its tables inside a caller's
session, and the repositories built from them that ``work.Work`` carries. Nothing here commits:
whoever opened the unit of work does.

SQLAlchemy Core over the tables ``orm.py`` declares, as in the other services: a use case gets
the domain's immutable nouns back (the frozen dataclasses ``Round``, ``Candidate``, ``Tally``,
``CouncilRules``; the named tuple ``Vote``), which a fake unit of work holds as easily
(tests/council/fakes.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.council.domain.ballots import Vote
from services.council.domain.rounds import (
    CANCELLED,
    CLOSED,
    OPEN,
    OPENING,
    QUARTERLY,
    REFERRAL,
    Candidate,
    CouncilRules,
    Round,
)
from services.council.domain.tally import Tally
from services.council.orm import (
    ballot_requests,
    candidate_results,
    candidates,
    council_members,
    councils,
    decisions,
    dossiers,
    entitlements,
    recognitions,
    revocations,
    rounds,
    tallies,
    tracked_deeds,
    voters,
    votes,
)
from shared.messages import CloseIntroductions, DossierSent
from shared.tables import inbox, outbox, parked_messages


def council(session: Session, code: str) -> Row | None:
    return session.execute(sa.select(councils).where(councils.c.code == code)).first()


def members(session: Session, code: str) -> list[str]:
    return list(
        session.execute(
            sa.select(council_members.c.member).where(council_members.c.council == code).order_by(council_members.c.member)
        ).scalars()
    )


def is_member(session: Session, code: str, officer: str) -> bool:
    return session.execute(
        sa.select(council_members.c.member).where(council_members.c.council == code, council_members.c.member == officer)
    ).first() is not None


def councils_of_member(session: Session, officer: str) -> list[str]:
    return list(session.execute(sa.select(council_members.c.council).where(council_members.c.member == officer)).scalars())


def councils_of_secretary(session: Session, officer: str) -> list[str]:
    return list(session.execute(sa.select(councils.c.code).where(councils.c.secretary == officer)).scalars())


def as_round(row: Row) -> Round:
    """A row of ``rounds`` as the Round the use cases hand on."""
    return Round(**row._mapping)


def round_(session: Session, round_id: str, lock: bool = False) -> Round | None:
    """A round; ``lock`` holds its row until the transaction ends (ballots against close, R20)."""
    query = sa.select(rounds).where(rounds.c.id == round_id)
    if lock:
        query = query.with_for_update()
    row = session.execute(query).first()
    return None if row is None else as_round(row)


def round_by_key(session: Session, natural_key: str) -> Round | None:
    row = session.execute(sa.select(rounds).where(rounds.c.natural_key == natural_key)).first()
    return None if row is None else as_round(row)


def cancelled_round(session: Session, council_code: str, kind: str, period: str) -> bool:
    """R20a: whether its secretary cancelled a round of this council, kind and period (a round
    that found no candidate, also cancelled, is not one: services.introductions_closed)."""
    return session.execute(sa.select(rounds.c.id).where(
        rounds.c.council == council_code, rounds.c.kind == kind, rounds.c.period == period,
        rounds.c.status == "cancelled", rounds.c.found_empty.is_(False),
    ).limit(1)).first() is not None


def candidates_of(session: Session, round_id: str) -> list[Row]:
    return list(
        session.execute(sa.select(candidates).where(candidates.c.round_id == round_id).order_by(candidates.c.position))
    )


def entitled_counts(session: Session, round_id: str, candidate_ids: Iterable[str] | None = None) -> dict[str, int]:
    """R17: how many members may vote on each candidate of a round (``candidate_ids``: the round's
    candidates when the caller has them already)."""
    if candidate_ids is None:
        candidate_ids = [c.id for c in candidates_of(session, round_id)]
    counts = {cid: 0 for cid in candidate_ids}
    rows = session.execute(
        sa.select(entitlements.c.candidate_id, sa.func.count())
        .where(entitlements.c.round_id == round_id)
        .group_by(entitlements.c.candidate_id)
    )
    for cid, n in rows:
        counts[cid] = n
    return counts


def entitled_to(session: Session, round_id: str, member: str) -> set[str]:
    """The candidates ``member`` may vote on (R17), none withdrawn (R15a)."""
    return set(
        session.execute(
            sa.select(entitlements.c.candidate_id)
            .join(candidates, candidates.c.id == entitlements.c.candidate_id)
            .where(entitlements.c.round_id == round_id, entitlements.c.member == member,
                   candidates.c.withdrawn.is_(False))
        ).scalars()
    )


def roll(session: Session, round_id: str, candidate_ids: Iterable[str] | None = None) -> dict[str, set[str]]:
    """candidate id → the members entitled to vote on it (only ``candidate_ids``' when given)."""
    out: dict[str, set[str]] = defaultdict(set)
    query = sa.select(entitlements.c.candidate_id, entitlements.c.member).where(entitlements.c.round_id == round_id)
    if candidate_ids is not None:
        query = query.where(entitlements.c.candidate_id.in_(list(candidate_ids)))
    for cid, member in session.execute(query):
        out[cid].add(member)
    return out


def has_voted(session: Session, round_id: str, member: str) -> bool:
    return session.execute(
        sa.select(voters.c.member).where(voters.c.round_id == round_id, voters.c.member == member)
    ).first() is not None


def voted_count(session: Session, round_row: Round) -> int:
    """R20a: how many ballots the round holds, electronic (its members who voted) or paper (the
    secretary's count); never who."""
    if round_row.paper:
        return round_row.paper_ballots or 0
    return session.execute(
        sa.select(sa.func.count()).select_from(voters).where(voters.c.round_id == round_row.id)
    ).scalar_one()


VOTE_COLUMNS = [votes.c[name] for name in Vote._fields]


def votes_of(session: Session, round_id: str) -> list[Row]:
    """The round's votes in receipt order, which is random (R19); their columns are ``Vote``'s
    fields, in order."""
    return list(session.execute(sa.select(*VOTE_COLUMNS).where(votes.c.round_id == round_id)
                                .order_by(votes.c.receipt)))


def vote_receipts(session: Session, round_id: str) -> set[str]:
    return set(session.execute(sa.select(votes.c.receipt).where(votes.c.round_id == round_id)).scalars())


def tally(session: Session, round_id: str) -> Row | None:
    return session.execute(sa.select(tallies).where(tallies.c.round_id == round_id)).first()


def results_of(session: Session, round_id: str) -> dict[str, Row]:
    return {
        r.candidate_id: r
        for r in session.execute(sa.select(candidate_results).where(candidate_results.c.round_id == round_id))
    }


def reshuffle(session: Session, round_id: str) -> None:
    """R19: rewrite the round's voters and votes in key order (member code, random receipt), so
    neither the physical order of rows nor the transaction that wrote them tells who cast which."""
    for table, key in ((voters, voters.c.member), (votes, votes.c.receipt)):
        rows: list[dict[str, Any]] = [
            dict(r._mapping) for r in session.execute(sa.select(table).where(table.c.round_id == round_id).order_by(key))
        ]
        session.execute(table.delete().where(table.c.round_id == round_id))
        if rows:
            session.execute(table.insert(), rows)


# -- the repositories a use case is given (``work.Work``) ---------------------------------------
# Each is built over a function that returns the session it runs in: the unit of work's writer,
# or its reader for the use cases that only read (``Work.reading``). What they return are the
# domain's immutable nouns, never rows, so that a fake unit of work holds them as easily
# (tests/council/fakes.py).
Sessions = Callable[[], Session]


class Taken(Exception):
    """A unique key another transaction took first (two openings of one period, two ballots of
    one member at once); nothing more is written in this transaction."""


def _candidate(row: Any) -> Candidate:
    return Candidate(**row._mapping)


def _upsert(session: Session, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that can say what to do with rows already there (both databases speak ON CONFLICT)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


class Councils:
    """The councils and their members, as the organisation last loaded made them (R25)."""

    def __init__(self, session: Sessions) -> None:
        self._s = session

    def get(self, code: str) -> CouncilRules | None:
        row = council(self._s(), code)
        return None if row is None else CouncilRules(**row._mapping)

    def members(self, code: str) -> list[str]:
        return members(self._s(), code)

    def has_member(self, code: str, officer: str) -> bool:
        return is_member(self._s(), code, officer)

    def of_member(self, officer: str) -> list[str]:
        return councils_of_member(self._s(), officer)

    def of_secretary(self, officer: str) -> list[str]:
        return councils_of_secretary(self._s(), officer)

    def replace(self, every: list[CouncilRules], memberships: list[tuple[str, str]]) -> None:
        """All councils and their (council, member) pairs anew."""
        session = self._s()
        session.execute(council_members.delete())
        session.execute(councils.delete())
        if every:
            session.execute(councils.insert(), [dataclasses.asdict(c) for c in every])
        if memberships:
            session.execute(council_members.insert(), [{"council": c, "member": m} for c, m in memberships])


class Rounds:
    """The rounds: opened, changed only through guarded transitions where a race matters (R20)."""

    def __init__(self, session: Sessions) -> None:
        self._s = session

    def get(self, round_id: str, lock: bool = False) -> Round | None:
        """``lock``: ``SELECT … FOR UPDATE``, held until the transaction ends (ballots against close)."""
        return round_(self._s(), round_id, lock)

    def by_key(self, natural_key: str) -> Round | None:
        return round_by_key(self._s(), natural_key)

    def cancelled_by_secretary(self, council_code: str, kind: str, period: str) -> bool:
        return cancelled_round(self._s(), council_code, kind, period)

    def add(self, rnd: Round) -> None:
        """A new round; ``Taken`` when its natural key is (one round per council, kind and period)."""
        try:
            self._s().execute(rounds.insert().values(**dataclasses.asdict(rnd)))
        except IntegrityError:
            raise Taken(rnd.natural_key) from None

    def change(self, round_id: str, **values: Any) -> None:
        self._s().execute(rounds.update().where(rounds.c.id == round_id).values(**values))

    def close_if_open(self, round_id: str, due_by: dt.datetime | None = None) -> bool:
        """R20: the guarded transition open → closed; only one transaction ever sees it succeed."""
        cond = [rounds.c.id == round_id, rounds.c.status == OPEN]
        if due_by is not None:
            cond.append(rounds.c.closes_at <= due_by)
        return self._s().execute(rounds.update().where(*cond).values(status=CLOSED)).rowcount == 1

    def cancel_if_open(self, round_id: str, natural_key: str) -> bool:
        """R20a: open → cancelled under a natural key that frees the period; False when it changed."""
        done = self._s().execute(rounds.update().where(rounds.c.id == round_id, rounds.c.status == OPEN).values(
            status=CANCELLED, natural_key=natural_key))
        return done.rowcount == 1

    def live(self, lock: bool = False) -> list[Round]:
        """The rounds still opening or open, by id (R25); ``lock``: each row held."""
        query = sa.select(rounds).where(rounds.c.status.in_((OPENING, OPEN))).order_by(rounds.c.id)
        if lock:
            query = query.with_for_update()
        return [as_round(r) for r in self._s().execute(query)]

    def due(self, now: dt.datetime) -> list[str]:
        """R20: the open rounds past their deadline, the earliest first."""
        return list(self._s().execute(
            sa.select(rounds.c.id).where(rounds.c.status == OPEN, rounds.c.closes_at <= now)
            .order_by(rounds.c.closes_at)
        ).scalars())

    def quarterly_pending(self, quarter: str) -> bool:
        """Whether a quarterly round of ``quarter`` is neither closed nor cancelled (R21)."""
        return self._s().execute(
            sa.select(sa.func.count()).select_from(rounds)
            .where(rounds.c.kind == QUARTERLY, rounds.c.period == quarter,
                   rounds.c.status.not_in((CLOSED, CANCELLED)))
        ).scalar_one() > 0

    def page(self, councils_seen: list[str] | None, filters: dict[str, str], limit: int,
             after: str | None) -> list[Round]:
        """Up to ``limit`` rounds of ``councils_seen`` (None: all), by id after ``after``."""
        query = sa.select(rounds)
        if "council" in filters:
            query = query.where(rounds.c.council == filters["council"])
        elif councils_seen is not None:
            query = query.where(rounds.c.council.in_(councils_seen))
        for name in ("status", "period", "kind"):
            if name in filters:
                query = query.where(getattr(rounds.c, name) == filters[name])
        if after is not None:
            query = query.where(rounds.c.id > after)
        return [as_round(r) for r in self._s().execute(query.order_by(rounds.c.id).limit(limit))]

    def asked_intake(self, round_id: str) -> bool:
        """Whether a monthly round's ``CloseIntroductions`` still waits in the outbox, unsent."""
        asked = outbox.c.envelope["payload"]["round_id"].as_string() == round_id
        return self._s().execute(sa.select(outbox.c.id).where(
            outbox.c.type == CloseIntroductions.TYPE, asked, outbox.c.sent_at.is_(None))).first() is not None


class Candidates:
    """The candidates of the rounds and their voter rolls (R17 entitlements), frozen at opening."""

    def __init__(self, session: Sessions) -> None:
        self._s = session

    def of(self, round_id: str) -> list[Candidate]:
        return [_candidate(r) for r in candidates_of(self._s(), round_id)]

    def add(self, round_id: str, added: list[Candidate], entitled: list[tuple[str, str]]) -> None:
        """Candidates of a round and their roll, ``(member, candidate id)``: one multi-row INSERT
        each (a provincial round freezes hundreds of candidates and thousands of entitlements)."""
        session = self._s()
        if added:
            session.execute(candidates.insert(), [dataclasses.asdict(c) for c in added])
        if entitled:
            session.execute(entitlements.insert(), [
                {"round_id": round_id, "member": m, "candidate_id": cid} for m, cid in entitled])

    def next_position(self, round_id: str) -> int:
        return self._s().execute(
            sa.select(sa.func.coalesce(sa.func.max(candidates.c.position) + 1, 0))
            .where(candidates.c.round_id == round_id)
        ).scalar_one()

    def referred(self, deed_ids: list[str]) -> set[str]:
        """Which of ``deed_ids`` are candidates of a referral round already (R17a)."""
        return set(self._s().execute(
            sa.select(candidates.c.deed_id).join(rounds, rounds.c.id == candidates.c.round_id)
            .where(rounds.c.kind == REFERRAL, candidates.c.deed_id.in_(deed_ids))
        ).scalars())

    def withdraw(self, deed_id: str) -> list[str]:
        """R15a: the deed's candidates in rounds still opening or open, withdrawn, their rounds'
        rows locked; returns those rounds."""
        session = self._s()
        found = session.execute(
            sa.select(candidates.c.id, candidates.c.round_id).join(rounds, rounds.c.id == candidates.c.round_id)
            .where(candidates.c.deed_id == deed_id, rounds.c.status.in_((OPENING, OPEN)),
                   candidates.c.withdrawn.is_(False))
            .with_for_update(of=rounds)
        ).all()
        for cid, _ in found:
            session.execute(candidates.update().where(candidates.c.id == cid).values(withdrawn=True))
        return [round_id for _, round_id in found]

    def entitled_counts(self, round_id: str, candidate_ids: Iterable[str] | None = None) -> dict[str, int]:
        return entitled_counts(self._s(), round_id, candidate_ids)

    def entitled_to(self, round_id: str, member: str) -> set[str]:
        return entitled_to(self._s(), round_id, member)

    def roll(self, round_id: str, candidate_ids: Iterable[str] | None = None) -> dict[str, set[str]]:
        return roll(self._s(), round_id, candidate_ids)

    def on_roll(self, round_id: str) -> set[str]:
        """The members entitled to any candidate of the round, withdrawn or not."""
        return set(self._s().execute(
            sa.select(entitlements.c.member).where(entitlements.c.round_id == round_id).distinct()).scalars())

    def strike(self, round_id: str, leaving: set[str]) -> None:
        """R25: members who left the council taken off the round's roll."""
        self._s().execute(entitlements.delete().where(
            entitlements.c.round_id == round_id, entitlements.c.member.in_(sorted(leaving))))

    def waiting_for(self, round_id: str) -> int:
        """R20: the members a round still waits for: those entitled to a candidate not withdrawn."""
        return self._s().execute(
            sa.select(sa.func.count(sa.distinct(entitlements.c.member)))
            .select_from(entitlements.join(candidates, candidates.c.id == entitlements.c.candidate_id))
            .where(entitlements.c.round_id == round_id, candidates.c.withdrawn.is_(False))
        ).scalar_one()


class Ballots:
    """Who voted (``voters``) apart from how (``votes``), never joined (R19); the sealed answers."""

    def __init__(self, session: Sessions) -> None:
        self._s = session

    def has_voted(self, round_id: str, member: str) -> bool:
        return has_voted(self._s(), round_id, member)

    def count(self, rnd: Round) -> int:
        return voted_count(self._s(), rnd)

    def voters(self, round_id: str) -> list[str]:
        """The members who voted, by code: never in the order they voted."""
        return list(self._s().execute(
            sa.select(voters.c.member).where(voters.c.round_id == round_id).order_by(voters.c.member)).scalars())

    def votes(self, round_id: str) -> list[Vote]:
        # By position (votes_of selects Vote's fields in order): a provincial close reads thousands
        # of votes, and a row's mapping costs more than the vote it makes.
        return [Vote._make(r) for r in votes_of(self._s(), round_id)]

    def receipts(self, round_id: str) -> set[str]:
        return vote_receipts(self._s(), round_id)

    def cast(self, round_id: str, cast: list[Vote], voter: str | None) -> None:
        """R19: a ballot's votes and (electronic) the mark that ``voter`` voted, then the round's
        rows of both tables rewritten in key order (``reshuffle``)."""
        session = self._s()
        try:
            if cast:
                session.execute(votes.insert(), [v._asdict() for v in cast])
            if voter is not None:
                session.execute(voters.insert().values(round_id=round_id, member=voter))
        except IntegrityError:
            raise Taken(voter) from None  # the same member's other ballot, at the same moment
        reshuffle(session, round_id)

    def drop_votes(self, round_id: str) -> None:
        self._s().execute(votes.delete().where(votes.c.round_id == round_id))

    def forget_answers(self, before: dt.datetime) -> int:
        """Sealed Idempotency-Key answers of ballots older than ``before``, dropped."""
        return self._s().execute(ballot_requests.delete().where(ballot_requests.c.created_at < before)).rowcount


class Outcomes:
    """What closes record: the tally (R20), each candidate's count (R7), the decisions (R8, R14)."""

    def __init__(self, session: Sessions) -> None:
        self._s = session

    def tally(self, round_id: str) -> Tally | None:
        row = tally(self._s(), round_id)
        return None if row is None else Tally(**row._mapping)

    def record(self, closed: Tally, counted: list[dict[str, Any]]) -> None:
        session = self._s()
        session.execute(tallies.insert().values(**dataclasses.asdict(closed)))
        if counted:
            session.execute(candidate_results.insert(), counted)

    def last_decision(self, issuer: str, year: int) -> int:
        """The last decision number's sequence of ``issuer`` in ``year`` (0 for none)."""
        return self._s().execute(
            sa.select(sa.func.max(decisions.c.seq)).where(decisions.c.issuer == issuer, decisions.c.year == year)
        ).scalar() or 0

    def add_decision(self, **values: Any) -> None:
        """A decision; a number taken by a concurrent close raises ``IntegrityError`` (retried)."""
        self._s().execute(decisions.insert().values(**values))


class Recognitions:
    """R8 recognitions and R15a revocations."""

    def __init__(self, session: Sessions) -> None:
        self._s = session

    def add(self, rows: list[dict[str, Any]]) -> None:
        self._s().execute(recognitions.insert(), rows)

    def of(self, deed_ids: list[str]) -> dict[str, Any]:
        """deed id → its recognition (decision and tally read by its dossier)."""
        return {r.deed_id: r for r in self._s().execute(
            sa.select(recognitions).where(recognitions.c.deed_id.in_(deed_ids)))}

    def unproposed(self, unit: str, months: list[str]) -> list[dict]:
        """R11: the unit's deeds recognised in ``months`` and not yet proposed, as recognised."""
        return list(self._s().execute(
            sa.select(recognitions.c.deed)
            .where(recognitions.c.unit == unit, recognitions.c.month.in_(months),
                   recognitions.c.proposed_in.is_(None))
            .order_by(recognitions.c.recognised_at, recognitions.c.deed_id)
        ).scalars())

    def proposed(self, deed_ids: list[str], round_id: str) -> None:
        self._s().execute(recognitions.update().where(recognitions.c.deed_id.in_(deed_ids)).values(
            proposed_in=round_id))

    def month_of(self, deed_id: str) -> str | None:
        return self._s().execute(
            sa.select(recognitions.c.month).where(recognitions.c.deed_id == deed_id)).scalar()

    def revoked(self, deed_ids: Iterable[str]) -> set[str]:
        """Which of ``deed_ids`` had their recognition revoked."""
        ids = list(dict.fromkeys(deed_ids))
        if not ids:
            return set()
        return set(self._s().execute(
            sa.select(revocations.c.deed_id).where(revocations.c.deed_id.in_(ids))).scalars())

    def revoke(self, **values: Any) -> None:
        self._s().execute(revocations.insert().values(**values))


class Dossiers:
    """R11, R12: the proposal dossiers the provincial council received."""

    def __init__(self, session: Sessions) -> None:
        self._s = session

    def of_quarter(self, quarter: str) -> list[tuple[dict, str]]:
        """(deed, dossier id) of the dossiers received for ``quarter``, in the order received."""
        rows = self._s().execute(
            sa.select(dossiers.c.id, dossiers.c.deed).where(dossiers.c.quarter == quarter)
            .order_by(dossiers.c.created_at, dossiers.c.id))
        return [(r.deed, r.id) for r in rows]

    def received(self, deed_id: str) -> bool:
        return self._s().execute(sa.select(dossiers.c.id).where(dossiers.c.deed_id == deed_id)).first() is not None

    def add(self, **values: Any) -> None:
        self._s().execute(dossiers.insert().values(**values))

    def in_flight(self, quarter: str) -> int:
        """Dossiers of ``quarter`` a quarterly round sent and the provincial council has not
        received yet (nor given up on: a parked message is an operator's): read from this
        database's outbox, inbox and parked messages."""
        return self._s().execute(
            sa.select(sa.func.count()).select_from(outbox).where(
                outbox.c.type == DossierSent.TYPE,
                outbox.c.envelope["payload"]["quarter"].as_string() == quarter,
                ~sa.exists().where(inbox.c.message_id == outbox.c.message_id),
                ~sa.exists().where(parked_messages.c.message_id == outbox.c.message_id),
            )
        ).scalar_one()


class Counts:
    """R10: the deeds council heard of, by unit and month, and whether introduced."""

    def __init__(self, session: Sessions) -> None:
        self._s = session

    def track(self, deeds: Iterable[tuple[str, str, str]], introduced: bool) -> None:
        """Each deed (id, unit, month) counted once, whichever message told of it first and
        however often; "introduced" is learnt once and never unlearnt (messages arrive in any
        order). One statement for any number of deeds."""
        rows = {
            deed_id: {"deed_id": deed_id, "unit": unit, "month": month, "introduced": introduced}
            for deed_id, unit, month in deeds
        }
        if not rows:
            return
        session = self._s()
        stmt = _upsert(session, tracked_deeds)
        if introduced:
            stmt = stmt.on_conflict_do_update(index_elements=[tracked_deeds.c.deed_id], set_={"introduced": True})
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=[tracked_deeds.c.deed_id])
        session.execute(stmt, list(rows.values()))
