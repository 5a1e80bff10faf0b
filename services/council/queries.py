"""The read side: Round, Result and the monthly summary (R10) as API.md shapes them, built from a
session; nothing here writes."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from services.council import repository as repo
from services.council.domain.rounds import (
    CANCELLED,
    CLOSED,
    MONTH_KINDS,
    MONTHLY,
    RECOGNISING,
    SUPPLEMENTARY,
    Round,
)
from services.council.orm import candidates, recognitions, revocations, rounds, tallies, tracked_deeds
from services.council.schemas import ResultOut, RoundOut, dump
from shared import clock


def round_view(session: Session, row: Round) -> dict[str, Any]:
    """API.md, Round."""
    cands = repo.candidates_of(session, row.id)
    return dump(RoundOut, {
        "id": row.id,
        "council": row.council,
        "kind": row.kind,
        "period": row.period,
        "status": row.status,
        "opens_at": clock.isoformat(row.opens_at),
        "closes_at": clock.isoformat(row.closes_at),
        "entitled": row.entitled,
        "voted": repo.voted_count(session, row),
        "candidates": [
            {"id": c.id, "deed_id": c.deed_id, "title": c.title, "author": c.author, "unit": c.unit,
             "month": c.deed.get("month"), "carried_over": carried_over(row, c), "withdrawn": c.withdrawn}
            for c in cands
        ],
        "runoff_of": row.runoff_of,
        "referred_from": row.referred_from,
    })


def carried_over(row: Round, candidate: Row) -> bool:
    """R5a: a candidate of a month's round whose deed is of an earlier month."""
    return row.kind in MONTH_KINDS and (candidate.deed.get("month") or row.period) < row.period


def result_view(session: Session, row: Round) -> dict[str, Any]:
    """API.md, Result: counts and ballots only once the round is closed (R19), never a voter's
    name unless the council votes by open ballot."""
    cands = repo.candidates_of(session, row.id)
    tally = repo.tally(session, row.id) if row.status == CLOSED else None
    if tally is None:
        entitled = repo.entitled_counts(session, row.id)
        return dump(ResultOut, {
            "round": row.id,
            "status": row.status,
            "candidates": [
                {"id": c.id, "deed_id": c.deed_id, "approve": None, "reject": None, "abstain": None,
                 "entitled": entitled.get(c.id, 0), "ratio": None, "passed": None, "selected": None,
                 "withdrawn": c.withdrawn}
                for c in cands
            ],
            "ballots": [],
            "decision": None,
            "runoff": None,
            "quota_met": None,
        })
    results = repo.results_of(session, row.id)
    return closed_result(
        row,
        [(c, results[c.id]) for c in cands],
        repo.votes_of(session, row.id),
        {"number": tally.decision_number, "date": tally.decision_date} if tally.decision_number else None,
        tally.runoff_round_id,
        tally.quota_met,
    )


def closed_result(row: Round, counted: list[tuple[Row, Any]], cast: list[Row], decision: dict[str, str] | None,
                  runoff: str | None, quota_met: bool | None) -> dict[str, Any]:
    """API.md, Result of a closed round, from its candidates in order, each with what was counted
    for it (approve, reject, abstain, entitled, base, passed, selected), and its votes: read back
    from the tables, or as the closing transaction counted them.

    R19: published vote by vote, each object naming one candidate under its own receipt, sorted
    by receipt, so that every published object has the same shape whoever cast it."""
    published = []
    for v in sorted(cast, key=lambda v: v.receipt):
        vote: dict[str, Any] = {"receipt": v.receipt, "choices": {v.candidate_id: v.choice}}
        if row.open_ballots and v.voter:
            vote["voter"] = v.voter
        published.append(vote)
    return dump(ResultOut, {
        "round": row.id,
        "status": CLOSED,
        "candidates": [
            {"id": c.id, "deed_id": c.deed_id, "approve": r.approve, "reject": r.reject, "abstain": r.abstain,
             "entitled": r.entitled, "ratio": f"{r.approve}/{r.base}", "passed": r.passed, "selected": r.selected,
             # R15a: revoked while the round was open; its votes stay published, it never passed.
             "withdrawn": bool(getattr(c, "withdrawn", False)),
             # R16: the result is public once closed; only what it selected is named.
             **({"title": c.title, "author": c.author} if r.selected else {})}
            for c, r in counted
        ],
        "ballots": published,
        "decision": decision,
        "runoff": runoff,
        "quota_met": quota_met,
    })


