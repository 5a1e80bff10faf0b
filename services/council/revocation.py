"""R15a in council: a revoked recognition reaches every round.

The deed is withdrawn from the rounds still open (its candidates say ``withdrawn``: no ballot
names them any more, the close neither passes nor selects them, the voter roll no longer waits
for members entitled to nothing else), and ``revoked`` keeps it out of every later round,
dossier and referral, and counts it in the R10 report as revoked rather than recognised. Runs in
the consumer's transaction; nothing here commits.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from shared.messages import DeedRevoked

if TYPE_CHECKING:
    from services.council.work import Work


def apply(uow: Work, msg: DeedRevoked, now: dt.datetime) -> list[str]:
    """Record the revocation once and withdraw the deed from every round still open; returns the
    rounds it was withdrawn from."""
    if uow.recognitions.revoked([msg.deed_id]):
        return []  # a second revocation of the same deed (another book's entry) changes nothing
    month = uow.recognitions.month_of(msg.deed_id) or msg.month
    uow.recognitions.revoke(deed_id=msg.deed_id, unit=msg.unit, month=month, book=msg.book, seq=msg.seq,
                            revoked_at=now)
    withdrawn = uow.candidates.withdraw(msg.deed_id)
    for round_id in withdrawn:
        # R20: the roll no longer waits for members entitled to nothing else.
        uow.rounds.change(round_id, entitled=uow.candidates.waiting_for(round_id))
    return withdrawn
