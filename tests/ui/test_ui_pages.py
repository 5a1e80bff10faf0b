"""The council's pages for people through the one origin: signing in (R24), a ballot cast in
three steps with its receipt (R18, R19), the refusals said in words, and the R10 dashboard."""

from __future__ import annotations

import re

import pytest
from ui_helpers import MEMBERS, PROVINCE_SECRETARY, SECRETARY, deed_copy, open_monthly, this_month
from werkzeug.test import Client as FlaskClient

from services.council import runs
from services.council.domain.ballots import vote_receipt
from shared.auth import Principal
from shared.runtime import Runtime
from tests.sessions.site import BACKENDS, PASSWORD

AUTHOR = {"officer": "CAH-DM-0010", "name": "Trung uý Võ Xuân Giang"}
EVIDENCE = [{"sha256": "ab" * 32, "size": 48213, "content_type": "image/jpeg"}]


def sign_in(client: FlaskClient, subject: str) -> None:
    resp = client.post("/", data={"subject": subject, "password": PASSWORD, "next": ""})
    assert resp.status_code == 303, resp.get_data(as_text=True)


def form_token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


@pytest.mark.parametrize("site", BACKENDS, indirect=True)
def test_a_member_signs_in_reviews_confirms_and_gets_a_receipt(client: FlaskClient, runtime: Runtime) -> None:
    month_deeds = [deed_copy("Cứu bé gái đuối nước ở hồ Tây", AUTHOR, this_month(), EVIDENCE),
                   deed_copy("Trả lại ví cho người đánh rơi", AUTHOR, this_month())]
    round_id = open_monthly(runtime, month_deeds, this_month())
    page = client.get("/ballot/", follow_redirects=True)
    assert page.status_code == 200 and 'type="password"' in page.get_data(as_text=True)
    assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")

    sign_in(client, MEMBERS[0])
    home = client.get("/ballot/").get_data(as_text=True)
    assert f"/ballot/rounds/{round_id}" in home and "Chưa bỏ phiếu" in home
    assert "1 phiên đang chờ bạn bỏ phiếu." in home  # what waits for them

    html = client.get(f"/ballot/rounds/{round_id}").get_data(as_text=True)
    assert "Cứu bé gái đuối nước ở hồ Tây" in html and "Trung uý Võ Xuân Giang" in html
    assert f"/api/v1/deeds/{month_deeds[0]['id']}/evidence/{'ab' * 32}" in html and "ảnh JPEG, 47 KB" in html
    cands = runs.get_round_view(runtime, round_id)["candidates"]
    token = form_token(html)

    # Missing a choice: the form comes back with the reason, nothing is cast.
    resp = client.post(f"/ballot/rounds/{round_id}", data={"csrf_token": token, "step": "review",
                                                           f"choice-{cands[0]['id']}": "approve"})
    assert resp.status_code == 422
    assert "Phiếu chưa đủ" in resp.get_data(as_text=True)
    assert runs.get_round_view(runtime, round_id)["voted"] == 0

    choices = {f"choice-{cands[0]['id']}": "approve", f"choice-{cands[1]['id']}": "abstain"}
    review = client.post(f"/ballot/rounds/{round_id}", data={"csrf_token": token, "step": "review", **choices})
    assert review.status_code == 200
    text = review.get_data(as_text=True)
    assert "Xác nhận bỏ phiếu" in text and "Không biểu quyết" in text
    assert runs.get_round_view(runtime, round_id)["voted"] == 0

    cast = client.post(f"/ballot/rounds/{round_id}", data={"csrf_token": token, "step": "confirm", **choices})
    assert cast.status_code == 201
    receipt = re.search(r'id="bien-nhan">([0-9a-f]{16})<', cast.get_data(as_text=True)).group(1)
    # R19: the page gives each vote's own receipt, not the choices.
    shown = re.findall(r'<strong class="receipt">([0-9a-f]{16})</strong>', cast.get_data(as_text=True))
    assert shown == [vote_receipt(receipt, c["id"]) for c in cands]
    assert "Không biểu quyết" not in cast.get_data(as_text=True)
    assert cast.headers["Cache-Control"] == "no-store"
    assert runs.get_round_view(runtime, round_id)["voted"] == 1

    again = client.post(f"/ballot/rounds/{round_id}", data={"csrf_token": token, "step": "confirm", **choices})
    assert again.status_code == 409
    assert "Bạn đã bỏ phiếu trong phiên này" in again.get_data(as_text=True)
    assert "Bạn đã bỏ phiếu trong phiên này" in client.get(f"/ballot/rounds/{round_id}").get_data(as_text=True)

    # Each vote is found in the published list once the round closes (R19).
    for member in MEMBERS[1:]:
        runs.cast_ballot(runtime, Principal("council_member", member), round_id,
                             {c["id"]: "approve" for c in cands})
    result = runs.close_round(runtime, Principal("unit_secretary", SECRETARY), round_id)
    for code, (cid, choice) in zip(shown, ((cands[0]["id"], "approve"), (cands[1]["id"], "abstain")), strict=True):
        assert {"receipt": code, "choices": {cid: choice}} in result["ballots"]
    closed = client.get(f"/ballot/rounds/{round_id}").get_data(as_text=True)
    assert "Phiên đã đóng: không nhận phiếu nữa" in closed and 'name="step"' not in closed
    # R19: the closed round's page lists the published votes and says how to find one's own; the
    # lookup runs in the browser, so no form sends the receipt to the server.
    assert "Tìm phiếu của bạn" in closed and 'SHA-256("mã biên nhận:mã ứng viên")' in closed
    rows = re.findall(r'<tr data-receipt="([0-9a-f]{16})">', closed)
    assert rows == [b["receipt"] for b in result["ballots"]] and set(shown) <= set(rows)
    assert receipt not in closed and "ma-bien-nhan" in closed and "<form" not in closed.split('id="tim-phieu"')[1]


