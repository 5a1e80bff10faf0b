"""R20: what closing a round does, inside the closing transaction (the caller commits): the tally
(R7, R17), the selection (R8, R11, R12, R13), the decision (R8, R14), and the messages and records
each selection causes. Called only by the one transaction whose compare-and-set closed the round."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, NamedTuple

from services.council.domain import ranking
from services.council.domain.ballots import Vote
from services.council.domain.decisions import decision_number
from services.council.domain.rounds import (
    MONTHLY,
    OPEN,
    PROVINCIAL,
    QUARTERLY,
    RECOGNISING,
    RECOGNISING_FOR_UNIT,
    REFERRAL,
    RUNOFF,
    Candidate,
    Round,
)
from services.council.domain.tally import Count, Tally, count_votes
from shared import clock
from shared.ids import new_id
from shared.messages import DeedFateDecided, DossierSent, Inscribe, Message
from shared.org import Organisation

if TYPE_CHECKING:
    from services.council.work import Work


class Counted(NamedTuple):
    """What the close counted for one candidate: a ``candidate_results`` row."""

    approve: int
    reject: int
    abstain: int
    entitled: int
    base: int
    passed: bool
    selected: bool
    runoff: bool


class Closed(NamedTuple):
    """What closing a round counted and decided: ``queries.closed_result``'s arguments after the row."""

    counted: list[tuple[Candidate, Counted]]
    cast: list[Vote]
    decision: dict[str, str] | None
    runoff: str | None
    quota_met: bool | None


def tally_round(uow: Work, row: Round, now: dt.datetime, closed_by: str, org: Organisation,
                runoff_hours: int) -> Closed:
    """Count, select, decide and record the consequences of one round that was just closed; returns
    what was counted and decided, from which the close request answers after its commit without
    reading it back (the inscriptions the close caused are running by then, on the same cores).

    The statements it runs do not grow with the number of candidates: each table gets its rows
    in one multi-row INSERT and the messages go to the outbox together (a provincial round has
    hundreds of candidates, and a statement per row made its close take seconds)."""
    cands = uow.candidates.of(row.id)
    cast = uow.ballots.votes(row.id)
    # R19: each vote is counted as the one-candidate ballot it is published as.
    counts = count_votes(uow.candidates.entitled_counts(row.id, [c.id for c in cands]),
                         ((v.candidate_id, v.choice) for v in cast))
    passing = [
        ranking.Standing(c.id, counts[c.id].approve, counts[c.id].base(row.base))
        for c in cands
        # R15a: a candidate withdrawn (its recognition revoked) is counted but never passes.
        if counts[c.id].passes(row.threshold_percent, row.base) and not c.withdrawn
    ]
    cap = row.cap if row.kind == PROVINCIAL else row.places if row.kind == RUNOFF else None
    selection = ranking.select(passing, cap)
    selected = set(selection.selected)
    passed = {s.candidate for s in passing}
    tied = set(selection.tied)

    decision = None
    if selected and row.kind != QUARTERLY:
        decision = _issue_decision(uow, row, now, org)
    runoff_id = _open_runoff(uow, row, cands, selection, now, runoff_hours) if selection.needs_runoff else None
    quota_met = bool(selected) if row.kind in RECOGNISING else None
    counted = []
    for c in cands:
        n = counts[c.id]
        counted.append((c, Counted(n.approve, n.reject, n.abstain, n.entitled, n.base(row.base),
                                   c.id in passed, c.id in selected, c.id in tied)))
    uow.outcomes.record(
        Tally(round_id=row.id, closed_at=now, closed_by=closed_by, voted=uow.ballots.count(row),
              quota_met=quota_met, decision_number=decision["number"] if decision else None,
              decision_date=decision["date"] if decision else None, runoff_round_id=runoff_id),
        [{"round_id": row.id, "candidate_id": c.id, **r._asdict()} for c, r in counted],
    )

    chosen = [(c, _tally_of(row, counts[c.id])) for c in cands if c.id in selected]
    consequences = _record_selected(uow, row, chosen, decision, now)
    messages: list[Message] = []
    for c in cands:
        if c.id in selected:
            messages.extend(consequences[c.id])
        elif row.kind in (MONTHLY, REFERRAL):
            # API.md: a deed that passes but is not selected keeps its status; in a monthly round
            # (or a referral round, R17a) every passing deed is selected, so the others were not.
            messages.append(DeedFateDecided(deed_id=c.deed_id, status="not_selected", round_id=row.id))
    uow.emit_many(messages)
    return Closed(counted, cast, {"number": decision["number"], "date": decision["date"]} if decision else None,
                  runoff_id, quota_met)


def _tally_of(row: Round, n: Count) -> dict[str, Any]:
    return {
        "approve": n.approve, "reject": n.reject, "abstain": n.abstain, "entitled": n.entitled,
        "ratio": n.ratio_text(row.base), "round": row.id, "round_kind": row.kind, "period": row.period,
    }