def units_with_month(session: Session, month: str, exclude: set[str]) -> list[str]:
    """The units, other than ``exclude``, that recorded deeds or held a round in ``month``."""
    found = set(session.execute(sa.select(tracked_deeds.c.unit).where(tracked_deeds.c.month == month).distinct())
                .scalars())
    found |= set(session.execute(sa.select(rounds.c.unit).where(rounds.c.period == month).distinct()).scalars())
    return sorted(found - exclude)


def monthly_summary(session: Session, units: list[str], month: str) -> list[dict[str, Any]]:
    """R10: per unit, deeds recorded, introduced, put to the vote, recognised; quota met or not."""
    td = tracked_deeds
    counts = {
        unit: (recorded, introduced or 0)
        for unit, recorded, introduced in session.execute(
            sa.select(td.c.unit, sa.func.count(), sa.func.sum(sa.case((td.c.introduced, 1), else_=0)))
            .where(td.c.month == month, td.c.unit.in_(units))
            .group_by(td.c.unit)
        )
    }
    month_rounds = session.execute(
        sa.select(rounds.c.unit, rounds.c.kind, rounds.c.id, rounds.c.recorded, tallies.c.quota_met)
        .select_from(rounds.outerjoin(tallies, tallies.c.round_id == rounds.c.id))
        .where(rounds.c.period == month, rounds.c.kind.in_(RECOGNISING), rounds.c.unit.in_(units),
               rounds.c.status != CANCELLED)
    ).all()
    by_unit: dict[str, dict[str, Row]] = {}
    for r in month_rounds:
        by_unit.setdefault(r.unit, {})[r.kind] = r
    # R15a: a revoked recognition counts as revoked, not recognised, in the month that recognised it.
    recognised = dict(
        session.execute(
            sa.select(recognitions.c.unit, sa.func.count())
            .where(recognitions.c.month == month, recognitions.c.unit.in_(units),
                   ~sa.exists().where(revocations.c.deed_id == recognitions.c.deed_id))
            .group_by(recognitions.c.unit)
        ).all()
    )
    revoked = dict(
        session.execute(
            sa.select(revocations.c.unit, sa.func.count())
            .where(revocations.c.month == month, revocations.c.unit.in_(units))
            .group_by(revocations.c.unit)
        ).all()
    )
    rows = []
    for unit in units:
        recorded, introduced = counts.get(unit, (0, 0))
        kinds = by_unit.get(unit, {})
        monthly = kinds.get(MONTHLY)
        put_to_vote = 0
        if monthly is not None:
            months = [m for (m,) in session.execute(
                sa.select(candidates.c.deed["month"].as_string()).where(candidates.c.round_id == monthly.id))]
            put_to_vote = len(months)
            # Intake's own count when it closed the month, if it knew of more than we heard of; the
            # deeds of earlier months carried into this round (R5a) were introduced in their own.
            recorded = max(recorded, monthly.recorded or 0)
            introduced = max(introduced, sum(1 for m in months if m == month))
        quota_met = None
        if monthly is not None and monthly.quota_met is not None:
            supplementary = kinds.get(SUPPLEMENTARY)
            quota_met = bool(monthly.quota_met or (supplementary is not None and supplementary.quota_met))
        rows.append({
            "unit": unit, "month": month, "recorded": recorded, "introduced": introduced,
            "candidates": put_to_vote, "recognised": recognised.get(unit, 0),
            # R15a: counted once council learns of the revocation (a message from the book).
            "revoked": revoked.get(unit, 0), "quota_met": quota_met,
        })
    return rows
