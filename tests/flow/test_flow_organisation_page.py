"""R25 from the browser: an admin loads a new organisation at ``/admin/organisation/`` and intake
carries it to council and book through their messages (``services.intake.organisation``), with
real delivery through the outboxes (``Flow``), on the embedded default and on PostgreSQL + Redis.

The 2025 reform (``shared/data/lam-dong-2025.json``) loaded over Đắk Nông: everywhere when
nothing stands in the way; nowhere, with council's reasons on the page, when it would orphan an
open round; stopped with its reason when a round opens between the check and the load, and
completed by loading the same file again. Copies of every message change nothing, nor does a
file already loaded. A bad file is refused beside its field with nothing written; only an
admin, with the form's CSRF token, may load."""

from __future__ import annotations

import datetime as dt
import html
import io
import json
import re
from typing import Any

import pytest
import sqlalchemy as sa

from services.intake import people
from services.intake.organisation import BUSY_MINUTES
from services.intake.orm import org_loads
from shared import clock
from shared.audit import audit_log
from shared.db import utcnow
from shared.ids import new_id
from shared.org import Organisation
from shared.tables import org_documents, outbox
from tests.flow.flow_harness import Flow
from tests.flow.test_flow_reorganisation import (
    REFORM,
    close,
    loaded_everywhere,
    plain_officer,
    put_to_round,
    unit_of,
    vote,
)
from tests.intake.conftest import deed_body

PASSWORD = "mật-khẩu-đủ-dài-1"
FILE = "lam-dong-2025.json"


def sign_in(flow: Flow, subject: str) -> Any:
    """intake's browser signed in as ``subject`` through the sign-in form (R24)."""
    flow.runtimes["intake"].run(people.set_password, "test", subject, PASSWORD)
    client = flow.clients["intake"]
    r = client.post("/", data={"subject": subject, "password": PASSWORD, "next": ""})
    assert r.status_code == 303, r.get_data(as_text=True)
    return client


def admin(flow: Flow, org: dict[str, Any]) -> tuple[Any, str]:
    """The admin's browser (the province secretary: ``SOVANG_ADMINS`` unset) and its CSRF token."""
    client = sign_in(flow, org["province"]["secretary"])
    page = client.get("/admin/organisation/")
    assert page.status_code == 200
    return client, csrf_of(page.get_data(as_text=True))


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "the form carries no CSRF token"
    return found.group(1)


def send(client: Any, csrf: str | None, content: bytes, name: str = FILE) -> Any:
    data: dict[str, Any] = {"file": (io.BytesIO(content), name)}
    if csrf is not None:
        data["csrf_token"] = csrf
    return client.post("/admin/organisation/", data=data, content_type="multipart/form-data")


def load_from_page(client: Any, csrf: str, doc: dict[str, Any], name: str = FILE) -> str:
    """Send ``doc`` from the page; the path of the load's own page it leads to."""
    r = send(client, csrf, json.dumps(doc, ensure_ascii=False).encode("utf-8"), name)
    assert r.status_code == 303, r.get_data(as_text=True)
    assert re.fullmatch(r"/admin/organisation/[0-9a-f-]{36}", r.headers["Location"])
    return r.headers["Location"]


