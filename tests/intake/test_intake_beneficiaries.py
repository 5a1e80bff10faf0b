"""R2a: a deed's beneficiaries (citizens' names) reach its author, the lead who introduces it (the
lead of its sub-unit) and its unit's secretary — nobody else: not the other officers of the unit,
the other leads, the council members, the province secretary; not through a deed, a list, a
search, a batch's answer, an Idempotency-Key replay, a message to council or a log line. On the
embedded default and on PostgreSQL."""

from __future__ import annotations

import json
import logging

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from services.intake import DECLARATION, services
from services.intake.app import build_runtime, create_app
from shared import clock
from shared.db import utcnow
from shared.messages import CloseIntroductions, envelope
from shared.outbox import consume
from shared.tables import outbox
from tests.intake.conftest import auth, deed_body

NAMES = "Cụ bà Nguyễn Thị H'Lan và cháu Y Kông"
DEEDS = "/api/v1/deeds"


@pytest.fixture(params=["sqlite", "postgresql"])
def runtime(request, org_document):
    settings = request.getfixturevalue("sqlite_settings" if request.param == "sqlite" else "pg_settings")
    rt = build_runtime(settings)
    rt.migrate()
    DECLARATION.load_org(rt, org_document)
    yield rt
    rt.db.dispose()


def readers(people) -> dict[str, tuple[tuple[str, str], bool]]:
    """Every reader of a deed by ``people.officer`` in its unit: (role, subject), sees them."""
    return {
        "author": (("officer", people.officer), True),
        "lead of its sub-unit": (("subunit_lead", people.lead), True),
        "unit secretary": (("unit_secretary", people.secretary), True),
        "officer of the same sub-unit": (("officer", people.colleague), False),
        "officer of another sub-unit": (("officer", people.other_officer), False),
        "lead of another sub-unit": (("subunit_lead", people.other_lead), False),
        "council member": (("council_member", people.member), False),
        "council member under the unit": (("council_member", people.direct), False),
        "council member as officer": (("officer", people.direct), False),
        "province secretary": (("province_secretary", people.province_secretary), False),
    }


def _recorded(client: FlaskClient, token, people) -> dict:
    body = deed_body({"officer": people.officer}, title="Giúp dân sửa nhà sau lũ",
                     description="Đồng chí cùng dân dựng lại mái nhà bị lũ cuốn.", beneficiaries=NAMES)
    r = client.post(DEEDS, json=body, headers=auth(token("officer", people.officer)))
    assert r.status_code == 201 and r.get_json()["beneficiaries"] == NAMES
    return r.get_json()


def _shows(response) -> bool:
    text = response.get_data(as_text=True)
    body = response.get_json()
    items = body["items"] if isinstance(body, dict) and "items" in body else [body]
    shown = any("beneficiaries" in item for item in items)
    assert shown == ("Nguyễn Thị H" in text or "Nguy\\u1ec5n" in text)  # present as a field, or not at all
    return shown


def test_each_reader_sees_them_or_not(client, token, people):
    deed = _recorded(client, token, people)
    wrong = []
    for who, ((role, subject), sees) in readers(people).items():
        headers = auth(token(role, subject))
        one = client.get(f"{DEEDS}/{deed['id']}", headers=headers)
        listed = client.get(DEEDS, query_string={"month": deed["month"]}, headers=headers)
        found = client.get(DEEDS, query_string={"q": "mái nhà", "unit": people.unit}, headers=headers)
        assert one.status_code == listed.status_code == found.status_code == 200, (who, one.status_code)
        assert [d["id"] for d in found.get_json()["items"]] == [deed["id"]], who
        got = (_shows(one), _shows(listed), _shows(found))
        if got != (sees, sees, sees):
            wrong.append((who, got))
    assert not wrong, wrong


def test_a_search_never_matches_on_them(client, token, people):
    _recorded(client, token, people)
    for who, ((role, subject), _sees) in readers(people).items():
        r = client.get(DEEDS, query_string={"q": "Kông", "unit": people.unit}, headers=auth(token(role, subject)))
        assert r.status_code == 200 and r.get_json()["items"] == [], who


