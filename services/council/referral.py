"""R17a: deeds a unit council cannot decide go to the provincial council.

When no member of a unit council may vote on a deed (a deed of the whole unit, R17), the deed is
not put to the unit's round: it is added to the provincial council's referral round for that
month and that unit council (opened here if there is none yet), and intake learns that it is
``referred``. Runs inside the caller's transaction (the unit round's freezing); nothing commits.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from services.council import repository as repo
from services.council.domain.rounds import OPEN, REFERRAL, entitled_members, undecidable
from services.council.orm import candidates, entitlements, rounds
from shared import audit
from shared.db import UnitOfWork
from shared.ids import new_id
from shared.messages import DeedFateDecided
from shared.org import Organisation


def collective_of(org: Organisation, deed: dict[str, Any]) -> set[str]:
    author = deed["author"]
    return org.collective_members(author["collective"]) if author.get("collective") else set()


def split_undecidable(session: Session, council_code: str, deeds: list[dict[str, Any]], org: Organisation,
                      ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(deeds the council may decide, deeds no member of it may vote on)."""
    members = repo.members(session, council_code)
    decidable, referred = [], []
    for deed in deeds:
        (referred if undecidable(members, deed["author"], collective_of(org, deed)) else decidable).append(deed)
    return decidable, referred


def refer(uow: UnitOfWork, unit_round: Row, deeds: list[dict[str, Any]], org: Organisation,
          now: dt.datetime, late_hours: int) -> str | None:
    """Put ``deeds`` to the provincial council's referral round of the unit round's month and
    council; returns that round's id (None when every deed was referred already). A referral
    round takes more deeds only while nobody has voted in it; otherwise another one opens."""
    session = uow.session
    taken = set(session.execute(
        sa.select(candidates.c.deed_id).join(rounds, rounds.c.id == candidates.c.round_id)
        .where(rounds.c.kind == REFERRAL, candidates.c.deed_id.in_([d["id"] for d in deeds]))
    ).scalars())
    deeds = [d for d in deeds if d["id"] not in taken]
    if not deeds:
        return None
    province = org.provincial_council
    council = repo.council(session, province.code)
    base_key = f"{province.code}:{REFERRAL}:{unit_round.period}:{unit_round.council}"
    target = None
    opened = False
    for n in range(1, 100):
        key = base_key if n == 1 else f"{base_key}:{n}"
        existing = repo.round_by_key(session, key)
        if existing is None:
            target = _open(session, key, council, unit_round, now, late_hours)
            opened = True
            break
        existing = repo.round_(session, existing.id, lock=True)
        if existing.status == OPEN and existing.closes_at > now and not repo.voted_count(session, existing):
            target = existing.id
            break
    assert target is not None, "no referral round could take the deeds"
    _add(session, target, province.code, deeds, org)
    # R23: the referral and, when it opened one, the provincial round, both by the system.
    lines: list[audit.Line] = [
        (audit.system("council"), "deed.referred", d["id"], unit_round.unit, {"round": target, "from": unit_round.id})
        for d in deeds
    ]
    if opened:
        lines.insert(0, (audit.system("council"), "round.opened", target, council.unit, {
            "council": council.code, "kind": REFERRAL, "period": unit_round.period,
            "referred_from": unit_round.council}))
    audit.record_many(uow, lines, at=now)
    uow.emit_many([DeedFateDecided(deed_id=d["id"], status="referred", round_id=target) for d in deeds])
    return target


def _open(session: Session, key: str, council: Row, unit_round: Row, now: dt.datetime, late_hours: int) -> str:
    """The referral round, open at once (its candidates come with it), closing with the unit's
    round, or ``late_hours`` from now when that deadline is too near."""
    round_id = new_id()
    closes_at = unit_round.closes_at
    if closes_at - now < dt.timedelta(hours=1):
        closes_at = now + dt.timedelta(hours=late_hours)
    session.execute(rounds.insert().values(
        id=round_id, natural_key=key, council=council.code, unit=council.unit, kind=REFERRAL,
        period=unit_round.period, status=OPEN, opens_at=now, closes_at=closes_at, created_at=now,
        opened_by="system", threshold_percent=council.threshold_percent, base=council.base, cap=None,
        open_ballots=council.open_ballots, entitled=0, paper=False, referred_from=unit_round.council,
    ))
    return round_id


def _add(session: Session, round_id: str, council_code: str, deeds: list[dict[str, Any]], org: Organisation) -> None:
    """Candidates and their voter roll (R17: the provincial council's own recusals)."""
    members = repo.members(session, council_code)
    start = session.execute(
        sa.select(sa.func.coalesce(sa.func.max(candidates.c.position) + 1, 0)).where(candidates.c.round_id == round_id)
    ).scalar_one()
    candidate_rows, entitlement_rows = [], []
    for position, deed in enumerate(deeds, start):
        cid = new_id()
        candidate_rows.append({
            "id": cid, "round_id": round_id, "position": position, "deed_id": deed["id"], "title": deed["title"],
            "author": dict(deed["author"]), "unit": deed["unit"], "deed": deed, "dossier_id": None,
        })
        entitlement_rows.extend({"round_id": round_id, "member": m, "candidate_id": cid}
                                for m in entitled_members(members, deed["author"], collective_of(org, deed)))
    session.execute(candidates.insert(), candidate_rows)
    if entitlement_rows:
        session.execute(entitlements.insert(), entitlement_rows)
    entitled = session.execute(
        sa.select(sa.func.count(sa.distinct(entitlements.c.member))).where(entitlements.c.round_id == round_id)
    ).scalar_one()
    session.execute(rounds.update().where(rounds.c.id == round_id).values(entitled=entitled))