def text(resp: Any) -> str:
    """A page's text as a person reads it: no tags, entities decoded, spaces folded."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", resp.get_data(as_text=True))).split())


def service_lines(resp: Any) -> dict[str, str]:
    """Each service's row of a load's page, as read: its state, then its reasons."""
    rows = re.findall(r'<tr><th scope="row">[^<]*\((\w+)\)</th>(.*?)</tr>', resp.get_data(as_text=True), re.S)
    return {name: " ".join(html.unescape(re.sub(r"<[^>]+>", " ", cells)).split()) for name, cells in rows}


def counts(flow: Flow) -> dict[str, tuple[int, int]]:
    """Per service: (organisation documents kept, audit lines)."""
    found = {}
    for name, rt in flow.runtimes.items():
        with rt.db.reading() as s:
            found[name] = (s.execute(sa.select(sa.func.count()).select_from(org_documents)).scalar_one(),
                           s.execute(sa.select(sa.func.count()).select_from(audit_log)).scalar_one())
    return found


def audit_of(flow: Flow, service: str, action: str) -> list[Any]:
    with flow.runtimes[service].db.reading() as s:
        return list(s.execute(sa.select(audit_log).where(audit_log.c.action == action).order_by(audit_log.c.id)))


def load_rows(flow: Flow) -> list[Any]:
    with flow.runtimes["intake"].db.reading() as s:
        return list(s.execute(sa.select(org_loads.c.id, org_loads.c.state, org_loads.c.steps)))


def outbox_rows(flow: Flow) -> int:
    with flow.runtimes["intake"].db.reading() as s:
        return s.execute(sa.select(sa.func.count()).select_from(outbox)).scalar_one()


# -- a good file ---------------------------------------------------------------------------------
def test_an_admin_loads_the_reform_everywhere_from_the_page(flow: Flow, org_document: dict) -> None:
    """R25, R23: checked everywhere, then loaded in the order of ``sovang org load``; each
    service's line names the admin and the file; the page says so and stops refreshing."""
    client, csrf = admin(flow, org_document)
    assert 'href="/admin/organisation/"' in client.get("/admin/").get_data(as_text=True)
    where = load_from_page(client, csrf, REFORM)

    waiting = client.get(where)
    assert waiting.status_code == 200 and '<meta http-equiv="refresh"' in waiting.get_data(as_text=True)
    assert f'<a href="{where}">Làm mới</a>' in waiting.get_data(as_text=True)
    lines = service_lines(waiting)
    assert lines["council"].startswith("Đang chờ") and lines["book"].startswith("Đang chờ")
    assert loaded_everywhere(flow) == {name: ("CAT", 1) for name in flow.runtimes}

    flow.pump()
    steps = [e["type"] for e in flow.delivered]
    assert sorted(steps[:2]) == ["book.check_organisation", "council.check_organisation"]
    loads = [t for t in steps if t.endswith(".load_organisation")]
    assert loads == ["council.load_organisation", "book.load_organisation"]
    # Book is asked only once council has the new organisation (council's answer comes between).
    assert steps.index("book.load_organisation") > steps.index("council.load_organisation") + 1
    assert loaded_everywhere(flow) == {name: ("CAT-LD", 2) for name in flow.runtimes}

    done = client.get(where)
    page = text(done)
    assert "Đã nạp vào mọi dịch vụ." in page and 'http-equiv="refresh"' not in done.get_data(as_text=True)
    assert service_lines(done) == {"council": "Đã nạp", "book": "Đã nạp", "intake": "Đã nạp"}
    assert FILE in page and "Công an tỉnh Lâm Đồng" in page
    listing = text(client.get("/admin/organisation/"))
    assert f"{FILE} {org_document['province']['secretary']}" in listing and "Đã nạp vào mọi dịch vụ" in listing

    # R23: who loaded which file (its digest), in intake's record and on each service's own line.
    digest = Organisation.digest(REFORM)
    load_id = where.rsplit("/", 1)[1]
    (asked,) = audit_of(flow, "intake", "org.load_requested")
    assert (asked.role, asked.subject, asked.object) == ("admin", org_document["province"]["secretary"], load_id)
    assert (asked.details["file"], asked.details["digest"]) == (FILE, digest)
    for name in flow.runtimes:
        line = audit_of(flow, name, "org.loaded")[-1]
        assert (line.role, line.subject, line.object) == ("admin", org_document["province"]["secretary"], digest)
        assert (line.details["load"], line.details["file"]) == (load_id, FILE)
    # Closing the books of units gone is the admin's doing too.
    assert {line.subject for line in audit_of(flow, "book", "book.closed")} == {org_document["province"]["secretary"]}


def test_copies_of_every_message_change_nothing(flow: Flow, org_document: dict) -> None:
    """Every message delivered again is absorbed; a step asked for twice (a copy under another
    id, past the inbox) answers again and intake takes its answer once."""
    client, csrf = admin(flow, org_document)
    where = load_from_page(client, csrf, REFORM)
    flow.pump()
    before, page, rows = counts(flow), text(client.get(where)), load_rows(flow)

    assert flow.redeliver_everything() == 0
    for env in [e for e in flow.delivered if e["type"] == "council.load_organisation"]:
        flow.deliver({**env, "id": new_id()})
    flow.pump()
    assert counts(flow) == before and load_rows(flow) == rows and text(client.get(where)) == page
    assert loaded_everywhere(flow) == {name: ("CAT-LD", 2) for name in flow.runtimes}


