"""Helpers of the pages' tests: the people and council of Đắk Mil, real tokens, deed copies as
intake sends them, and a monthly round opened through its handshake with intake (the message
intake would send is delivered to the council as its worker would)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from services.council import runs, services
from shared import clock
from shared.auth import Principal, new_token, store_token
from shared.clock import Month
from shared.db import utcnow
from shared.ids import new_id
from shared.messages import IntroductionsClosed, envelope
from shared.outbox import consume
from shared.runtime import Runtime

ROOT = Path(__file__).resolve().parents[2]
ORG_FILE = ROOT / "shared" / "data" / "dak-nong.json"
ARTIFACTS = ROOT / "test-artifacts"
UNIT = "CAH-DM"
COUNCIL = "HD-CAH-DM"
SECRETARY = "CAH-DM-0008"
MEMBERS = [f"CAH-DM-000{i}" for i in range(1, 8)]
PROVINCE_SECRETARY = "CAT-0012"


def this_month() -> str:
    return str(Month.of(clock.today()))


def issue(runtime: Runtime, role: str, subject: str) -> str:
    token = new_token()
    with runtime.db.unit_of_work() as uow:
        store_token(uow, token, role, subject, 30)
        uow.commit()
    return token


def deed_copy(title: str, author: dict[str, str], month: str, evidence: list[dict] | None = None,
              subunit: str | None = "CAH-DM-D-CSHS") -> dict[str, Any]:
    return {
        "id": new_id(), "title": title, "description": "Trong đêm mưa lớn, nước suối dâng cao.\nĐồng chí đã đưa "
        "bà con bon Sa Pa đến nơi an toàn.", "kind": "good_deed", "relation": "direct",
        "occurred_on": f"{month}-03", "month": month, "place": "bon Sa Pa, xã Đắk Lao",
        "author": author, "unit": UNIT, "subunit": subunit, "evidence": evidence or [],
    }


def open_monthly(runtime: Runtime, deeds: list[dict[str, Any]], month: str | None = None) -> str:
    """Open a monthly round of HD-CAH-DM and answer its handshake as intake would."""
    month = month or this_month()
    view = runs.open_round(runtime, Principal("unit_secretary", SECRETARY),
                               {"council": COUNCIL, "kind": "monthly", "period": month})
    msg = IntroductionsClosed(round_id=view["id"], unit=UNIT, month=month, recorded=len(deeds), deeds=deeds)
    consume(runtime.db, envelope(msg, clock.isoformat(utcnow())),
            lambda uow, m: services.introductions_closed(uow, runtime.context(uow), m))
    return view["id"]
