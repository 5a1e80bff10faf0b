"""R8 and R11 as a unit and the province see them: the recognition decision of a round, printed
as a Vietnamese administrative document, and the proposal dossiers a unit sends the province,
as JSON and printed."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator

import pypdf
import pytest
from flask.testing import FlaskClient

from services.council.app import create_app
from shared.config import Settings
from shared.runtime import Runtime
from tests.council.conftest import (
    COUNCIL,
    MEMBERS,
    PROVINCE_SECRETARY,
    PROVINCIAL,
    PROVINCIAL_MEMBERS,
    SECRETARY,
    UNIT,
    deed_copy,
    deliver_dossiers,
    issue,
    make_runtime,
    open_monthly,
)
from tests.council.test_council_quarter import ballot_round, close, last_quarter, open_round


def text_of(body: bytes) -> str:
    return "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(body)).pages)


def flat(text: str) -> str:
    return " ".join(text.split())


def a_quarter(client: FlaskClient, auth: Callable) -> dict:
    """Two deeds recognised in the quarter's first month, one of them proposed to the province
    (with its evidence), its dossier received by the provincial council."""
    q = last_quarter()
    sec = auth("unit_secretary", SECRETARY)
    voters = [auth("council_member", m) for m in MEMBERS]
    month = str(q.months[0])
    evidence = [{"sha256": "a" * 64, "size": 2048, "content_type": "image/jpeg"}]
    a = deed_copy(month=month, title="Cứu hộ cháy nhà giữa đêm")
    a["evidence"] = evidence
    a["place"] = "Phường Nghĩa Đức"
    b = deed_copy(month=month, title="Tìm trẻ lạc ở chợ",
                  author={"collective": "CATP-GN-DCSHS", "name": "Đội Cảnh sát hình sự"})
    runtime = client.application.extensions["sovang"]
    rnd = open_monthly(client, sec, runtime, [a, b], period=month)
    ballot_round(client, rnd, voters, {a["id"]: 7, b["id"]: 6})
    monthly = close(client, rnd, sec)
    quarterly = open_round(client, sec, COUNCIL, "quarterly", str(q)).get_json()
    ballot_round(client, quarterly, voters, {a["id"]: 7, b["id"]: 3})
    close(client, quarterly, sec)
    assert deliver_dossiers(runtime) == 1
    return {"quarter": str(q), "monthly": rnd, "monthly_result": monthly, "quarterly": quarterly, "a": a, "b": b}


# -- R8: the decision ----------------------------------------------------------------------------
def test_r8_a_recognising_round_prints_its_decision(client, auth) -> None:
    done = a_quarter(client, auth)
    rnd, result = done["monthly"], done["monthly_result"]
    number = result["decision"]["number"]

    r = client.get(f"/api/v1/rounds/{rnd['id']}/decision.pdf")  # public: no token
    assert r.status_code == 200 and r.mimetype == "application/pdf" and r.data.startswith(b"%PDF")
    text = flat(text_of(r.data))
    # Decree 30/2020: issuing body and number, motto, place and date, title, articles, signatory.
    for expected in ("CÔNG AN TỈNH ĐẮK NÔNG", "CÔNG AN THÀNH PHỐ GIA NGHĨA", f"Số: {number}",
                     "CỘNG HOÀ XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc", "Gia Nghĩa, ngày",
                     "QUYẾT ĐỊNH", "Về việc công nhận việc tốt vì Nhân dân", "TRƯỞNG CÔNG AN THÀNH PHỐ GIA NGHĨA",
                     "Điều 1.", "Điều 2.", "Điều 3.", "Nơi nhận:", "TRƯỞNG CÔNG AN THÀNH PHỐ",
                     "Sổ vàng lập công của Công an thành phố Gia Nghĩa", "Cứu hộ cháy nhà giữa đêm",
                     "Tìm trẻ lạc ở chợ", "Trung uý Lê Thị An", "7/7 tán thành", "6/7 tán thành"):
        assert expected in text, expected
    date = result["decision"]["date"]
    assert f"năm {date[:4]}" in text


def test_r8_no_decision_where_nothing_was_recognised(client, runtime, auth, secretary, members) -> None:
    rnd = open_monthly(client, secretary, runtime, [deed_copy()])
    assert client.get(f"/api/v1/rounds/{rnd['id']}/decision.pdf").status_code == 404  # still open
    ballot_round(client, rnd, [members[m] for m in MEMBERS], {rnd["candidates"][0]["deed_id"]: 5})
    assert close(client, rnd, secretary)["decision"] is None
    r = client.get(f"/api/v1/rounds/{rnd['id']}/decision.pdf")
    assert r.status_code == 404 and r.mimetype == "application/problem+json"
    assert client.get("/api/v1/rounds/nope/decision.pdf").status_code == 404


def test_r14_a_provincial_decision_is_issued_by_the_province(client, auth) -> None:
    done = a_quarter(client, auth)
    province = auth("province_secretary", PROVINCE_SECRETARY)
    prov = open_round(client, province, PROVINCIAL, "provincial", done["quarter"]).get_json()
    ballot_round(client, prov, [auth("council_member", m) for m in PROVINCIAL_MEMBERS], {done["a"]["id"]: 11})
    result = close(client, prov, province)
    text = flat(text_of(client.get(f"/api/v1/rounds/{prov['id']}/decision.pdf").data))
    for expected in ("BỘ CÔNG AN", "CÔNG AN TỈNH ĐẮK NÔNG", f"Số: {result['decision']['number']}", "Đắk Nông, ngày",
                     "GIÁM ĐỐC CÔNG AN TỈNH ĐẮK NÔNG", "Sổ vàng lập công của Công an tỉnh Đắk Nông",
                     "Cứu hộ cháy nhà giữa đêm", "11/11 tán thành"):
        assert expected in text, expected
    assert "Tìm trẻ lạc" not in text  # never proposed


# -- R11: the dossiers ---------------------------------------------------------------------------
def test_r11_the_unit_and_the_province_read_the_dossier_as_sent(client, auth) -> None:
    done = a_quarter(client, auth)
    q, a = done["quarter"], done["a"]
    unit_sec = auth("unit_secretary", SECRETARY)
    listed = client.get(f"/api/v1/dossiers?quarter={q}", headers=unit_sec)
    assert listed.status_code == 200, listed.get_json()
    page = listed.get_json()
    assert set(page) == {"items", "next"} and page["next"] is None
    (dossier,) = page["items"]
    assert dossier["deed_id"] == a["id"] and dossier["quarter"] == q and dossier["unit"] == UNIT
    assert dossier["deed"]["title"] == "Cứu hộ cháy nhà giữa đêm" and "beneficiaries" not in dossier["deed"]
    assert dossier["evidence"] == [{"sha256": "a" * 64, "content_type": "image/jpeg", "size": 2048}]
    assert dossier["monthly_decision"]["number"] == done["monthly_result"]["decision"]["number"]
    assert dossier["monthly_decision"]["date"] == done["monthly_result"]["decision"]["date"]
    assert dossier["quarterly_tally"]["approve"] == 7 and dossier["quarterly_tally"]["ratio"] == "7/7"
    assert dossier["quarterly_round"] == done["quarterly"]["id"]

    province = auth("province_secretary", PROVINCE_SECRETARY)
    member = auth("council_member", PROVINCIAL_MEMBERS[0])
    for headers in (unit_sec, province, member):
        r = client.get(f"/api/v1/dossiers/{dossier['id']}", headers=headers)
        assert r.status_code == 200 and r.get_json() == dossier
    assert client.get(f"/api/v1/dossiers?unit={UNIT}&quarter={q}", headers=province).get_json()["items"] == [dossier]
    assert client.get("/api/v1/dossiers?unit=CAH-DM", headers=province).get_json()["items"] == []
    assert client.get("/api/v1/dossiers?quarter=2021-Q3", headers=member).get_json()["items"] == []

    pdf = client.get(f"/api/v1/dossiers/{dossier['id']}.pdf", headers=unit_sec)
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    text = flat(text_of(pdf.data))
    for expected in ("CÔNG AN THÀNH PHỐ GIA NGHĨA", "HỒ SƠ ĐỀ NGHỊ", "Kính gửi: Hội đồng xét việc tốt vì Nhân dân Công an tỉnh Đắk Nông",
                     "Cứu hộ cháy nhà giữa đêm", "Phường Nghĩa Đức", "a" * 64, "image/jpeg",
                     f"Quyết định số {dossier['monthly_decision']['number']}", "7/7 thành viên tán thành", "Nơi nhận:"):
        assert expected in text, expected


def test_r11_who_may_not_read_a_dossier(client, auth) -> None:
    done = a_quarter(client, auth)
    unit_sec = auth("unit_secretary", SECRETARY)
    (dossier,) = client.get("/api/v1/dossiers", headers=unit_sec).get_json()["items"]
    other_sec = auth("unit_secretary", "CAH-DM-0008")
    assert client.get("/api/v1/dossiers", headers=other_sec).get_json()["items"] == []
    assert client.get(f"/api/v1/dossiers?unit={UNIT}", headers=other_sec).status_code == 403
    for headers in (other_sec, auth("council_member", MEMBERS[0]), auth("officer", "CATP-GN-0010")):
        assert client.get(f"/api/v1/dossiers/{dossier['id']}", headers=headers).status_code == 403
        assert client.get(f"/api/v1/dossiers/{dossier['id']}.pdf", headers=headers).status_code == 403
    assert client.get("/api/v1/dossiers").status_code == 401
    assert client.get("/api/v1/dossiers/nope", headers=unit_sec).status_code == 404
    assert client.get("/api/v1/dossiers/nope.pdf", headers=unit_sec).status_code == 404
    bad = client.get("/api/v1/dossiers?quarter=2025-5", headers=unit_sec)
    assert bad.status_code == 422 and "quarter" in bad.get_json()["errors"]
    assert client.get("/api/v1/dossiers?cursor=%%%", headers=unit_sec).status_code == 422
    assert done["quarter"]


def test_r11_dossiers_page_by_cursor(client, auth) -> None:
    from tests.council.test_council_quarter import recognised_and_proposed

    runtime = client.application.extensions["sovang"]
    q = last_quarter()
    recognised_and_proposed(client, runtime, auth, "CATP-GN", 2, q)
    recognised_and_proposed(client, runtime, auth, "CAH-DM", 1, q)
    province = auth("province_secretary", PROVINCE_SECRETARY)
    seen, cursor = [], None
    while True:
        r = client.get("/api/v1/dossiers?limit=2" + (f"&cursor={cursor}" if cursor else ""), headers=province).get_json()
        seen += [(d["quarter"], d["unit"], d["id"]) for d in r["items"]]
        cursor = r["next"]
        if cursor is None:
            break
    assert len(seen) == 3 and seen == sorted(seen) and len(set(seen)) == 3


# -- PostgreSQL ----------------------------------------------------------------------------------
@pytest.fixture
def pg_client(pg_settings: Settings, org_document: dict) -> Iterator[FlaskClient]:
    rt: Runtime = make_runtime(pg_settings, org_document)
    app = create_app(runtime=rt)
    app.config["TESTING"] = True
    rt.db.after_commit.clear()
    yield app.test_client()
    rt.db.dispose()


@pytest.mark.distributed
def test_r8_r11_decision_and_dossiers_on_postgresql(pg_client: FlaskClient) -> None:
    runtime = pg_client.application.extensions["sovang"]
    done = a_quarter(pg_client, lambda role, subject: issue(runtime, role, subject))
    text = flat(text_of(pg_client.get(f"/api/v1/rounds/{done['monthly']['id']}/decision.pdf").data))
    assert f"Số: {done['monthly_result']['decision']['number']}" in text and "Cứu hộ cháy nhà giữa đêm" in text
    province = issue(runtime, "province_secretary", PROVINCE_SECRETARY)
    page = pg_client.get(f"/api/v1/dossiers?quarter={done['quarter']}&limit=1", headers=province).get_json()
    (dossier,) = page["items"]
    assert page["next"] is None and dossier["evidence"][0]["size"] == 2048
    assert pg_client.get(f"/api/v1/dossiers/{dossier['id']}.pdf", headers=province).status_code == 200


def test_r8_the_wording_of_place_date_and_signatory() -> None:
    import datetime as dt

    from services.council.domain.decisions import date_line, issuing_body, place_of, signatory

    assert date_line("Gia Nghĩa", dt.date(2025, 2, 5)) == "Gia Nghĩa, ngày 05 tháng 02 năm 2025"
    assert date_line("Đắk Nông", dt.date(2025, 11, 17)) == "Đắk Nông, ngày 17 tháng 11 năm 2025"
    assert place_of("Công an huyện Đắk Mil", "Công an tỉnh Đắk Nông") == "Đắk Mil"
    assert place_of("Phòng Tham mưu", "Công an tỉnh Đắk Nông") == "Đắk Nông"
    assert issuing_body("department", "Phòng Tham mưu", "Công an tỉnh Đắk Nông") == (
        "CÔNG AN TỈNH ĐẮK NÔNG", "PHÒNG THAM MƯU")
    assert signatory("department", "Phòng Tham mưu") == ("TRƯỞNG PHÒNG THAM MƯU", "TRƯỞNG PHÒNG")
    assert signatory("district", "Công an huyện Cư Jút") == ("TRƯỞNG CÔNG AN HUYỆN CƯ JÚT", "TRƯỞNG CÔNG AN HUYỆN")