def test_a_file_already_loaded_changes_nothing(flow: Flow, org_document: dict) -> None:
    """As ``sovang org load`` promises: the organisation in use sent again changes nothing in any
    service; the page says each already had it."""
    client, csrf = admin(flow, org_document)
    load_from_page(client, csrf, REFORM)
    flow.pump()
    before = {name: len(audit_of(flow, name, "org.loaded")) for name in flow.runtimes}
    documents = {name: n for name, (n, _) in counts(flow).items()}

    where = load_from_page(client, csrf, REFORM)
    flow.pump()
    again = client.get(where)
    assert "Đã nạp vào mọi dịch vụ." in text(again)
    assert set(service_lines(again).values()) == {"Đã nạp (đã có tệp này, không thay đổi)"}
    assert {name: len(audit_of(flow, name, "org.loaded")) for name in flow.runtimes} == before
    assert {name: n for name, (n, _) in counts(flow).items()} == documents


def test_one_load_at_a_time_and_a_second_press_joins_the_first(flow: Flow, org_document: dict) -> None:
    """The same file sent again while it is being loaded leads to the same load (a double
    press adds nothing); another file waits for it to finish, said beside the field."""
    client, csrf = admin(flow, org_document)
    where = load_from_page(client, csrf, REFORM)
    messages = outbox_rows(flow)
    assert load_from_page(client, csrf, REFORM, "lai-lan-nua.json") == where
    other = send(client, csrf, json.dumps(org_document, ensure_ascii=False).encode("utf-8"), "dak-nong.json")
    assert other.status_code == 422
    field = re.search(r'<p class="field-error" id="file-loi">([^<]+)</p>', other.get_data(as_text=True))
    assert field and html.unescape(field.group(1)) == (
        f"Tệp {FILE} đang được nạp; hãy chờ lần nạp đó xong rồi gửi tệp này.")
    assert len(load_rows(flow)) == 1 and outbox_rows(flow) == messages

    flow.pump()
    assert "Đã nạp vào mọi dịch vụ." in text(client.get(where))
    # Once it is done, another file may go (here the old one, which book refuses: it would give
    # the closed books' codes back).
    back = load_from_page(client, csrf, org_document, "dak-nong.json")
    flow.pump()
    lines = service_lines(client.get(back))
    assert lines["book"].startswith("Từ chối khi kiểm tra") and "Mã CAH-DM là của sổ vàng đã khoá" in lines["book"]
    assert loaded_everywhere(flow) == {name: ("CAT-LD", 2) for name in flow.runtimes}


def test_a_load_stuck_for_long_says_where_to_look_and_no_longer_holds_others_back(
        flow: Flow, org_document: dict) -> None:
    """A load whose messages stopped moving (one parked, say) stops refreshing after
    ``BUSY_MINUTES``, points to the parked messages, and lets another file go."""
    client, csrf = admin(flow, org_document)
    where = load_from_page(client, csrf, REFORM)
    with flow.runtimes["intake"].db.unit_of_work() as uow:
        uow.session.execute(org_loads.update().values(
            requested_at=utcnow() - dt.timedelta(minutes=BUSY_MINUTES + 1)))
        uow.commit()
    stuck = client.get(where)
    assert 'http-equiv="refresh"' not in stuck.get_data(as_text=True)
    assert f"Lần nạp này chưa xong sau {BUSY_MINUTES} phút" in text(stuck)
    assert 'href="/admin/parked/council/"' in stuck.get_data(as_text=True)
    assert load_from_page(client, csrf, org_document, "dak-nong.json") != where
    assert len(load_rows(flow)) == 2


