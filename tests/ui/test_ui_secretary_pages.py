"""The secretaries' pages through the one origin (UI.md): ``/rounds/`` runs a round with R20a's
controls and the same use cases as the API — opening (R5a handshake), the count of members who
voted and never who (R19), moving the deadline, cancelling, paper ballots (R19a), closing (R20),
the result, the minutes and the decision (R8) — and every refusal (409, 422) comes back next to
its field or button, never a 500; ``/unit/`` and ``/province/``."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from ui_helpers import COUNCIL, MEMBERS, PROVINCE_SECRETARY, SECRETARY, deed_copy, open_monthly, this_month
from werkzeug.test import Client as FlaskClient

from services.council import runs, services
from shared import clock
from shared.auth import Principal
from shared.runtime import Runtime
from tests.sessions.site import BACKENDS, PASSWORD, Site

AUTHOR = {"officer": "CAH-DM-0010", "name": "Trung uý Võ Xuân Giang"}
SEC = Principal("unit_secretary", SECRETARY)


def sign_in(client: FlaskClient, subject: str) -> None:
    resp = client.post("/", data={"subject": subject, "password": PASSWORD, "next": ""})
    assert resp.status_code == 303, resp.get_data(as_text=True)


def token_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def field_error(html: str, field: str) -> str:
    found = re.search(rf'<p class="field-error" id="{re.escape(field)}-loi">([^<]*)</p>', html)
    assert found, f"no error next to {field}"
    return found.group(1)


def secretary(site: Site) -> tuple[FlaskClient, str]:
    c = site.client()
    sign_in(c, SECRETARY)
    page = c.get("/rounds/")
    assert page.status_code == 200, page.get_data(as_text=True)
    return c, token_of(page.get_data(as_text=True))


@pytest.mark.parametrize("site", BACKENDS, indirect=True)
def test_the_secretary_opens_a_round_and_a_bad_one_is_refused_next_to_its_field(site: Site, runtime: Runtime) -> None:
    c, token = secretary(site)
    html = c.get("/rounds/").get_data(as_text=True)
    assert "Mở phiên xét" in html and 'for="kind"' in html and 'for="period"' in html
    assert '<option value="provincial"' not in html  # a unit council opens no provincial round

    bad = c.post("/rounds/", data={"csrf_token": token, "kind": "monthly", "period": "tháng 8"})
    assert bad.status_code == 422
    text = bad.get_data(as_text=True)
    assert "YYYY-MM" in field_error(text, "period") and 'value="tháng 8"' in text  # what was typed is kept

    future = (clock.today() + dt.timedelta(days=70)).strftime("%Y-%m")
    early = c.post("/rounds/", data={"csrf_token": token, "kind": "monthly", "period": future})
    assert early.status_code == 422 and field_error(early.get_data(as_text=True), "period")

    opened = c.post("/rounds/", data={"csrf_token": token, "kind": "monthly", "period": this_month()})
    assert opened.status_code == 303
    round_id = opened.headers["Location"].split("/rounds/")[1].split("?")[0]
    view = runs.get_round_view(runtime, round_id)
    assert view["council"] == COUNCIL and view["kind"] == "monthly" and view["period"] == this_month()

    again = c.post("/rounds/", data={"csrf_token": token, "kind": "monthly", "period": this_month()})
    assert again.status_code == 409 and "đã có phiên" in field_error(again.get_data(as_text=True), "period")

    forged = c.post("/rounds/", data={"csrf_token": "x" * 40, "kind": "supplementary", "period": this_month()})
    assert forged.status_code == 403


@pytest.mark.parametrize("site", BACKENDS, indirect=True)
def test_the_secretary_sees_how_many_voted_moves_the_deadline_and_closes(site: Site, runtime: Runtime) -> None:
    deeds = [deed_copy("Cứu bé gái đuối nước ở hồ Tây", AUTHOR, this_month()),
             deed_copy("Trả lại ví cho người đánh rơi", AUTHOR, this_month())]
    round_id = open_monthly(runtime, deeds)
    cands = runs.get_round_view(runtime, round_id)["candidates"]
    runs.cast_ballot(runtime, Principal("council_member", MEMBERS[0]), round_id,
                         {c["id"]: "approve" for c in cands})
    c, token = secretary(site)
    assert f"/rounds/{round_id}" in c.get("/rounds/").get_data(as_text=True)
    html = c.get(f"/rounds/{round_id}").get_data(as_text=True)
    assert re.search(r'id="da-bo-phieu">Đã bỏ phiếu: <strong>1/7</strong>', html)
    assert MEMBERS[0] not in html  # R19, R20a: how many, never who
    for control in ("Gia hạn", "Đóng phiên", "Huỷ phiên", "Nhập phiếu giấy"):
        assert control in html

    # Gia hạn: a deadline in the past is refused next to the field, kept as typed.
    past = c.post(f"/rounds/{round_id}/deadline", data={"csrf_token": token, "closes_at": "2021-10-01T17:00"})
    assert past.status_code == 422
    assert "tương lai" in field_error(past.get_data(as_text=True), "closes_at")
    assert 'value="2021-10-01T17:00"' in past.get_data(as_text=True)
    nonsense = c.post(f"/rounds/{round_id}/deadline", data={"csrf_token": token, "closes_at": "mai"})
    assert nonsense.status_code == 422 and field_error(nonsense.get_data(as_text=True), "closes_at")
    later = (clock.today() + dt.timedelta(days=20)).isoformat()
    moved = c.post(f"/rounds/{round_id}/deadline", data={"csrf_token": token, "closes_at": f"{later}T16:30"})
    assert moved.status_code == 303
    view = runs.get_round_view(runtime, round_id)
    assert clock.local(dt.datetime.fromisoformat(view["closes_at"])).strftime("%Y-%m-%dT%H:%M") == f"{later}T16:30"
    assert "Đã gia hạn phiên." in c.get(moved.headers["Location"]).get_data(as_text=True)

    # Huỷ phiên after a ballot, and Đóng phiên early: the use case's refusals, next to the button.
    cancel = c.post(f"/rounds/{round_id}/cancel", data={"csrf_token": token})
    assert cancel.status_code == 409 and "đã có phiếu" in field_error(cancel.get_data(as_text=True), "cancel")
    early = c.post(f"/rounds/{round_id}/close", data={"csrf_token": token})
    assert early.status_code == 409 and "R20" in field_error(early.get_data(as_text=True), "close")

    for member in MEMBERS[1:]:
        runs.cast_ballot(runtime, Principal("council_member", member), round_id,
                             {cands[0]["id"]: "approve", cands[1]["id"]: "reject"})
    closed = c.post(f"/rounds/{round_id}/close", data={"csrf_token": token})
    assert closed.status_code == 303
    html = c.get(closed.headers["Location"]).get_data(as_text=True)
    assert "Đã đóng phiên" in html and "Gia hạn" not in html
    assert f'href="/api/v1/rounds/{round_id}/decision.pdf">Quyết định công nhận (PDF)</a>' in html
    assert f"/api/v1/rounds/{round_id}/minutes.pdf" in html and "7/7" in html and "Được chọn" in html
    decision = c.get(f"/api/v1/rounds/{round_id}/decision.pdf")
    assert decision.status_code == 200 and decision.data.startswith(b"%PDF")
    minutes = c.get(f"/api/v1/rounds/{round_id}/minutes.pdf")  # the secretary's session reads the minutes
    assert minutes.status_code == 200 and minutes.data.startswith(b"%PDF")
    twice = c.post(f"/rounds/{round_id}/close", data={"csrf_token": token})
    assert twice.status_code == 409 and "giữ nguyên" in field_error(twice.get_data(as_text=True), "close")


def test_a_round_opened_by_mistake_is_cancelled(site: Site, runtime: Runtime) -> None:
    round_id = open_monthly(runtime, [deed_copy("Giúp dân chống lũ", AUTHOR, this_month())])
    c, token = secretary(site)
    done = c.post(f"/rounds/{round_id}/cancel", data={"csrf_token": token})
    assert done.status_code == 303
    assert runs.get_round_view(runtime, round_id)["status"] == "cancelled"
    html = c.get(done.headers["Location"]).get_data(as_text=True)
    assert "Đã huỷ phiên" in html and "Đóng phiên" not in html


def test_paper_ballots_are_entered_ballot_by_ballot_and_a_bad_count_is_refused(site: Site, runtime: Runtime) -> None:
    round_id = open_monthly(runtime, [deed_copy("Giúp dân chống lũ", AUTHOR, this_month())])
    cid = runs.get_round_view(runtime, round_id)["candidates"][0]["id"]
    c, token = secretary(site)
    first = c.get(f"/rounds/{round_id}/paper")
    assert first.status_code == 200 and 'for="voters"' in first.get_data(as_text=True)
    rows = c.get(f"/rounds/{round_id}/paper?voters=7&ballots=7").get_data(as_text=True)
    assert rows.count("<fieldset") == 7 and f'name="b6-{cid}"' in rows
    assert c.get(f"/rounds/{round_id}/paper?voters=7&ballots=nhiều").status_code == 422

    ballots = {f"b{i}-{cid}": "approve" for i in range(7)}
    too_many = c.post(f"/rounds/{round_id}/paper", data={"csrf_token": token, "voters": "9", "ballots": "7", **ballots})
    assert too_many.status_code == 422
    text = too_many.get_data(as_text=True)
    assert "vượt số thành viên" in field_error(text, "voters")
    assert 'value="9"' in text and text.count('<option value="approve" selected>') == 7  # kept
    assert runs.get_round_view(runtime, round_id)["voted"] == 0

    ok = c.post(f"/rounds/{round_id}/paper", data={"csrf_token": token, "voters": "7", "ballots": "7", **ballots})
    assert ok.status_code == 303
    assert runs.get_round_view(runtime, round_id)["voted"] == 7
    closed = c.post(f"/rounds/{round_id}/close", data={"csrf_token": token})
    assert closed.status_code == 303
    result = runs.run(runtime, services.read_result, lambda: SEC, round_id)
    assert result["candidates"][0]["approve"] == 7 and result["candidates"][0]["selected"]


def test_only_the_councils_secretary_runs_its_rounds(site: Site, runtime: Runtime) -> None:
    round_id = open_monthly(runtime, [deed_copy("Giúp dân chống lũ", AUTHOR, this_month())])
    member = site.client()
    sign_in(member, MEMBERS[0])
    assert member.get("/rounds/").status_code == 403
    province = site.client()
    sign_in(province, PROVINCE_SECRETARY)
    page = province.get("/rounds/")
    assert page.status_code == 200 and "Hội đồng" in page.get_data(as_text=True)
    assert f"/rounds/{round_id}" not in page.get_data(as_text=True)  # the province runs its own council's
    refused = province.get(f"/rounds/{round_id}")
    assert refused.status_code == 403
    assert runs.get_round_view(runtime, round_id)["status"] == "open"
    nobody = site.client()
    assert nobody.get("/rounds/").status_code == 303
