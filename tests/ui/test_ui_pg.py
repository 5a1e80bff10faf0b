"""The council's pages on PostgreSQL (the production database): a ballot cast through the page
and the R10 dashboard, over the same queries as on SQLite."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from ui_helpers import MEMBERS, PROVINCE_SECRETARY, SECRETARY, deed_copy, open_monthly, this_month

from services.council import runs
from shared.auth import Principal
from shared.clock import Month
from shared.config import Settings
from shared.runtime import Runtime
from tests.sessions.site import Site, make_site

pytestmark = pytest.mark.distributed


@pytest.fixture
def pg_site(pg_settings: Settings, org_doc: dict) -> Iterator[Site]:
    site = make_site(pg_settings, org_doc, (MEMBERS[0], PROVINCE_SECRETARY))
    yield site
    site.close()


def test_a_ballot_through_the_page_and_the_dashboard_on_postgresql(pg_site: Site) -> None:
    pg_runtime: Runtime = pg_site.runtimes["council"]
    month = this_month()
    author = {"officer": "CAH-DM-0010", "name": "Trung uý Võ Xuân Giang"}
    round_id = open_monthly(pg_runtime, [deed_copy("Giúp đồng bào M'Nông dựng lại nhà sau lốc xoáy", author, month)])
    cand = runs.get_round_view(pg_runtime, round_id)["candidates"][0]
    client = pg_site.sign_in_page(MEMBERS[0])
    html = client.get(f"/ballot/rounds/{round_id}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    cast = client.post(f"/ballot/rounds/{round_id}", data={"csrf_token": token, "step": "confirm",
                                                           f"choice-{cand['id']}": "approve"})
    assert cast.status_code == 201 and 'id="bien-nhan"' in cast.get_data(as_text=True)
    again = client.post(f"/ballot/rounds/{round_id}", data={"csrf_token": token, "step": "confirm",
                                                            f"choice-{cand['id']}": "approve"})
    assert again.status_code == 409
    for member in MEMBERS[1:]:
        runs.cast_ballot(pg_runtime, Principal("council_member", member), round_id, {cand["id"]: "approve"})
    runs.close_round(pg_runtime, Principal("unit_secretary", SECRETARY), round_id)

    board = pg_site.sign_in_page(PROVINCE_SECRETARY)
    page = board.get(f"/dashboard/?quarter={Month.parse(month).quarter}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and html.count('<th scope="row">') == 15 and "✓ Đạt" in html
