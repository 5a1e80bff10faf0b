"""R25 in council: a new organisation against the rounds still open.

A new organisation may not orphan a round still ``opening`` or ``open``: its council must still
exist, belong to the same unit (or the same province), and a referral round's unit council too
(R17a) — otherwise the file is refused whole (``OrgRefused``) before anything is written.

Council membership changes reach the open rounds: a member who left the council no longer votes
(their entitlements go, and the round's ``entitled`` no longer counts them). A ballot already cast
is final (R18) and stays counted with its member; a member who joined votes from the next round
(the roll is frozen at opening, minus those who left); a round whose paper count was entered
(R19a) keeps the roll that count was made against. Runs in the loading transaction; nothing
here commits.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.council.domain.rounds import OPEN, OPENING, Round
from services.council.orm import entitlements, rounds, voters
from services.council.revocation import _entitled
from shared import audit
from shared.db import UnitOfWork
from shared.org import Organisation

KIND_NAMES = {
    "monthly": "tháng", "supplementary": "bổ sung", "quarterly": "quý", "provincial": "cấp tỉnh",
    "runoff": "bỏ phiếu lại", "referral": "xét chuyển lên",
}


def _open_rounds(session: Session, lock: bool = False) -> list[Round]:
    query = sa.select(rounds).where(rounds.c.status.in_((OPENING, OPEN))).order_by(rounds.c.id)
    if lock:
        query = query.with_for_update()
    return [Round(**r._mapping) for r in session.execute(query)]


def problems(session: Session, new: Organisation, lock: bool = False) -> list[str]:
    """Why ``new`` would orphan a round still open (empty when it would not), in Vietnamese."""
    found = []
    for r in _open_rounds(session, lock):
        what = f"phiên {KIND_NAMES.get(r.kind, r.kind)} {r.period} của hội đồng {r.council} đang mở"
        council = new.councils.get(r.council)
        if council is None:
            found.append(f"Tệp tổ chức bỏ hội đồng {r.council} trong khi {what}: "
                         "hãy đóng hoặc huỷ phiên trước khi nạp tổ chức mới.")
        elif council.unit != r.unit:
            found.append(f"Tệp tổ chức chuyển hội đồng {r.council} từ {r.unit} sang {council.unit} trong khi {what}: "
                         "hãy đóng hoặc huỷ phiên trước khi nạp tổ chức mới.")
        if r.referred_from and r.referred_from not in new.councils:
            found.append(f"Tệp tổ chức bỏ hội đồng {r.referred_from} trong khi {what} xét việc tốt của đơn vị đó: "
                         "hãy đóng phiên trước khi nạp tổ chức mới.")
    return found


def apply_rolls(uow: UnitOfWork, new: Organisation) -> dict[str, int]:
    """Take the members who left a council off its open rounds' rolls (those who have not voted);
    returns {round id: its new ``entitled``} for the rounds that changed, each recorded (R23)."""
    session = uow.session
    changed: dict[str, int] = {}
    for r in _open_rounds(session, lock=True):
        council = new.councils.get(r.council)
        if council is None or r.paper:
            continue
        members = set(council.members)
        on_roll = set(session.execute(
            sa.select(entitlements.c.member).where(entitlements.c.round_id == r.id).distinct()
        ).scalars())
        voted = set(session.execute(sa.select(voters.c.member).where(voters.c.round_id == r.id)).scalars())
        leaving = on_roll - members - voted
        if not leaving:
            continue
        session.execute(entitlements.delete().where(
            entitlements.c.round_id == r.id, entitlements.c.member.in_(sorted(leaving))))
        entitled = _entitled(session, r.id)
        session.execute(rounds.update().where(rounds.c.id == r.id).values(entitled=entitled))
        changed[r.id] = entitled
        # R19, R20a: the line names neither the members who left nor whether they had voted.
        audit.record(uow, audit.CLI, "round.roll_changed", r.id,
                     {"council": r.council, "entitled_before": r.entitled, "entitled": entitled}, unit=r.unit)
    return changed
