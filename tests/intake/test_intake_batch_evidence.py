"""``POST /api/v1/deeds/batch`` (all or nothing, errors by index) and evidence files (size,
type from content, stored by hash, served only to those who may read the deed)."""

from __future__ import annotations

import datetime as dt
import hashlib

import sqlalchemy as sa

from services.intake import services
from services.intake.orm import Deed, DeedEvidence, EvidenceFile
from shared.messages import CloseIntroductions, DeedFateDecided
from shared.tables import outbox
from tests.intake.conftest import auth, deed_body, multipart, today

BATCH = "/api/v1/deeds/batch"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
PDF = b"%PDF-1.4\n" + b"1 0 obj << >> endobj\n" * 10


def counts(runtime) -> tuple[int, int, int]:
    with runtime.db.reading() as s:
        return (
            s.scalar(sa.select(sa.func.count()).select_from(Deed)),
            s.scalar(sa.select(sa.func.count()).select_from(outbox)),
            s.scalar(sa.select(sa.func.count()).select_from(EvidenceFile)),
        )


# -- batch ---------------------------------------------------------------------------------------
def test_a_lead_records_a_batch(client, token, people, runtime) -> None:
    deeds = [deed_body({"officer": people.officer}, title=f"Việc {i}") for i in range(3)]
    deeds.append(deed_body({"collective": people.subunit}, title="Việc của cả đội"))
    r = client.post(BATCH, json={"deeds": deeds}, headers=auth(token("subunit_lead", people.lead)))
    assert r.status_code == 201, r.get_data(as_text=True)
    items = r.get_json()["items"]
    assert [d["title"] for d in items] == ["Việc 0", "Việc 1", "Việc 2", "Việc của cả đội"]
    assert all(d["status"] == "recorded" and d["unit"] == people.unit for d in items)
    # R10: council hears of the batch once for its unit and month, every deed named.
    assert counts(runtime)[:2] == (4, 1)
    with runtime.db.reading() as s:
        (env,) = s.execute(sa.select(outbox.c.envelope)).scalars()
    assert env["type"] == "council.deeds_recorded"
    assert env["payload"] == {"unit": people.unit, "month": items[0]["month"], "deed_ids": [d["id"] for d in items]}


def test_a_batch_is_all_or_nothing_with_errors_by_index(client, token, people, runtime) -> None:
    tok = token("unit_secretary", people.secretary)
    good = deed_body({"officer": people.officer})
    future = (today() + dt.timedelta(days=2)).isoformat()
    r = client.post(BATCH, json={"deeds": [good, {**good, "kind": "x"}, good, {**good, "occurred_on": future},
                                           {**good, "status": "inscribed"}]}, headers=auth(tok))
    assert r.status_code == 422 and r.mimetype == "application/problem+json"
    errors = r.get_json()["errors"]
    # Keyed by index (API.md), each a flat list of Vietnamese messages naming the deed's field.
    assert set(errors) == {"1", "4"}
    assert errors["1"] == ["kind: Phải là một trong: good_deed, achievement, feat, exemplar."]
    assert errors["4"] == ["status: Trường không được phép."]
    # Field-valid deeds are then checked against the organisation and R3, still by index.
    r = client.post(BATCH, json={"deeds": [good, {**good, "occurred_on": future},
                                           {**good, "author": {"officer": "KHONG-CO"}}]}, headers=auth(tok))
    assert r.status_code == 422
    errors = r.get_json()["errors"]
    assert set(errors) == {"1", "2"} and all(isinstance(m, str) for ms in errors.values() for m in ms)
    assert errors["1"][0].startswith("occurred_on: ") and errors["2"][0].startswith("author: ")
    # One deed out of the actor's scope refuses the whole batch.
    lead = token("subunit_lead", people.lead)
    r = client.post(BATCH, json={"deeds": [good, deed_body({"officer": people.other_officer})]}, headers=auth(lead))
    assert r.status_code == 403 and set(r.get_json()["errors"]) == {"1"}
    assert counts(runtime) == (0, 0, 0)


def test_batch_bounds_and_roles(client, token, people, runtime) -> None:
    tok = token("unit_secretary", people.secretary)
    one = deed_body({"officer": people.officer}, description="x", place=..., beneficiaries=...)
    r = client.post(BATCH, json={"deeds": [one] * 1001}, headers=auth(tok))
    assert r.status_code == 422 and "deeds" in r.get_json()["errors"]
    for bad in ({"deeds": []}, {"deeds": "x"}, {"deeds": [1]}, {}, {"deeds": [one], "x": 1}):
        r = client.post(BATCH, json=bad, headers=auth(tok))
        assert r.status_code == 422, bad
    r = client.post(BATCH, json={"deeds": [one]}, headers=auth(token("officer", people.officer)))
    assert r.status_code == 403
    assert counts(runtime) == (0, 0, 0)
    r = client.post(BATCH, json={"deeds": [one] * 1000}, headers=auth(tok))
    assert r.status_code == 201 and len(r.get_json()["items"]) == 1000
    assert counts(runtime)[0] == 1000


