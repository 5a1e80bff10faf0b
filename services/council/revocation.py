"""R15a in council: a revoked recognition reaches every round.

The deed is withdrawn from the rounds still open (its candidates say ``withdrawn``: no ballot
names them any more, the close neither passes nor selects them, the voter roll no longer waits
for members entitled to nothing else), and ``revoked`` keeps it out of every later round,
dossier and referral, and counts it in the R10 report as revoked rather than recognised. Runs in
the consumer's transaction; nothing here commits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.council.domain.rounds import OPEN, OPENING
from services.council.orm import candidates, entitlements, recognitions, revocations, rounds
from shared.db import UnitOfWork
from shared.messages import DeedRevoked


def revoked(session: Session, deed_ids: Iterable[str]) -> set[str]:
    """Which of ``deed_ids`` had their recognition revoked."""
    ids = list(dict.fromkeys(deed_ids))
    if not ids:
        return set()
    return set(session.execute(sa.select(revocations.c.deed_id).where(revocations.c.deed_id.in_(ids))).scalars())


def apply(uow: UnitOfWork, msg: DeedRevoked, now: dt.datetime) -> list[str]:
    """Record the revocation once and withdraw the deed from every round still open; returns the
    rounds it was withdrawn from."""
    session = uow.session
    if revoked(session, [msg.deed_id]):
        return []  # a second revocation of the same deed (another book's entry) changes nothing
    month = session.execute(
        sa.select(recognitions.c.month).where(recognitions.c.deed_id == msg.deed_id)
    ).scalar() or msg.month
    session.execute(revocations.insert().values(
        deed_id=msg.deed_id, unit=msg.unit, month=month, book=msg.book, seq=msg.seq, revoked_at=now,
    ))
    found = session.execute(
        sa.select(candidates.c.id, candidates.c.round_id).join(rounds, rounds.c.id == candidates.c.round_id)
        .where(candidates.c.deed_id == msg.deed_id, rounds.c.status.in_((OPENING, OPEN)),
               candidates.c.withdrawn.is_(False))
        .with_for_update(of=rounds)
    ).all()
    for cid, round_id in found:
        session.execute(candidates.update().where(candidates.c.id == cid).values(withdrawn=True))
        session.execute(rounds.update().where(rounds.c.id == round_id).values(entitled=_entitled(session, round_id)))
    return [round_id for _, round_id in found]


def _entitled(session: Session, round_id: str) -> int:
    """R20: the members a round still waits for: those entitled to a candidate not withdrawn."""
    return session.execute(
        sa.select(sa.func.count(sa.distinct(entitlements.c.member)))
        .select_from(entitlements.join(candidates, candidates.c.id == entitlements.c.candidate_id))
        .where(entitlements.c.round_id == round_id, candidates.c.withdrawn.is_(False))
    ).scalar_one()