def services_month(runtime: Runtime) -> str:
    from shared import clock
    from shared.clock import Month

    return str(Month.of(clock.today()))


def test_a_forged_form_and_a_stranger_are_refused(client: FlaskClient, runtime: Runtime, site) -> None:  # noqa: ANN001
    round_id = open_monthly(runtime, [deed_copy("Giúp dân chống lũ", AUTHOR, this_month())])
    cand = runs.get_round_view(runtime, round_id)["candidates"][0]
    sign_in(client, MEMBERS[1])
    forged = client.post(f"/ballot/rounds/{round_id}", data={"csrf_token": "0" * 40, "step": "confirm",
                                                             f"choice-{cand['id']}": "approve"})
    assert forged.status_code == 403 and "mã chống giả mạo" in forged.get_data(as_text=True)
    assert runs.get_round_view(runtime, round_id)["voted"] == 0

    other = site.client()
    sign_in(other, "CAH-CJ-0001")
    resp = other.get(f"/ballot/rounds/{round_id}")
    assert resp.status_code == 403 and "không phải thành viên của hội đồng này" in resp.get_data(as_text=True)


def test_the_author_on_the_council_is_recused(client: FlaskClient, runtime: Runtime) -> None:
    """R17: a member who authored the deed sees it but has no choice to make on it."""
    author = {"officer": MEMBERS[2], "name": "Thiếu tá Y Cường"}
    round_id = open_monthly(runtime, [deed_copy("Hiến máu cứu người", author, this_month(), subunit=None)])
    sign_in(client, MEMBERS[2])
    html = client.get(f"/ballot/rounds/{round_id}").get_data(as_text=True)
    assert "Hiến máu cứu người" in html and "R17" in html and 'type="radio"' not in html


def test_a_cancelled_round_says_so_and_takes_no_ballot(client: FlaskClient, runtime: Runtime) -> None:
    """R20a: a round its secretary cancelled is shown as such, with no choice to make."""
    round_id = open_monthly(runtime, [deed_copy("Giúp dân chống lũ", AUTHOR, this_month())])
    runs.cancel_round(runtime, Principal("unit_secretary", SECRETARY), round_id)
    sign_in(client, MEMBERS[1])
    html = client.get(f"/ballot/rounds/{round_id}").get_data(as_text=True)
    assert "Phiên đã bị huỷ" in html and 'type="radio"' not in html
    assert "Đã huỷ" in client.get("/ballot/").get_data(as_text=True)


def test_a_wrong_password_is_refused_and_a_page_of_another_role_too(client: FlaskClient) -> None:
    bad = client.post("/", data={"subject": MEMBERS[0], "password": "không đúng đâu"})
    assert bad.status_code == 401 and "Mã cán bộ hoặc mật khẩu không đúng" in bad.get_data(as_text=True)
    assert "Set-Cookie" not in bad.headers
    assert MEMBERS[0] in bad.get_data(as_text=True)  # what was typed is kept
    sign_in(client, SECRETARY)  # not on any council
    refused = client.get("/ballot/")
    assert refused.status_code == 403 and "vai trò bạn không giữ" in refused.get_data(as_text=True)


def test_the_dashboard_shows_every_unit_month_by_month(client: FlaskClient, runtime: Runtime, site) -> None:  # noqa: ANN001
    month = this_month()
    round_id = open_monthly(runtime, [deed_copy("Bắt quả tang đối tượng trộm xe máy", AUTHOR, month)], month)
    cand = runs.get_round_view(runtime, round_id)["candidates"][0]
    for member in MEMBERS:
        runs.cast_ballot(runtime, Principal("council_member", member), round_id, {cand["id"]: "approve"})
    runs.close_round(runtime, Principal("unit_secretary", SECRETARY), round_id)
    from shared.clock import Month

    quarter = str(Month.parse(month).quarter)
    assert client.get("/dashboard/").status_code == 303  # to the sign-in form
    sign_in(client, PROVINCE_SECRETARY)
    page = client.get(f"/dashboard/?quarter={quarter}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "<svg" in html and 'role="img"' in html and "<script" not in html.split("<body>")[1].split("</header>")[1]
    assert html.count('<th scope="row">') == 15  # every unit
    assert "Công an huyện Đắk Mil" in html and "✓ Đạt" in html and "– Chưa xét" in html
    assert "Công an huyện Đắk Mil, Tháng" in html  # the chart says its numbers in words

    unit = site.client()
    sign_in(unit, SECRETARY)
    own = unit.get(f"/dashboard/?quarter={quarter}").get_data(as_text=True)
    assert own.count('<th scope="row">') == 1
    member = site.client()
    sign_in(member, MEMBERS[0])
    assert member.get("/dashboard/").status_code == 403
