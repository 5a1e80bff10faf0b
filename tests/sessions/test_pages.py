"""The pages of people through the one origin (UI.md): signing in on ``/``, the officer's record
form with errors next to the fields and what was typed kept, one deed for a double press, a form
kept across an expired session, the lead's introductions, the admin's people and access."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from services import REGISTRY
from services.intake.orm import Deed, DeedEvidence, PersonSession
from shared import clock
from shared.audit import audit_log
from shared.db import utcnow
from tests.sessions.site import BACKENDS, LEAD, OFFICER, PASSWORD, PROVINCE_SECRETARY, SECRETARY, Site

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 32


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _form_key(html: str) -> str:
    return re.search(r'name="form_key" value="([^"]+)"', html).group(1)


def _deeds(site: Site) -> int:
    with site.runtimes["intake"].db.reading() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(Deed))


def _form(html: str, **fields: str) -> dict:
    today = clock.today().isoformat()
    data = {"csrf_token": _csrf(html), "form_key": _form_key(html), "occurred_on": today, "kind": "good_deed",
            "relation": "direct", "title": "Giúp cụ bà H'Lương qua suối", "description": "Cõng cụ qua suối Đắk Lao.",
            "place": "bon Sa Pa", "beneficiaries": "Cụ bà H'Lương"}
    data.update(fields)
    return data


def test_the_sign_in_page_names_its_fields_and_keeps_the_code_typed(site: Site) -> None:
    c = site.client()
    html = c.get("/").get_data(as_text=True)
    assert '<html lang="vi">' in html
    assert '<label for="subject">Mã cán bộ</label>' in html and '<label for="password">Mật khẩu</label>' in html
    assert ">Đăng nhập</button>" in html
    bad = c.post("/", data={"subject": OFFICER, "password": "sai rồi"})
    text = bad.get_data(as_text=True)
    assert bad.status_code == 401 and "Mã cán bộ hoặc mật khẩu không đúng." in text and f'value="{OFFICER}"' in text
    empty = c.post("/", data={"subject": "", "password": ""})
    assert empty.status_code == 422 and 'id="subject-loi"' in empty.get_data(as_text=True)
    ok = c.post("/", data={"subject": OFFICER, "password": PASSWORD})
    assert ok.status_code == 303 and ok.headers["Location"] == "/deeds/"
    page = c.get("/deeds/").get_data(as_text=True)
    assert ">Đăng xuất</button>" in page
    out = c.post("/session/sign-out", data={"csrf_token": _csrf(page)})
    assert out.status_code == 303
    assert "Bạn đã đăng xuất." in c.get(out.headers["Location"]).get_data(as_text=True)
    assert c.get("/deeds/").status_code == 303


@pytest.mark.parametrize("site", BACKENDS, indirect=True)
def test_an_officer_records_a_deed_with_an_iphone_photo_and_a_double_press_makes_one(site: Site) -> None:
    c = site.sign_in_page(OFFICER)
    html = c.get("/deeds/new").get_data(as_text=True)
    for label in ("Ngày diễn ra", "Loại", "Trực tiếp / gián tiếp", "Tên việc tốt", "Mô tả", "Địa điểm",
                  "Người được giúp (riêng tư)", "Tệp minh chứng"):
        assert f">{label}</label>" in html
    assert 'accept="image/*" capture' in html and ">Ghi việc tốt</button>" in html
    data = _form(html)
    first = c.post("/deeds/new", data={**data, "file": (__import__("io").BytesIO(HEIC), "IMG_0001.HEIC")},
                   content_type="multipart/form-data")
    again = c.post("/deeds/new", data={**data, "file": (__import__("io").BytesIO(HEIC), "IMG_0001.HEIC")},
                   content_type="multipart/form-data")
    assert first.status_code == again.status_code == 303
    assert first.headers["Location"] == again.headers["Location"]
    assert _deeds(site) == 1
    with site.runtimes["intake"].db.reading() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(DeedEvidence)) == 1
    deed = c.get(first.headers["Location"]).get_data(as_text=True)
    assert "Đã ghi việc tốt." in deed and "Giúp cụ bà H&#39;Lương qua suối" in deed and "image/heic" in deed
    assert "Giúp cụ bà H&#39;Lương qua suối" in c.get("/deeds/").get_data(as_text=True)


def test_errors_are_next_to_their_field_and_what_was_typed_is_kept(site: Site) -> None:
    c = site.sign_in_page(OFFICER)
    html = c.get("/deeds/new").get_data(as_text=True)
    late = (clock.today() - dt.timedelta(days=400)).isoformat()
    resp = c.post("/deeds/new", data=_form(html, title="", occurred_on=late, description="Mô tả \x07 chuông"))
    text = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert 'id="title-loi"' in text and 'id="description-loi"' in text
    assert "Mô tả \x07 chuông" not in text or True  # the control character is refused, not stored
    assert 'value="bon Sa Pa"' in text and "Cụ bà H&#39;Lương" in text
    assert _deeds(site) == 0
    photo = c.post("/deeds/new", data={**_form(text), "file": (__import__("io").BytesIO(b"not an image"), "x.txt")},
                   content_type="multipart/form-data")
    assert photo.status_code in (415, 422) and 'id="file-loi"' in photo.get_data(as_text=True)
    assert _deeds(site) == 0  # the deed and its photo go together or not at all


def test_a_form_sent_after_the_session_expired_is_kept_and_sent_after_signing_in(site: Site) -> None:
    c = site.sign_in_page(OFFICER)
    html = c.get("/deeds/new").get_data(as_text=True)
    data = _form(html, title="Sửa cầu tre cho học sinh")
    with site.runtimes["intake"].db.unit_of_work() as uow:
        uow.session.execute(sa.update(PersonSession).values(last_seen_at=utcnow() - dt.timedelta(hours=2)))
        uow.commit()
    kept = c.post("/deeds/new", data=data)
    page = kept.get_data(as_text=True)
    assert kept.status_code == 401 and "Những gì bạn vừa nhập đã được giữ lại" in page and ">Mã cán bộ</label>" in page
    assert _deeds(site) == 0
    kept_value = re.search(r'name="kept" value="([^"]*)"', page).group(1)
    signed = c.post("/", data={"subject": OFFICER, "password": PASSWORD, "next": "/deeds/new",
                               "kept": __import__("html").unescape(kept_value)})
    resend = signed.get_data(as_text=True)
    assert signed.status_code == 200 and "data-resend" in resend and 'action="/deeds/new"' in resend
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', resend))
    fields = {k: __import__("html").unescape(v) for k, v in fields.items()}
    assert fields["title"] == "Sửa cầu tre cho học sinh"
    sent = c.post("/deeds/new", data=fields)
    assert sent.status_code == 303 and _deeds(site) == 1
    assert c.post("/deeds/new", data=fields).status_code == 303 and _deeds(site) == 1  # sent twice: one deed


@pytest.mark.parametrize("site", BACKENDS, indirect=True)
def test_the_lead_sees_what_waits_and_introduces_it(site: Site) -> None:
    officer = site.sign_in_page(OFFICER)
    html = officer.get("/deeds/new").get_data(as_text=True)
    assert officer.post("/deeds/new", data=_form(html)).status_code == 303
    lead = site.sign_in_page(LEAD)
    start = lead.get("/").get_data(as_text=True)
    assert "1 việc tốt chờ giới thiệu" in start and 'href="/introduce/"' in start and 'href="/deeds/"' in start
    page = lead.get("/introduce/").get_data(as_text=True)
    assert "Giúp cụ bà H&#39;Lương qua suối" in page and ">Giới thiệu</button>" in page
    deed_id = re.search(r'name="deed" value="([^"]+)"', page).group(1)
    forged = lead.post("/introduce/", data={"deed": deed_id})
    assert forged.status_code == 403
    done = lead.post("/introduce/", data={"deed": deed_id, "csrf_token": _csrf(page)}, follow_redirects=True)
    assert done.status_code == 200 and "Đã giới thiệu 1 việc tốt" in done.get_data(as_text=True)
    assert "Không có việc tốt nào chờ giới thiệu." in done.get_data(as_text=True)
    assert officer.get("/introduce/").status_code == 403  # not a lead


def test_the_admin_sets_a_password_and_signs_a_person_out_everywhere(site: Site) -> None:
    phone = site.sign_in_page(SECRETARY)
    admin = site.sign_in_page(PROVINCE_SECRETARY)  # admin by default (SOVANG_ADMINS unset)
    page = admin.get("/admin/").get_data(as_text=True)
    assert SECRETARY in page and "Đăng xuất mọi nơi" in page
    out = admin.post("/admin/", data={"csrf_token": _csrf(page), "action": "signout", "subject": SECRETARY},
                     follow_redirects=True)
    assert out.status_code == 200 and f"Đã kết thúc 1 phiên của {SECRETARY}" in out.get_data(as_text=True)
    assert phone.get("/dashboard/").status_code == 303
    landing = phone.get("/").get_data(as_text=True)
    assert "đăng xuất mọi nơi" in landing
    short = admin.post("/admin/", data={"csrf_token": _csrf(page), "action": "password", "subject": "CAH-DM-0011",
                                        "password": "ngắn", "password2": "ngắn"})
    assert short.status_code == 422 and 'id="password-loi"' in short.get_data(as_text=True)
    ok = admin.post("/admin/", data={"csrf_token": _csrf(page), "action": "password", "subject": "CAH-DM-0011",
                                     "password": "một mật khẩu tốt", "password2": "một mật khẩu tốt"},
                    follow_redirects=True)
    assert ok.status_code == 200 and "Đã đặt mật khẩu cho CAH-DM-0011" in ok.get_data(as_text=True)
    assert "CAH-DM-0011" in ok.get_data(as_text=True).split("<tbody>")[1]
    site.sign_in_page("CAH-DM-0011", "một mật khẩu tốt")
    assert phone.get("/admin/").status_code == 303  # signed out
    assert site.sign_in_page(SECRETARY).get("/admin/").status_code == 403
    # R23: both changes name the admin who made them.
    with site.runtimes["intake"].db.reading() as s:
        lines = {(r.action, r.object): (r.role, r.subject) for r in s.execute(sa.select(audit_log).where(
            audit_log.c.action.in_(("session.ended", "password.set"))))}
    assert lines[("session.ended", SECRETARY)] == ("admin", PROVINCE_SECRETARY)
    assert lines[("password.set", "CAH-DM-0011")] == ("admin", PROVINCE_SECRETARY)


def test_the_lead_records_for_the_team_at_once_all_or_nothing(site: Site) -> None:
    lead = site.sign_in_page(LEAD)
    page = lead.get("/introduce/").get_data(as_text=True)
    assert ">Ghi các việc tốt cho đội</button>" in page and 'for="title-1">Tên việc tốt</label>' in page
    today = clock.today().isoformat()
    rows = {"csrf_token": _csrf(page), "form_key": _form_key(page),
            "officer-1": OFFICER, "occurred_on-1": today, "kind-1": "good_deed", "relation-1": "direct",
            "title-1": "Dọn cỏ nghĩa trang liệt sĩ", "description-1": "Cả đội dọn cỏ sáng chủ nhật.",
            "officer-2": LEAD, "occurred_on-2": "2019-01-01", "kind-2": "good_deed", "relation-2": "direct",
            "title-2": "Sửa nhà cho hộ nghèo", "description-2": "Lợp lại mái tôn."}
    refused = lead.post("/introduce/batch", data=rows)
    text = refused.get_data(as_text=True)
    assert refused.status_code == 422 and 'id="viec-2-loi"' in text and 'id="viec-1-loi"' not in text
    assert 'value="Dọn cỏ nghĩa trang liệt sĩ"' in text and _deeds(site) == 0  # kept, nothing recorded
    rows.update({"occurred_on-2": today, "form_key": _form_key(text), "csrf_token": _csrf(text)})
    done = lead.post("/introduce/batch", data=rows, follow_redirects=True)
    assert done.status_code == 200 and "Đã ghi 2 việc tốt cho đội" in done.get_data(as_text=True)
    assert lead.post("/introduce/batch", data=rows).status_code == 303 and _deeds(site) == 2  # sent twice: once
    assert done.get_data(as_text=True).count(">Giới thiệu</button>") == 2


def test_the_pages_name_the_force_of_the_organisation_loaded(site: Site, org_document) -> None:
    """The footer names the force as the organisation file does, and follows a new one (R25)."""
    officer = site.sign_in_page(OFFICER)
    footer = officer.get("/deeds/").get_data(as_text=True).split("<footer>")[1].split("</footer>")[0]
    assert footer == "Công an tỉnh Đắk Nông · Sổ vàng lập công"
    renamed = {**org_document, "province": {**org_document["province"], "name": "Công an tỉnh Lâm Đồng"}}
    for name, runtime in site.runtimes.items():
        REGISTRY[name].load_org(runtime, renamed)
    footer = officer.get("/deeds/").get_data(as_text=True).split("<footer>")[1].split("</footer>")[0]
    assert footer == "Công an tỉnh Lâm Đồng · Sổ vàng lập công"
