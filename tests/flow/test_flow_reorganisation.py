"""R25 across the services: the 2025 reform (``shared/data/lam-dong-2025.json``: district police
abolished, communes under the province, Đắk Nông merged into Lâm Đồng, drug police merged into
criminal police) loaded over three months of Đắk Nông's books and rounds.

Nothing is lost: the books of units that no longer exist (and Đắk Nông's provincial book) are
closed — public, verifiable, never written again; deeds keep their unit and their authors read
them wherever they serve; a member who left a council no longer votes in a round still open. A
file that would orphan an open round is refused in every service, and the same file again
changes nothing."""

from __future__ import annotations

import datetime as dt
import html
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from services.book import services as book_services
from services.book.app import run as book_run
from services.council.orm import council_members
from shared import audit, clock
from shared.org import OrgRefused
from shared.orgcopy import OrgCache
from shared.refusals import Refused
from shared.tables import org_documents
from sovang.orgload import load_everywhere
from tests.flow.flow_harness import Flow, this_month
from tests.intake.conftest import deed_body

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
REFORM = json.loads((DATA / "lam-dong-2025.json").read_text("utf-8"))
PAPER_BOOK = json.loads((DATA / "paper-book-CAT.json").read_text("utf-8"))


@pytest.fixture
def flow_options() -> dict[str, Any]:
    # R3: three months back stay recordable, so that the books hold a few months before the reform.
    return {"late_days": 120}


def months_back(n: int) -> tuple[str, dt.date]:
    """The month ``n`` months before this one (local) and its 15th day."""
    day = clock.today().replace(day=1)
    for _ in range(n):
        day = (day - dt.timedelta(days=1)).replace(day=1)
    day = day.replace(day=15)
    return f"{day.year:04d}-{day.month:02d}", day


def unit_of(doc: dict[str, Any], code: str) -> dict[str, Any]:
    return next(u for u in doc["units"] if u["code"] == code)


def plain_officer(doc: dict[str, Any], unit: dict[str, Any]) -> tuple[str, str]:
    """(an officer of a sub-unit who sits on no council and leads nothing, that sub-unit's lead)."""
    busy = {*unit["council"]["members"], unit["secretary"], *(s["lead"] for s in unit["subunits"])}
    for sub in unit["subunits"]:
        for o in doc["officers"]:
            if o["subunit"] == sub["code"] and o["code"] not in busy:
                return o["code"], sub["lead"]
    raise AssertionError(f"no plain officer in {unit['code']}")


def put_to_round(flow: Flow, doc: dict[str, Any], unit_code: str, day: dt.date, title: str) -> tuple[dict, dict]:
    """A deed of a plain officer of the unit, recorded on ``day``, introduced, and the unit's
    monthly round of that month opened over it: (deed, open round)."""
    unit = unit_of(doc, unit_code)
    officer, lead = plain_officer(doc, unit)
    deed = flow.post("intake", "/api/v1/deeds", flow.token("officer", officer), deed_body(
        {"officer": officer}, title=title, occurred_on=day.isoformat()), 201).get_json()
    flow.post("intake", f"/api/v1/deeds/{deed['id']}/introduce", flow.token("subunit_lead", lead), {}, 200)
    secretary = flow.token("unit_secretary", unit["secretary"])
    rnd = flow.post("council", "/api/v1/rounds", secretary, {
        "council": unit["council"]["code"], "kind": "monthly", "period": day.strftime("%Y-%m")}, 201).get_json()
    flow.pump()
    rnd = flow.get("council", f"/api/v1/rounds/{rnd['id']}", secretary)
    assert rnd["status"] == "open" and [c["deed_id"] for c in rnd["candidates"]] == [deed["id"]]
    return deed, rnd


def vote(flow: Flow, rnd: dict[str, Any], members: list[str], choice: str = "approve") -> None:
    for member in members:
        flow.post("council", f"/api/v1/rounds/{rnd['id']}/ballots", flow.token("council_member", member),
                  {"choices": {c["id"]: choice for c in rnd["candidates"]}}, 201)


def close(flow: Flow, doc: dict[str, Any], unit_code: str, rnd: dict[str, Any]) -> dict[str, Any]:
    secretary = flow.token("unit_secretary", unit_of(doc, unit_code)["secretary"])
    return flow.post("council", f"/api/v1/rounds/{rnd['id']}/close", secretary, {}, 200).get_json()


def recognised(flow: Flow, doc: dict[str, Any], unit_code: str, day: dt.date, title: str) -> dict[str, Any]:
    """A deed taken through its month's round, recognised and inscribed in the unit's book."""
    deed, rnd = put_to_round(flow, doc, unit_code, day, title)
    vote(flow, rnd, unit_of(doc, unit_code)["council"]["members"])
    assert close(flow, doc, unit_code, rnd)["candidates"][0]["selected"] is True
    flow.pump()
    return deed


