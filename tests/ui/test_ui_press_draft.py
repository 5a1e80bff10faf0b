"""UI.md: the province secretary's ``/province/`` shows the press release before and after its
publication (R16). Before its quarter ends, the release is published nowhere: the secretary
alone reads it as it stands, from the same renderer as the published one, marked as a draft and
never cached; once the quarter is over, ``/province/`` links the published one."""

from __future__ import annotations

import re

import pytest
from ui_helpers import PROVINCE_SECRETARY, SECRETARY

from services.council.domain.rounds import latest_ended_quarter
from shared import clock
from shared.clock import Month
from tests.book.book_helpers import PROVINCE, deed_copy, deliver, inscribe_command, republish
from tests.sessions.site import Site

DRAFT = "Bản dự thảo – chưa công bố"


def current_quarter() -> str:
    return str(Month.of(clock.today()).quarter)


@pytest.fixture
def inscribed_now(site: Site) -> str:
    """A deed inscribed in the provincial book for the quarter under way; its title."""
    title = "Dập lửa cháy rừng thông ở Đắk Mil trong đêm"
    book = site.runtimes["book"]
    deliver(book, inscribe_command(PROVINCE, deed=deed_copy(title), period=current_quarter(),
                                   round_kind="provincial"))
    republish(book)
    return title


def test_the_secretary_reads_the_quarters_release_before_it_is_published(site: Site, inscribed_now: str) -> None:
    quarter = current_quarter()
    browser = site.sign_in_page(PROVINCE_SECRETARY)
    province = browser.get(f"/province/?quarter={quarter}").get_data(as_text=True)
    link = re.search(r'<a href="(/province/press/[^"]+)">([^<]+)</a>', province)
    assert link and link.group(1) == f"/province/press/{quarter}.html" and DRAFT in link.group(2)
    assert f'href="/press/{quarter}.html"' not in province  # nothing published to link to yet

    draft = browser.get(link.group(1))
    html = draft.get_data(as_text=True)
    assert draft.status_code == 200 and draft.mimetype == "text/html"
    assert f"<strong>{DRAFT}.</strong>" in html and f"<title>{DRAFT}: Thông cáo báo chí" in html
    assert inscribed_now in html and "Sổ vàng Công an tỉnh, mục số 1" in html
    # The page of a signed-in person, never kept by anyone.
    assert draft.headers["Cache-Control"] == "no-store" and "ETag" not in draft.headers
    assert "Đăng xuất" in html and 'href="/static/sovang.css"' in html
    # R16: published only once the quarter is over — not at /press/, not without the draft mark.
    assert browser.get(f"/press/{quarter}.html").status_code == 404
    assert f'/press/{quarter}.pdf' not in html
    # The current quarter is the default.
    assert inscribed_now in browser.get("/province/press/").get_data(as_text=True)


def test_after_its_quarter_the_province_page_links_the_published_release(site: Site) -> None:
    browser = site.sign_in_page(PROVINCE_SECRETARY)
    ended = str(latest_ended_quarter(clock.now()))
    province = browser.get("/province/").get_data(as_text=True)
    assert f'<a href="/press/{ended}.html">' in province and f"/province/press/{ended}.html" not in province
    assert 'href="/province/press/"' in province  # and the draft of the quarter under way
    moved = browser.get(f"/province/press/{ended}.html")
    assert moved.status_code == 303 and moved.headers["Location"].endswith(f"/press/{ended}.html")
    published = browser.get(f"/press/{ended}.html").get_data(as_text=True)
    assert DRAFT not in published and "Thông cáo báo chí" in published


def test_only_the_province_secretary_reads_the_draft(site: Site, inscribed_now: str) -> None:
    path = f"/province/press/{current_quarter()}.html"
    nobody = site.client().get(path)
    assert nobody.status_code == 303 and "/?next=" in nobody.headers["Location"]
    for subject in (SECRETARY, "CAH-DM-0010"):
        refused = site.sign_in_page(subject).get(path)
        assert refused.status_code == 403, subject
        assert inscribed_now not in refused.get_data(as_text=True)
    # No program's token either: the page is a person's.
    assert site.client().get(path, headers={"Authorization": "Bearer x"}).status_code in (303, 401)
    assert site.sign_in_page(PROVINCE_SECRETARY).get("/province/press/2019-Q1.html").status_code == 404
    assert site.sign_in_page(PROVINCE_SECRETARY).get("/province/press/bad.html").status_code == 404