# -- refused ------------------------------------------------------------------------------------------
def test_a_file_council_refuses_writes_nothing_anywhere(flow: Flow, org_document: dict) -> None:
    """R25: a round of Đắk Mil is open and the reform abolishes Đắk Mil's council: council says so,
    nothing is loaded anywhere, no service is asked to load, and the reason is on the page."""
    put_to_round(flow, org_document, "CAH-DM", clock.today(), "Dập lửa cháy rẫy cà phê")
    client, csrf = admin(flow, org_document)
    before = counts(flow)
    where = load_from_page(client, csrf, REFORM)
    flow.pump()

    assert not [e for e in flow.delivered if e["type"].endswith(".load_organisation")]
    assert loaded_everywhere(flow) == {name: ("CAT", 1) for name in flow.runtimes}
    # Only intake's record of the request and of its refusal: nothing else changed anywhere.
    after = counts(flow)
    assert {n: after[n] for n in ("council", "book")} == {n: before[n] for n in ("council", "book")}
    assert after["intake"] == (before["intake"][0], before["intake"][1] + 2)
    assert [r.action for r in audit_of(flow, "intake", "org.load_refused")] == ["org.load_refused"]

    page = client.get(where)
    assert 'http-equiv="refresh"' not in page.get_data(as_text=True)
    lines = service_lines(page)
    assert "Tệp tổ chức bị từ chối, không dịch vụ nào thay đổi." in text(page)
    assert lines["council"].startswith("Từ chối khi kiểm tra")
    assert "Tệp tổ chức bỏ hội đồng HD-CAH-DM trong khi phiên tháng" in lines["council"]
    assert "đang mở: hãy đóng hoặc huỷ phiên trước khi nạp tổ chức mới." in lines["council"]
    assert lines["book"] == "Không nạp" and lines["intake"] == "Không nạp"
    assert "Bị từ chối" in text(client.get("/admin/organisation/"))


def test_a_round_opened_after_the_check_stops_the_load_and_loading_again_completes_it(
        flow: Flow, org_document: dict) -> None:
    """R25: council checks again when it loads. A round opened between the check and the load is
    a refusal then, with its reason; nothing was loaded (council goes first). Once the round is
    closed, the same file again loads everywhere."""
    client, csrf = admin(flow, org_document)
    where = load_from_page(client, csrf, REFORM)
    flow.pump(skip=("council.load_organisation",))
    assert "Đang chờ: đang nạp" in service_lines(client.get(where))["council"]
    _, rnd = put_to_round(flow, org_document, "CAH-DM", clock.today(), "Dập lửa cháy rẫy")
    flow.pump()

    stopped_page = client.get(where)
    assert "Dừng giữa chừng" in text(stopped_page) and "nạp lại chính tệp này" in text(stopped_page)
    lines = service_lines(stopped_page)
    assert lines["council"].startswith("Từ chối khi nạp") and "HD-CAH-DM" in lines["council"]
    assert lines["book"] == "Không nạp" and lines["intake"] == "Không nạp"
    assert loaded_everywhere(flow) == {name: ("CAT", 1) for name in flow.runtimes}
    (stopped,) = audit_of(flow, "intake", "org.load_stopped")
    assert (stopped.details["refused_by"], stopped.details["loaded"]) == ("council", [])

    vote(flow, rnd, unit_of(org_document, "CAH-DM")["council"]["members"])
    close(flow, org_document, "CAH-DM", rnd)
    flow.pump()
    again = load_from_page(client, csrf, REFORM)
    assert again != where
    flow.pump()
    assert "Đã nạp vào mọi dịch vụ." in text(client.get(again))
    assert loaded_everywhere(flow) == {name: ("CAT-LD", 2) for name in flow.runtimes}