def loaded_everywhere(flow: Flow) -> dict[str, tuple[str, int]]:
    """Each service's current organisation (province code) and how many documents it keeps."""
    found = {}
    for name, rt in flow.runtimes.items():
        with rt.db.reading() as s:
            kept = s.execute(sa.select(sa.func.count()).select_from(org_documents)).scalar_one()
        found[name] = (OrgCache(rt.db, check_seconds=0).require().province_code, kept)
    return found


def books(flow: Flow) -> dict[str, dict[str, Any]]:
    return {b["code"]: b for b in flow.get("book", "/api/v1/books?limit=500", {})["items"]}


def members_of(flow: Flow, council: str) -> list[str]:
    with flow.runtimes["council"].db.reading() as s:
        return sorted(s.execute(sa.select(council_members.c.member).where(council_members.c.council == council)).scalars())


def audit_lines(flow: Flow, service: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    return flow.get(service, f"/api/v1/audit/{service}?limit=500", headers)["items"]


def test_the_2025_reform_loses_nothing(flow: Flow, org_document: dict) -> None:
    old = org_document
    province = flow.token("province_secretary", old["province"]["secretary"])
    moved_officer, _ = plain_officer(old, unit_of(old, "CAH-DM"))
    two_back, day_two_back = months_back(2)
    _, day_last = months_back(1)

    # -- three months of Đắk Nông -------------------------------------------------------------
    first = recognised(flow, old, "CAH-DM", day_two_back, "Cứu người đuối nước ở hồ Tây")
    recognised(flow, old, "P-MT", day_two_back, "Triệt phá điểm bán lẻ ma tuý")
    recognised(flow, old, "CAH-DM", day_last, "Trả lại ví cho người đánh rơi")
    book_run(flow.runtimes["book"], book_services.import_paper_book, audit.CLI, PAPER_BOOK)
    # This month: a round of Đắk Mil (a district the reform abolishes) and one of P-CSHS (which
    # stays, losing two council members: one has voted, the other not; P-MT's head joins).
    pending, dm_round = put_to_round(flow, old, "CAH-DM", clock.today(), "Dập lửa cháy rẫy cà phê")
    _, cs_round = put_to_round(flow, old, "P-CSHS", clock.today(), "Bắt đối tượng trộm xe máy")
    cs_old = unit_of(old, "P-CSHS")["council"]["members"]
    cs_new = unit_of(REFORM, "P-CSHS")["council"]["members"]
    voted_and_left, left = [m for m in cs_old if m not in cs_new]
    (joined,) = [m for m in cs_new if m not in cs_old]
    vote(flow, cs_round, [voted_and_left])
    before = {code: (b["entries"], b["head"]) for code, b in books(flow).items()}
    assert before["CAH-DM"][0] == 2 and before["P-MT"][0] == 1 and before["CAT"][0] == len(PAPER_BOOK["entries"])

    # -- refused while Đắk Mil's council has a round open: nothing written anywhere ----------
    with pytest.raises(OrgRefused) as refused:
        load_everywhere(flow.runtimes, REFORM)
    assert any("HD-CAH-DM" in p and "đang mở" in p for p in refused.value.problems)
    assert loaded_everywhere(flow) == {name: ("CAT", 1) for name in flow.runtimes}
    assert members_of(flow, "HD-P-CSHS") == sorted(cs_old)
    assert not any("closed_at" in b for b in books(flow).values())
    assert flow.get("council", f"/api/v1/rounds/{cs_round['id']}", province)["entitled"] == len(cs_old)

    # Đắk Mil closes its last round; its inscription is still on the way when the reform loads.
    vote(flow, dm_round, unit_of(old, "CAH-DM")["council"]["members"])
    assert close(flow, old, "CAH-DM", dm_round)["candidates"][0]["selected"] is True
    flow.pump(skip=("book.inscribe",))
    assert set(load_everywhere(flow.runtimes, REFORM)) == {"council", "book", "intake"}
    assert loaded_everywhere(flow) == {name: ("CAT-LD", 2) for name in flow.runtimes}
    flow.pump()

    # -- every book kept; those of units gone (and Đắk Nông's) closed, public and verifiable ---
    after = books(flow)
    for code in ("CAH-DM", "P-MT", "CAT"):
        assert (after[code]["entries"], after[code]["head"]) == before[code] and "closed_at" in after[code], code
        assert flow.get("book", f"/api/v1/books/{code}/verify", {})["valid"] is True
        for path in (f"/feeds/{code}.atom", f"/feeds/{code}.json", f"/honour-roll/{code}/", f"/verify/{code}/1",
                     f"/api/v1/books/{code}/entries/1", f"/api/v1/books/{code}/heads"):
            assert flow.clients["book"].get(path).status_code == 200, path
        assert "Sổ đã khoá" in flow.clients["book"].get(f"/honour-roll/{code}/").get_data(as_text=True)
    assert "closed_at" not in after["P-CSHS"] and after["CAT-LD"]["kind"] == "province"
    assert after["CAT-LD"]["entries"] == 0 and "CAH-DM-TT-DAK-MIL" in after
    # Never written again: the inscription that arrived late made no entry, and says so (R23).
    assert after["CAH-DM"]["entries"] == 2
    refusals = [x for x in audit_lines(flow, "book", province) if x["action"] == "entry.refused"]
    assert [(x["object"], x["details"]["deed_id"], x["details"]["reason"]) for x in refusals] == [
        ("CAH-DM", pending["id"], "book_closed")]
    closed = sorted(x["object"] for x in audit_lines(flow, "book", province) if x["action"] == "book.closed")
    districts = sorted(u["code"] for u in old["units"] if u["kind"] == "district")
    assert closed == sorted([*districts, "CAT", "P-MT"])
    r = flow.clients["book"].post("/api/v1/books/CAH-DM/revocations", json={"seq": 1, "reason": "Khai sai"},
                                  headers=province)
    assert r.status_code == 409 and "khoá" in r.get_json()["detail"]
    with pytest.raises(Refused):
        book_run(flow.runtimes["book"], book_services.import_paper_book, audit.CLI, {**PAPER_BOOK, "book": "P-MT"})

    # -- deeds keep their unit; an officer who moved reads their own --------------------------
    officer = flow.token("officer", moved_officer)
    got = flow.get("intake", f"/api/v1/deeds/{first['id']}", officer)
    assert (got["unit"], got["status"], got["book_entries"]) == ("CAH-DM", "recognised", [{"book": "CAH-DM", "seq": 1}])
    assert first["id"] in [d["id"] for d in flow.get("intake", "/api/v1/deeds?limit=500", officer)["items"]]
    assert [d["month"] for d in flow.get("intake", "/api/v1/deeds?unit=CAH-DM&limit=500", province)["items"]][0] == two_back

    # R16: the press release of a quarter before the merger is still the one of Đắk Nông's book.
    last_paper = PAPER_BOOK["entries"][-1]
    on = dt.date.fromisoformat(last_paper["inscribed_on"])
    press = flow.clients["book"].get(f"/press/{on.year}-Q{(on.month - 1) // 3 + 1}.html")
    assert press.status_code == 200 and last_paper["deed"]["title"] in html.unescape(press.get_data(as_text=True))

    # R10: the province still reads the months of a unit dissolved since.
    (row,) = [r for r in flow.get("council", f"/api/v1/reports/monthly?month={two_back}", province)["items"]
              if r["unit"] == "CAH-DM"]
    assert (row["recognised"], row["quota_met"]) == (1, True)

    # -- a member who left no longer votes in the round still open; a ballot cast stays -------
    cs_round = flow.get("council", f"/api/v1/rounds/{cs_round['id']}", province)
    assert (cs_round["status"], cs_round["entitled"], cs_round["voted"]) == ("open", len(cs_old) - 1, 1)
    ballot = {"choices": {cs_round["candidates"][0]["id"]: "approve"}}
    assert flow.post("council", f"/api/v1/rounds/{cs_round['id']}/ballots", flow.token("council_member", left),
                     ballot).status_code == 403
    # The roll was frozen at opening: a member who joined votes from the next round.
    assert flow.post("council", f"/api/v1/rounds/{cs_round['id']}/ballots", flow.token("council_member", joined),
                     ballot).status_code == 409
    vote(flow, cs_round, [m for m in cs_old if m in cs_new])
    result = close(flow, REFORM, "P-CSHS", cs_round)
    (cand,) = result["candidates"]
    assert (cand["approve"], cand["entitled"], cand["selected"]) == (len(cs_old) - 1, len(cs_old) - 1, True)
    flow.pump()
    assert books(flow)["P-CSHS"]["entries"] == 1
    roll = [x for x in audit_lines(flow, "council", province) if x["action"] == "round.roll_changed"]
    assert [(x["object"], x["details"]["entitled"]) for x in roll] == [(cs_round["id"], len(cs_old) - 1)]

    # -- the same file again changes nothing; the old one cannot reopen a closed book ---------
    lines = {name: len(audit_lines(flow, name, province)) for name in flow.runtimes}
    assert load_everywhere(flow.runtimes, REFORM) == []
    with pytest.raises(OrgRefused) as refused:
        load_everywhere(flow.runtimes, old)
    assert any("CAH-DM" in p and "đã khoá" in p for p in refused.value.problems)
    assert {name: len(audit_lines(flow, name, province)) for name in flow.runtimes} == lines
    assert loaded_everywhere(flow) == {name: ("CAT-LD", 2) for name in flow.runtimes}
    # The running figures go on counting the merged province's past (R16).
    assert flow.get("book", "/api/v1/figures", {})["province_total"] == len(PAPER_BOOK["entries"])
    assert cs_round["period"] == this_month()
