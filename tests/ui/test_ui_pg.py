"""The council's pages on PostgreSQL (the production database): a ballot cast through the page
and the R10 dashboard, over the same queries as on SQLite."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from ui_helpers import MEMBERS, PROVINCE_SECRETARY, SECRETARY, deed_copy, issue, open_monthly, this_month

from services.council import services
from services.council.app import build_runtime, create_app
from shared.auth import Principal
from shared.clock import Month
from shared.config import Settings
from shared.runtime import Runtime

pytestmark = pytest.mark.distributed


@pytest.fixture
def pg_runtime(pg_settings: Settings, org_doc: dict) -> Iterator[Runtime]:
    rt = build_runtime(pg_settings)
    rt.migrate()
    services.load_org(rt, org_doc)
    rt.db.after_commit.clear()
    yield rt
    rt.db.dispose()


def test_a_ballot_through_the_page_and_the_dashboard_on_postgresql(pg_runtime: Runtime) -> None:
    month = this_month()
    author = {"officer": "CAH-DM-0010", "name": "Trung uý Võ Xuân Giang"}
    round_id = open_monthly(pg_runtime, [deed_copy("Giúp đồng bào M'Nông dựng lại nhà sau lốc xoáy", author, month)])
    cand = services.get_round_view(pg_runtime, round_id)["candidates"][0]
    client = create_app(runtime=pg_runtime).test_client()
    assert client.post("/ballot/sign-in", data={"token": issue(pg_runtime, "council_member", MEMBERS[0])}).status_code == 303
    html = client.get(f"/ballot/rounds/{round_id}").get_data(as_text=True)
    token = re.search(r'name="form_token" value="([0-9a-f]+)"', html).group(1)
    cast = client.post(f"/ballot/rounds/{round_id}", data={"form_token": token, "step": "confirm",
                                                           f"choice-{cand['id']}": "approve"})
    assert cast.status_code == 201 and 'id="bien-nhan"' in cast.get_data(as_text=True)
    again = client.post(f"/ballot/rounds/{round_id}", data={"form_token": token, "step": "confirm",
                                                            f"choice-{cand['id']}": "approve"})
    assert again.status_code == 409
    for member in MEMBERS[1:]:
        services.cast_ballot(pg_runtime, Principal("council_member", member), round_id, {cand["id"]: "approve"})
    services.close_round(pg_runtime, Principal("unit_secretary", SECRETARY), round_id)

    board = create_app(runtime=pg_runtime).test_client()
    board.post("/dashboard/sign-in", data={"token": issue(pg_runtime, "province_secretary", PROVINCE_SECRETARY)})
    page = board.get(f"/dashboard/?quarter={Month.parse(month).quarter}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and html.count('<th scope="row">') == 15 and "✓ Đạt" in html