def test_a_refusal_by_the_last_service_says_which_services_have_the_new_organisation(
        flow: Flow, org_document: dict) -> None:
    """R25, R5a: a deed introduced in Đắk Mil after intake's check makes intake, which loads last,
    refuse; council and book have loaded the reform by then, and the page says so, with intake's
    reason and what loading again will do."""
    client, csrf = admin(flow, org_document)
    where = load_from_page(client, csrf, REFORM)
    officer, lead = plain_officer(org_document, unit_of(org_document, "CAH-DM"))
    deed = flow.post("intake", "/api/v1/deeds", flow.token("officer", officer), deed_body(
        {"officer": officer}, title="Dập lửa cháy rẫy cà phê"), 201).get_json()
    flow.post("intake", f"/api/v1/deeds/{deed['id']}/introduce", flow.token("subunit_lead", lead), {}, 200)
    flow.pump()

    stopped_page = client.get(where)
    assert "Dừng giữa chừng" in text(stopped_page) and "Các dịch vụ trước nó đã có tổ chức mới" in text(stopped_page)
    lines = service_lines(stopped_page)
    assert (lines["council"], lines["book"]) == ("Đã nạp", "Đã nạp")
    assert lines["intake"] == ("Từ chối khi nạp Đơn vị CAH-DM còn 1 việc tốt đã giới thiệu đang chờ phiên tháng mà "
                               "tệp tổ chức bỏ đơn vị này: hãy mở và đóng phiên tháng của đơn vị trước khi nạp tổ "
                               "chức mới.")
    assert loaded_everywhere(flow) == {"council": ("CAT-LD", 2), "book": ("CAT-LD", 2), "intake": ("CAT", 1)}
    (stopped,) = audit_of(flow, "intake", "org.load_stopped")
    assert (stopped.details["refused_by"], stopped.details["loaded"]) == ("intake", ["council", "book"])
    # Copies of the answers change nothing: intake does not try again by itself.
    assert flow.redeliver_everything() == 0
    assert service_lines(client.get(where)) == lines


# -- the form --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("content", "error"), [
    (b"{ not json", "Tệp không phải JSON hợp lệ"),
    (b"[1, 2]", "Tệp không phải tệp tổ chức"),
    (json.dumps({"format": "something-else"}).encode(), "Tệp không theo định dạng sovang-org/1"),
    (b"\xff\xfe\x00", "Tệp không phải văn bản UTF-8"),
    (b"", "Hãy chọn tệp tổ chức"),
])
def test_a_bad_file_is_refused_beside_its_field(flow: Flow, org_document: dict, content: bytes, error: str) -> None:
    client, csrf = admin(flow, org_document)
    messages = outbox_rows(flow)
    r = send(client, csrf, content, "" if not content else "to-chuc.json")
    assert r.status_code == 422
    body = r.get_data(as_text=True)
    field = re.search(r'<p class="field-error" id="file-loi">([^<]+)</p>', body)
    assert field and html.unescape(field.group(1)).startswith(error), body
    assert 'aria-describedby="file-hint file-loi"' in body and '<label for="file">' in body
    assert load_rows(flow) == [] and outbox_rows(flow) == messages


def test_a_file_missing_its_units_is_refused_with_the_field_named(flow: Flow, org_document: dict) -> None:
    client, csrf = admin(flow, org_document)
    broken = {k: v for k, v in REFORM.items() if k != "units"}
    r = send(client, csrf, json.dumps(broken).encode())
    assert r.status_code == 422 and "thiếu trường &#39;units&#39;" in r.get_data(as_text=True)
    assert load_rows(flow) == []


def test_only_an_admin_loads_an_organisation(flow: Flow, org_document: dict) -> None:
    """UI.md: loading a new organisation is the admin's (R24); anyone else gets 403, nothing written."""
    officer = next(o["code"] for o in org_document["officers"] if o["code"] != org_document["province"]["secretary"])
    client = sign_in(flow, officer)
    assert client.get("/admin/organisation/").status_code == 403
    csrf = csrf_of(client.get("/deeds/new").get_data(as_text=True))
    r = send(client, csrf, json.dumps(REFORM).encode())
    assert r.status_code == 403
    assert load_rows(flow) == [] and loaded_everywhere(flow) == {name: ("CAT", 1) for name in flow.runtimes}
    anonymous = flow.clients["intake"]
    anonymous.post("/session/sign-out", data={"csrf_token": csrf})
    assert anonymous.get("/admin/organisation/").status_code == 303  # to the sign-in page


def test_the_form_needs_its_csrf_token(flow: Flow, org_document: dict) -> None:
    client, csrf = admin(flow, org_document)
    messages = outbox_rows(flow)
    for token in (None, "not-" + csrf):
        r = send(client, token, json.dumps(REFORM).encode())
        assert r.status_code == 403 and "CSRF" in r.get_data(as_text=True)
    assert load_rows(flow) == [] and outbox_rows(flow) == messages
    assert loaded_everywhere(flow) == {name: ("CAT", 1) for name in flow.runtimes}