def _record_selected(uow: Work, row: Round, chosen: list[tuple[Candidate, dict[str, Any]]],
                     decision: dict[str, str] | None, now: dt.datetime) -> dict[str, list[Message]]:
    """Record what selection causes, by kind of round, for all the selected at once; returns the
    messages each selected candidate causes, in the order its consequences happen."""
    out: dict[str, list[Message]] = {}
    if not chosen:
        return out
    if row.kind in RECOGNISING_FOR_UNIT:
        assert decision is not None
        # R8: recognised by the unit and inscribed in its golden book; R17a: a referral round's
        # deed likewise, in its own unit's book, under the provincial decision.
        uow.recognitions.add([
            {"deed_id": c.deed_id, "unit": c.unit, "month": row.period, "round_id": row.id,
             "candidate_id": c.id, "deed": c.deed, "decision": decision, "tally": tally, "recognised_at": now}
            for c, tally in chosen
        ])
        for c, tally in chosen:
            out[c.id] = [
                Inscribe(book=c.unit, source=f"{row.id}:{c.id}", deed=c.deed, decision=decision, tally=tally),
                DeedFateDecided(deed_id=c.deed_id, status="recognised", round_id=row.id),
            ]
    elif row.kind == QUARTERLY:
        # R11: the proposal dossier, frozen, sent to the provincial council as a message.
        deed_ids = [c.deed_id for c, _ in chosen]
        recs = uow.recognitions.of(deed_ids)
        for c, tally in chosen:
            rec = recs.get(c.deed_id)
            out[c.id] = [
                DossierSent(
                    dossier_id=new_id(), deed_id=c.deed_id, quarter=row.period, unit=row.unit,
                    quarterly_round_id=row.id, deed=c.deed, evidence=list(c.deed.get("evidence") or []),
                    monthly_decision=rec.decision if rec else {}, monthly_tally=rec.tally if rec else {},
                    quarterly_tally=tally,
                ),
                DeedFateDecided(deed_id=c.deed_id, status="proposed", round_id=row.id),
            ]
        uow.recognitions.proposed(deed_ids, row.id)
    else:
        # R14: inscribed in the provincial golden book.
        assert decision is not None
        for c, tally in chosen:
            out[c.id] = [Inscribe(book=row.unit, source=f"{row.id}:{c.id}", deed=c.deed, decision=decision, tally=tally)]
    return out


def _issue_decision(uow: Work, row: Round, now: dt.datetime, org: Organisation) -> dict[str, str]:
    """R8, R14: the next number of the issuing unit in the local year of the closing day. Two rounds
    of one unit closing at once race on the unique (issuer, year, seq): the loser retries."""
    day = clock.local(now).date()
    seq = uow.outcomes.last_decision(row.unit, day.year) + 1
    number = decision_number(seq, row.unit)
    uow.outcomes.add_decision(
        number=number, issuer=row.unit, year=day.year, seq=seq, date=day.isoformat(), round_id=row.id, issued_at=now,
    )
    return {"number": number, "date": day.isoformat(), "issuer": row.unit, "issuer_name": org.unit_name(row.unit)}


def _open_runoff(uow: Work, row: Round, cands: list[Candidate], selection: ranking.Selection, now: dt.datetime,
                 runoff_hours: int) -> str:
    """R13: a runoff among exactly the tied, for the places left, opened in the closing step."""
    runoff_id = new_id()
    tied_ids = set(selection.tied)
    tied = [c for c in cands if c.id in tied_ids]
    # Only the tied's rolls: a provincial round's whole roll is every candidate times every member.
    roll = uow.candidates.roll(row.id, tied_ids)
    uow.rounds.add(Round(
        id=runoff_id, natural_key=f"runoff:{row.id}", council=row.council, unit=row.unit, kind=RUNOFF,
        period=row.period, status=OPEN, opens_at=now, closes_at=now + dt.timedelta(hours=runoff_hours),
        created_at=now, opened_by="system", runoff_of=row.id, places=selection.places,
        threshold_percent=row.threshold_percent, base=row.base, cap=row.cap, open_ballots=row.open_ballots,
        entitled=len(set().union(*(roll[c.id] for c in tied))), paper=False, paper_voters=None,
        paper_ballots=None, recorded=None, referred_from=None,
    ))
    frozen: list[Candidate] = []
    entitled: list[tuple[str, str]] = []
    for position, c in enumerate(tied):
        cid = new_id()
        frozen.append(Candidate(id=cid, round_id=runoff_id, position=position, deed_id=c.deed_id, title=c.title,
                                author=c.author, unit=c.unit, deed=c.deed, dossier_id=c.dossier_id))
        entitled.extend((member, cid) for member in sorted(roll[c.id]))
    uow.candidates.add(runoff_id, frozen, entitled)
    return runoff_id