def test_introducing_and_batches_answer_them_only_to_those_who_may(client, token, people):
    deed = _recorded(client, token, people)
    r = client.post(f"{DEEDS}/{deed['id']}/introduce", headers=auth(token("subunit_lead", people.lead)))
    assert r.status_code == 200 and r.get_json()["beneficiaries"] == NAMES
    # A batch of the unit secretary covers deeds of every sub-unit: they see them all.
    batch = [deed_body({"officer": o}, beneficiaries=NAMES) for o in (people.officer, people.other_officer)]
    r = client.post(f"{DEEDS}/batch", json={"deeds": batch}, headers=auth(token("unit_secretary", people.secretary)))
    assert r.status_code == 201 and [d["beneficiaries"] for d in r.get_json()["items"]] == [NAMES, NAMES]
    r = client.post(f"{DEEDS}/batch", json={"deeds": batch[:1]}, headers=auth(token("subunit_lead", people.lead)))
    assert r.status_code == 201 and r.get_json()["items"][0]["beneficiaries"] == NAMES


def test_a_kept_answer_is_replayed_to_its_own_subject_only(client, token, people):
    body = deed_body({"officer": people.officer}, beneficiaries=NAMES)
    key = {"Idempotency-Key": "ghi-viec-tot-1"}
    first = client.post(DEEDS, json=body, headers=auth(token("officer", people.officer), **key))
    assert first.status_code == 201
    again = client.post(DEEDS, json=body, headers=auth(token("officer", people.officer), **key))
    assert again.data == first.data
    for role, subject in (("officer", people.colleague), ("council_member", people.member),
                          ("subunit_lead", people.other_lead)):
        other = client.post(DEEDS, json=body, headers=auth(token(role, subject), **key))
        assert other.status_code == 403 and NAMES not in other.get_data(as_text=True), (role, subject)


def test_the_copy_council_receives_never_carries_them(runtime, client, token, people):
    deed = _recorded(client, token, people)
    assert client.post(f"{DEEDS}/{deed['id']}/introduce",
                       headers=auth(token("subunit_lead", people.lead))).status_code == 200
    msg = CloseIntroductions(round_id="R-1", council=people.council, unit=people.unit, month=deed["month"])
    assert consume(runtime.db, envelope(msg, clock.isoformat(utcnow())), services.close_introductions)
    with runtime.db.reading() as s:
        sent = [r.envelope for r in s.execute(sa.select(outbox.c.envelope))]
    assert any(deed["id"] in json.dumps(env) for env in sent)
    assert not any("H'Lan" in json.dumps(env, ensure_ascii=False) or "beneficiaries" in json.dumps(env)
                   for env in sent)


def test_a_failed_statement_logs_no_beneficiaries(runtime, client, token, people, caplog):
    """A database error while recording is a 5xx whose log line names the statement, not its
    values (SQLAlchemy's ``hide_parameters``)."""
    with runtime.db.unit_of_work() as uow:
        if uow.session.get_bind().dialect.name == "sqlite":
            uow.session.execute(sa.text(
                "CREATE TRIGGER refuse BEFORE INSERT ON deeds BEGIN SELECT RAISE(ABORT, 'refused'); END"))
        else:
            uow.session.execute(sa.text(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'refused'; END $$"))
            uow.session.execute(sa.text(
                "CREATE TRIGGER refuse BEFORE INSERT ON deeds FOR EACH ROW EXECUTE FUNCTION refuse()"))
        uow.commit()
    caplog.set_level(logging.DEBUG)
    body = deed_body({"officer": people.officer}, beneficiaries=NAMES)
    r = client.post(DEEDS, json=body, headers=auth(token("officer", people.officer)))
    assert r.status_code >= 500
    assert "refused" in caplog.text and "INSERT INTO deeds" in caplog.text
    assert "H'Lan" not in caplog.text and "H\\'Lan" not in caplog.text


@pytest.fixture
def app(runtime):
    app = create_app(runtime=runtime)
    app.config["TESTING"] = True
    runtime.db.after_commit.clear()
    return app
