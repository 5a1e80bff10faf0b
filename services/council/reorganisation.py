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

from typing import TYPE_CHECKING, Any

from shared import audit
from shared.org import Organisation

if TYPE_CHECKING:
    from services.council.work import Work

KIND_NAMES = {
    "monthly": "tháng", "supplementary": "bổ sung", "quarterly": "quý", "provincial": "cấp tỉnh",
    "runoff": "bỏ phiếu lại", "referral": "xét chuyển lên",
}


def problems(repos: Any, new: Organisation, lock: bool = False) -> list[str]:
    """Why ``new`` would orphan a round still open (empty when it would not), in Vietnamese;
    ``repos``: a unit of work's repositories (its ``reading`` ones when it only checks)."""
    found = []
    for r in repos.rounds.live(lock):
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


def apply_rolls(uow: Work, new: Organisation) -> dict[str, int]:
    """Take the members who left a council off its open rounds' rolls (those who have not voted);
    returns {round id: its new ``entitled``} for the rounds that changed, each recorded (R23)."""
    changed: dict[str, int] = {}
    for r in uow.rounds.live(lock=True):
        council = new.councils.get(r.council)
        if council is None or r.paper:
            continue
        members = set(council.members)
        on_roll = uow.candidates.on_roll(r.id)
        voted = set(uow.ballots.voters(r.id))
        leaving = on_roll - members - voted
        if not leaving:
            continue
        uow.candidates.strike(r.id, leaving)
        entitled = uow.candidates.waiting_for(r.id)
        uow.rounds.change(r.id, entitled=entitled)
        changed[r.id] = entitled
        # R19, R20a: the line names neither the members who left nor whether they had voted.
        uow.audit([(audit.CLI, "round.roll_changed", r.id, r.unit,
                    {"council": r.council, "entitled_before": r.entitled, "entitled": entitled})])
    return changed
