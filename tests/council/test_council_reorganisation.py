"""R25 in council: an organisation that would orphan a round still open is refused before
anything is written (its council moved to another unit, or the unit council of an open referral
round removed); one that only changes a council's members takes those who left off the roll."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import sqlalchemy as sa

from services.council import DECLARATION
from services.council.orm import council_members
from shared.org import OrgRefused
from shared.tables import org_documents
from tests.council.conftest import COUNCIL, MEMBERS, UNIT, deed_copy, open_monthly, vote


def _state(runtime: Any) -> tuple[int, list[tuple[str, str]]]:
    with runtime.db.reading() as s:
        kept = s.execute(sa.select(sa.func.count()).select_from(org_documents)).scalar_one()
        rows = s.execute(sa.select(council_members.c.council, council_members.c.member)
                         .order_by(council_members.c.council, council_members.c.member)).all()
    return kept, [tuple(r) for r in rows]


def _refused(runtime: Any, doc: dict[str, Any]) -> list[str]:
    before = _state(runtime)
    problems = DECLARATION.check_org(runtime, doc)
    with pytest.raises(OrgRefused) as refused:
        DECLARATION.load_org(runtime, doc)
    assert refused.value.problems == problems
    assert _state(runtime) == before  # nothing written
    return problems


def test_a_council_moved_to_another_unit_while_its_round_is_open_is_refused(
        runtime, client, secretary, org_document) -> None:
    open_monthly(client, secretary, runtime, [deed_copy()])
    doc = copy.deepcopy(org_document)
    ours, other = [u for u in doc["units"] if u["code"] == UNIT][0], doc["units"][1]
    ours["council"]["code"], other["council"]["code"] = other["council"]["code"], ours["council"]["code"]
    (problem, *_) = _refused(runtime, doc)
    assert f"chuyển hội đồng {COUNCIL} từ {UNIT} sang {other['code']}" in problem and "đang mở" in problem


def test_a_unit_whose_deed_is_in_an_open_referral_round_cannot_be_dissolved(
        runtime, client, secretary, org_document) -> None:
    # R17a: a deed of the whole unit goes to the provincial council's referral round.
    whole = deed_copy({"collective": UNIT, "name": "Công an thành phố Gia Nghĩa"})
    open_monthly(client, secretary, runtime, [whole, deed_copy()])
    doc = copy.deepcopy(org_document)
    doc["units"] = [u for u in doc["units"] if u["code"] != UNIT]
    doc["officers"] = [o for o in doc["officers"] if o["unit"] != UNIT]
    problems = _refused(runtime, doc)
    assert any(f"bỏ hội đồng {COUNCIL} trong khi phiên xét chuyển lên" in p for p in problems), problems
    assert any(f"bỏ hội đồng {COUNCIL} trong khi phiên tháng" in p for p in problems), problems


def test_members_who_left_no_longer_vote_and_the_roll_says_so(
        runtime, client, secretary, members, auth, org_document) -> None:
    rnd = open_monthly(client, secretary, runtime, [deed_copy()])
    assert vote(client, rnd, members[MEMBERS[0]], "approve").status_code == 201
    doc = copy.deepcopy(org_document)
    council = [u for u in doc["units"] if u["code"] == UNIT][0]["council"]
    council["members"] = MEMBERS[2:]  # MEMBERS[0] voted before leaving; MEMBERS[1] had not
    assert DECLARATION.check_org(runtime, doc) == []
    assert DECLARATION.load_org(runtime, doc) is True
    rnd = client.get(f"/api/v1/rounds/{rnd['id']}", headers=secretary).get_json()
    assert (rnd["entitled"], rnd["voted"]) == (len(MEMBERS) - 1, 1)
    assert vote(client, rnd, auth("council_member", MEMBERS[1]), "approve").status_code == 403
    for m in MEMBERS[2:]:
        assert vote(client, rnd, members[m], "approve").status_code == 201
    result = client.post(f"/api/v1/rounds/{rnd['id']}/close", headers=secretary, json={}).get_json()
    assert [(c["approve"], c["entitled"], c["passed"]) for c in result["candidates"]] == [
        (len(MEMBERS) - 1, len(MEMBERS) - 1, True)]
    assert DECLARATION.load_org(runtime, doc) is False  # the same file again changes nothing
