"""R24 across the services: a program token an admin revokes on ``/admin/`` stops working at intake
at once and at council and book when intake's messages are delivered; each service records the
revocation with the admin as its actor (R23); a message delivered again, or a copy of it, changes
nothing."""

from __future__ import annotations

import re

import sqlalchemy as sa

from services.intake import people
from shared.audit import audit_log
from shared.ids import new_id
from shared.signing import sign
from tests.flow.flow_harness import Flow
from tests.intake.conftest import people_of

PASSWORD = "mật-khẩu-đủ-dài-1"


def works(flow: Flow, service: str, headers: dict[str, str]) -> bool:
    resp = flow.clients[service].get(f"/api/v1/audit/{service}", headers=headers)
    assert resp.status_code in (200, 401), resp.get_data(as_text=True)
    return resp.status_code == 200


def revocations(flow: Flow, service: str) -> list[dict]:
    with flow.runtimes[service].db.reading() as s:
        query = sa.select(audit_log).where(audit_log.c.action == "token.revoked")
        return [dict(r) for r in s.execute(query).mappings()]


def test_a_token_revoked_on_the_admin_page_stops_everywhere_once_delivered(flow: Flow, org_document) -> None:
    p = people_of(org_document)
    admin = p.province_secretary  # the admin while SOVANG_ADMINS is unset
    program = flow.token("unit_secretary", p.secretary)  # a unit's own system
    kept = flow.token("province_secretary", p.province_secretary)
    flow.runtimes["intake"].run(people.set_password, "test", admin, PASSWORD)
    browser = flow.clients["intake"]
    assert browser.post("/", data={"subject": admin, "password": PASSWORD, "next": ""}).status_code == 303
    html = browser.get("/admin/").get_data(as_text=True)
    handles = re.findall(r'name="token" value="([0-9a-f]{12})"', html)
    assert len(handles) == 2
    mine = next(h for h in handles if f'aria-label="Thu hồi mã {h} của {p.secretary}"' in html)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    assert browser.post("/admin/tokens/", data={"csrf_token": csrf, "token": mine}).status_code == 303

    assert not works(flow, "intake", program)
    assert works(flow, "council", program) and works(flow, "book", program)  # not delivered yet
    assert flow.pump() == 2
    for service in ("intake", "council", "book"):
        assert not works(flow, service, program), service
        assert works(flow, service, kept), service
        [line] = revocations(flow, service)
        assert (line["role"], line["subject"], line["object"]) == ("admin", admin, f"unit_secretary:{p.secretary}")
        assert line["details"]["tokens"] == 1 and line["unit"] == p.unit

    # Delivered again (the inbox), or as a copy under a new id (a replay): nothing changes.
    assert flow.redeliver_everything() == 0
    for env in list(flow.delivered):
        copy = sign({k: v for k, v in env.items() if k != "sig"} | {"id": new_id()}, flow.keys)
        flow.deliver(copy)
    for service in ("council", "book"):
        assert len(revocations(flow, service)) == 1, service
        assert not works(flow, service, program) and works(flow, service, kept)


def test_every_token_of_a_subject_revoked_on_the_page_stops_everywhere(flow: Flow, org_document) -> None:
    p = people_of(org_document)
    admin = p.province_secretary
    first, second = flow.token("unit_secretary", p.secretary), flow.token("officer", p.secretary)
    flow.runtimes["intake"].run(people.set_password, "test", admin, PASSWORD)
    browser = flow.clients["intake"]
    browser.post("/", data={"subject": admin, "password": PASSWORD, "next": ""})
    html = browser.get("/admin/").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    assert browser.post("/admin/tokens/", data={"csrf_token": csrf, "subject": p.secretary}).status_code == 303
    flow.pump()
    for service in ("intake", "council", "book"):
        assert not works(flow, service, first) and not works(flow, service, second), service
        [line] = revocations(flow, service)
        assert line["object"] == f"*:{p.secretary}" and line["details"]["tokens"] == 2