# -- evidence ------------------------------------------------------------------------------------
def upload(client, tok: str, deed_id: str, content: bytes, name: str = "anh.png", **extra: str):
    return client.post(f"/api/v1/deeds/{deed_id}/evidence", headers=auth(tok),
                       **multipart({"file": (content, name), **extra}))


def test_evidence_is_kept_by_its_hash_and_served_to_readers(client, token, people, record, runtime) -> None:
    deed = record()
    own = token("officer", people.officer)
    r = upload(client, own, deed["id"], PNG, name="../../etc/passwd.exe")
    assert r.status_code == 201, r.get_data(as_text=True)
    sha = hashlib.sha256(PNG).hexdigest()
    assert r.get_json() == {"sha256": sha, "size": len(PNG), "content_type": "image/png"}
    again = upload(client, token("subunit_lead", people.lead), deed["id"], PNG, name="khac.png")
    assert again.status_code == 201 and again.get_json()["sha256"] == sha
    assert upload(client, own, deed["id"], PDF, name="bien-ban.pdf").get_json()["content_type"] == "application/pdf"
    got = client.get(f"/api/v1/deeds/{deed['id']}", headers=auth(own)).get_json()
    assert [e["sha256"] for e in got["evidence"]] == [sha, hashlib.sha256(PDF).hexdigest()]

    path = f"/api/v1/deeds/{deed['id']}/evidence/{sha}"
    r = client.get(path, headers=auth(token("officer", people.colleague)))
    assert r.status_code == 200 and r.data == PNG and r.mimetype == "image/png"
    assert r.headers["Content-Disposition"] == f'attachment; filename="{sha}.png"'
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "passwd" not in str(r.headers)
    assert client.get(path, headers=auth(token("officer", people.stranger))).status_code == 404
    assert client.get(path, headers=auth(token("press", people.press))).status_code == 403
    assert client.get(f"/api/v1/deeds/{deed['id']}/evidence/{'0' * 64}", headers=auth(own)).status_code == 404
    # A file is kept once however many deeds hold it.
    other = record(title="Việc khác")
    assert upload(client, own, other["id"], PNG).status_code == 201
    with runtime.db.reading() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(EvidenceFile)) == 2
        assert s.scalar(sa.select(sa.func.count()).select_from(DeedEvidence)) == 3


def test_evidence_refusals(client, token, people, record, runtime) -> None:
    deed = record()
    own = token("officer", people.officer)
    r = upload(client, own, deed["id"], b"MZ\x90\x00" + b"\x00" * 100, name="anh.png")
    assert r.status_code == 415 and "file" in r.get_json()["errors"]
    assert upload(client, own, deed["id"], b"", name="rong.png").status_code == 422
    assert upload(client, own, deed["id"], PNG, note="x").status_code == 422
    r = client.post(f"/api/v1/deeds/{deed['id']}/evidence", headers=auth(own), **multipart({"other": (PNG, "a.png")}))
    assert r.status_code == 422 and r.mimetype == "application/problem+json"
    r = client.post(f"/api/v1/deeds/{deed['id']}/evidence", json={"file": "x"}, headers=auth(own))
    assert r.status_code == 415
    assert upload(client, token("officer", people.colleague), deed["id"], PNG).status_code == 403
    assert upload(client, token("officer", people.stranger), deed["id"], PNG).status_code == 404
    assert upload(client, token("council_member", people.member), deed["id"], PNG).status_code == 403
    limit = runtime.settings.max_evidence_bytes
    r = upload(client, own, deed["id"], PNG + b"\x00" * (limit - len(PNG) + 1))
    assert r.status_code == 413 and r.mimetype == "application/problem+json"
    assert counts(runtime)[2] == 0
    r = upload(client, own, deed["id"], PNG + b"\x00" * (limit - len(PNG)))  # exactly the limit
    assert r.status_code == 201 and r.get_json()["size"] == limit


def test_evidence_is_frozen_with_the_round_and_shown_to_candidate_councils(client, token, people, record, runtime) -> None:
    deed = record()
    own = token("officer", people.officer)
    sha = upload(client, own, deed["id"], PNG).get_json()["sha256"]
    client.post(f"/api/v1/deeds/{deed['id']}/introduce", json={}, headers=auth(token("subunit_lead", people.lead)))
    with runtime.db.unit_of_work() as uow:
        services.close_introductions(uow, CloseIntroductions(round_id="R", council=people.council, unit=people.unit,
                                                             month=deed["month"]))
        uow.commit()
    assert upload(client, own, deed["id"], PDF).status_code == 409
    path = f"/api/v1/deeds/{deed['id']}/evidence/{sha}"
    provincial = token("council_member", people.province_officer)
    assert client.get(path, headers=auth(provincial)).status_code == 404  # not its candidate yet
    for status in ("recognised", "proposed"):
        with runtime.db.unit_of_work() as uow:
            services.deed_fate(uow, DeedFateDecided(deed_id=deed["id"], status=status, round_id="R"))
            uow.commit()
    assert client.get(path, headers=auth(provincial)).status_code == 200
