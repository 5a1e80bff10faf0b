"""Queries over the council's tables inside a caller's session; nothing here commits."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from services.council.domain.rounds import Round
from services.council.orm import (
    candidate_results,
    candidates,
    council_members,
    councils,
    entitlements,
    rounds,
    tallies,
    voters,
    votes,
)


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
        rounds.c.status == "cancelled", rounds.c.natural_key.like("%#cancelled:%"),
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


def votes_of(session: Session, round_id: str) -> list[Row]:
    """The round's votes in receipt order, which is random (R19)."""
    return list(session.execute(sa.select(votes).where(votes.c.round_id == round_id).order_by(votes.c.receipt)))


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
