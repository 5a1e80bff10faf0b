"""R17a: deeds a unit council cannot decide go to the provincial council.

When no member of a unit council may vote on a deed (a deed of the whole unit, R17), the deed is
not put to the unit's round: it is added to the provincial council's referral round for that
month and that unit council (opened here if there is none yet), and intake learns that it is
``referred``. Runs inside the caller's transaction (the unit round's freezing); nothing commits.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from services.council.domain.rounds import (
    OPEN,
    REFERRAL,
    Candidate,
    CouncilRules,
    Round,
    entitled_members,
    undecidable,
)
from shared import audit
from shared.ids import new_id
from shared.messages import DeedFateDecided
from shared.org import Organisation

if TYPE_CHECKING:
    from services.council.work import Work


def collective_of(org: Organisation, deed: dict[str, Any]) -> set[str]:
    author = deed["author"]
    return org.collective_members(author["collective"]) if author.get("collective") else set()


def split_undecidable(uow: Work, council_code: str, deeds: list[dict[str, Any]], org: Organisation,
                      ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(deeds the council may decide, deeds no member of it may vote on)."""
    members = uow.councils.members(council_code)
    decidable, referred = [], []
    for deed in deeds:
        (referred if undecidable(members, deed["author"], collective_of(org, deed)) else decidable).append(deed)
    return decidable, referred


def refer(uow: Work, unit_round: Round, deeds: list[dict[str, Any]], org: Organisation,
          now: dt.datetime, late_hours: int) -> str | None:
    """Put ``deeds`` to the provincial council's referral round of the unit round's month and
    council; returns that round's id (None when every deed was referred already). A referral
    round takes more deeds only while nobody has voted in it; otherwise another one opens."""
    taken = uow.candidates.referred([d["id"] for d in deeds])
    deeds = [d for d in deeds if d["id"] not in taken]
    if not deeds:
        return None
    province = org.provincial_council
    council = uow.councils.get(province.code)
    assert council is not None
    base_key = f"{province.code}:{REFERRAL}:{unit_round.period}:{unit_round.council}"
    target = None
    opened = False
    for n in range(1, 100):
        key = base_key if n == 1 else f"{base_key}:{n}"
        existing = uow.rounds.by_key(key)
        if existing is None:
            target = _open(uow, key, council, unit_round, now, late_hours)
            opened = True
            break
        existing = uow.rounds.get(existing.id, lock=True)
        assert existing is not None
        if existing.status == OPEN and existing.closes_at > now and not uow.ballots.count(existing):
            target = existing.id
            break
    assert target is not None, "no referral round could take the deeds"
    _add(uow, target, province.code, deeds, org)
    # R23: the referral and, when it opened one, the provincial round, both by the system.
    lines: list[audit.Line] = [
        (audit.system("council"), "deed.referred", d["id"], unit_round.unit, {"round": target, "from": unit_round.id})
        for d in deeds
    ]
    if opened:
        lines.insert(0, (audit.system("council"), "round.opened", target, council.unit, {
            "council": council.code, "kind": REFERRAL, "period": unit_round.period,
            "referred_from": unit_round.council}))
    uow.audit(lines, at=now)
    uow.emit_many([DeedFateDecided(deed_id=d["id"], status="referred", round_id=target) for d in deeds])
    return target


def _open(uow: Work, key: str, council: CouncilRules, unit_round: Round, now: dt.datetime, late_hours: int) -> str:
    """The referral round, open at once (its candidates come with it), closing with the unit's
    round, or ``late_hours`` from now when that deadline is too near."""
    round_id = new_id()
    closes_at = unit_round.closes_at
    if closes_at - now < dt.timedelta(hours=1):
        closes_at = now + dt.timedelta(hours=late_hours)
    uow.rounds.add(Round(
        id=round_id, natural_key=key, council=council.code, unit=council.unit, kind=REFERRAL,
        period=unit_round.period, status=OPEN, opens_at=now, closes_at=closes_at, created_at=now,
        opened_by="system", runoff_of=None, places=None, threshold_percent=council.threshold_percent,
        base=council.base, cap=None, open_ballots=council.open_ballots, entitled=0, paper=False,
        paper_voters=None, paper_ballots=None, recorded=None, referred_from=unit_round.council,
    ))
    return round_id


def _add(uow: Work, round_id: str, council_code: str, deeds: list[dict[str, Any]], org: Organisation) -> None:
    """Candidates and their voter roll (R17: the provincial council's own recusals)."""
    members = uow.councils.members(council_code)
    start = uow.candidates.next_position(round_id)
    added: list[Candidate] = []
    entitled: list[tuple[str, str]] = []
    for position, deed in enumerate(deeds, start):
        cid = new_id()
        added.append(Candidate(id=cid, round_id=round_id, position=position, deed_id=deed["id"], title=deed["title"],
                               author=dict(deed["author"]), unit=deed["unit"], deed=deed))
        entitled.extend((m, cid) for m in entitled_members(members, deed["author"], collective_of(org, deed)))
    uow.candidates.add(round_id, added, entitled)
    uow.rounds.change(round_id, entitled=len(uow.candidates.on_roll(round_id)))
