"""intake through its HTTP contract (API.md, intake), with real tokens on a real database."""

from __future__ import annotations

import datetime as dt
import re

import sqlalchemy as sa

from services.intake.orm import Deed
from shared.auth import revoke_token
from shared.tables import outbox
from tests.intake.conftest import auth, deed_body, today

DEEDS = "/api/v1/deeds"


def messages(runtime, type_: str) -> list[dict]:
    with runtime.db.reading() as s:
        rows = s.execute(sa.select(outbox.c.envelope).where(outbox.c.type == type_).order_by(outbox.c.id)).all()
    return [r.envelope["payload"] for r in rows]


def count_deeds(runtime) -> int:
    with runtime.db.reading() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(Deed))


def problem(r, status: int) -> dict:
    assert r.status_code == status, (r.status_code, r.get_data(as_text=True))
    assert r.mimetype == "application/problem+json", r.mimetype
    body = r.get_json()
    assert body["status"] == status and body["title"] and body["detail"] and "type" in body
    return body


# -- recording -----------------------------------------------------------------------------------
def test_an_officer_records_a_deed(client, token, people, runtime) -> None:
    body = deed_body({"officer": people.officer})
    r = client.post(DEEDS, json=body, headers=auth(token("officer", people.officer)))
    assert r.status_code == 201, r.get_data(as_text=True)
    deed = r.get_json()
    for field in ("occurred_on", "kind", "relation", "title", "description", "place", "beneficiaries"):
        assert deed[field] == body[field]
    assert deed["author"]["officer"] == people.officer and deed["author"]["name"]
    assert deed["unit"] == people.unit and deed["subunit"] == people.subunit
    assert deed["month"] == today().strftime("%Y-%m")
    assert deed["status"] == "recorded" and deed["book_entries"] == [] and deed["evidence"] == []
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+07:00", deed["created_at"]), deed["created_at"]
    created = dt.datetime.fromisoformat(deed["created_at"])
    assert abs((dt.datetime.now(dt.UTC) - created).total_seconds()) < 60
    # R10: council counts it; a single deed is told with the batch's message, one id long.
    assert messages(runtime, "council.deeds_recorded") == [
        {"unit": people.unit, "month": deed["month"], "deed_ids": [deed["id"]]}
    ]
    again = client.get(f"{DEEDS}/{deed['id']}", headers=auth(token("officer", people.officer)))
    assert again.status_code == 200 and again.get_json() == deed


def test_optional_fields_may_be_left_out(client, token, people) -> None:
    body = deed_body({"officer": people.officer}, place=..., beneficiaries=...)
    r = client.post(DEEDS, json=body, headers=auth(token("officer", people.officer)))
    assert r.status_code == 201
    assert r.get_json()["place"] is None and r.get_json()["beneficiaries"] is None


def test_collective_and_unit_level_deeds_take_their_unit_from_the_author(record, people) -> None:
    sub = record({"collective": people.subunit}, role="subunit_lead", subject=people.lead)
    assert (sub["unit"], sub["subunit"], sub["author"]) == (
        people.unit, people.subunit, {"collective": people.subunit, "name": sub["author"]["name"]})
    whole = record({"collective": people.unit}, role="unit_secretary", subject=people.secretary)
    assert (whole["unit"], whole["subunit"]) == (people.unit, None)
    direct = record({"officer": people.direct}, role="unit_secretary", subject=people.secretary)
    assert (direct["unit"], direct["subunit"]) == (people.unit, None)


def test_text_is_stored_in_nfc(client, token, people, runtime) -> None:
    nfd_title = "Vie\u0302\u0323c to\u0302\u0301t o\u031b\u0309 Đa\u0306\u0301k Mil"
    r = client.post(DEEDS, json=deed_body({"officer": people.officer}, title=nfd_title),
                    headers=auth(token("officer", people.officer)))
    assert r.status_code == 201
    assert r.get_json()["title"] == "Việc tốt ở Đắk Mil"
    with runtime.db.reading() as s:
        assert s.scalar(sa.select(Deed.title)) == "Việc tốt ở Đắk Mil"


def test_client_cannot_set_what_intake_decides(client, token, people, runtime) -> None:
    for field, value in (("status", "recognised"), ("unit", "CAH-CJ"), ("id", "x"), ("created_at", "2024-01-01"),
                         ("subunit", "X"), ("month", "2024-01"), ("book_entries", [])):
        r = client.post(DEEDS, json=deed_body({"officer": people.officer}, **{field: value}),
                        headers=auth(token("officer", people.officer)))
        body = problem(r, 422)
        assert field in body["errors"], body
    assert count_deeds(runtime) == 0


def test_r3_dates_are_refused_naming_occurred_on(client, token, people, runtime) -> None:
    t = today()
    ended = t.replace(day=1) - dt.timedelta(days=1)  # last day of the previous month
    late = (ended.replace(day=1) - dt.timedelta(days=1))  # two months back: always too late
    tok = token("officer", people.officer)
    for day in (t + dt.timedelta(days=1), dt.date(2021, 8, 31), late):
        r = client.post(DEEDS, json=deed_body({"officer": people.officer}, occurred_on=day.isoformat()),
                        headers=auth(tok))
        body = problem(r, 422)
        assert list(body["errors"]) == ["occurred_on"], body
    for bad in ("2024-13-01", "2024-02-30", "20240101", "2024-1-1", 20240101, None):
        r = client.post(DEEDS, json=deed_body({"officer": people.officer}, occurred_on=bad), headers=auth(tok))
        assert "occurred_on" in problem(r, 422)["errors"]
    assert count_deeds(runtime) == 0


def test_r3_late_days_is_the_setting(client, token, people, runtime) -> None:
    t = today()
    prev_month_end = t.replace(day=1) - dt.timedelta(days=1)
    days_after = (t - prev_month_end).days
    ok = runtime.settings.late_days >= days_after
    r = client.post(DEEDS, json=deed_body({"officer": people.officer}, occurred_on=prev_month_end.isoformat()),
                    headers=auth(token("officer", people.officer)))
    assert r.status_code == (201 if ok else 422)


def test_authors_must_exist_and_be_within_scope(client, token, people, runtime) -> None:
    tok = token("officer", people.officer)
    r = client.post(DEEDS, json=deed_body({"officer": "KHONG-CO"}), headers=auth(tok))
    assert "author" in problem(r, 422)["errors"]
    r = client.post(DEEDS, json=deed_body({"officer": people.colleague}), headers=auth(tok))
    problem(r, 403)
    r = client.post(DEEDS, json=deed_body({"officer": people.officer, "collective": people.subunit}),
                    headers=auth(tok))
    assert "author" in problem(r, 422)["errors"]
    r = client.post(DEEDS, json=deed_body({}), headers=auth(tok))
    assert "author" in problem(r, 422)["errors"]
    lead = token("subunit_lead", people.lead)
    r = client.post(DEEDS, json=deed_body({"officer": people.other_officer}), headers=auth(lead))
    problem(r, 403)
    r = client.post(DEEDS, json=deed_body({"officer": people.officer}),
                    headers=auth(token("province_secretary", people.province_secretary)))
    problem(r, 403)
    assert count_deeds(runtime) == 0


def test_tokens_are_required_and_revocable(client, token, people, runtime) -> None:
    problem(client.get(DEEDS), 401)
    problem(client.get(DEEDS, headers={"Authorization": "Bearer sv_nope"}), 401)
    tok = token("officer", people.officer)
    assert client.get(DEEDS, headers=auth(tok)).status_code == 200
    with runtime.db.unit_of_work() as uow:
        assert revoke_token(uow, tok)
        uow.commit()
    problem(client.get(DEEDS, headers=auth(tok)), 401)


# -- reading -------------------------------------------------------------------------------------
def test_who_reads_a_deed(client, token, people, record) -> None:
    deed = record()
    path = f"{DEEDS}/{deed['id']}"
    for role, subject in (("officer", people.colleague), ("officer", people.direct),
                          ("council_member", people.member), ("subunit_lead", people.other_lead),
                          ("unit_secretary", people.secretary), ("province_secretary", people.province_secretary)):
        r = client.get(path, headers=auth(token(role, subject)))
        assert r.status_code == 200, (role, subject)
        # R2a: of these readers, only the unit secretary sees the beneficiaries.
        assert r.get_json().get("beneficiaries") == (deed["beneficiaries"] if role == "unit_secretary" else None)
    for role, subject in (("officer", people.stranger), ("unit_secretary", people.stranger_secretary),
                          ("council_member", people.province_officer)):
        problem(client.get(path, headers=auth(token(role, subject))), 404)
    for role, subject in (("press", people.press), ("admin", "root")):
        problem(client.get(path, headers=auth(token(role, subject))), 403)
    problem(client.get(f"{DEEDS}/00000000-0000-7000-8000-000000000000",
                       headers=auth(token("officer", people.officer))), 404)
    problem(client.get(f"{DEEDS}/{'x' * 300}", headers=auth(token("officer", people.officer))), 404)


def test_list_filters_and_scope(client, token, people, record) -> None:
    a = record(title="Cứu người đuối nước ở hồ Tây", description="Việc tốt vì Nhân dân.")
    b = record(title="Trả lại ví cho người đánh rơi", description="Ví có 5 triệu đồng và giấy tờ.")
    c = record({"officer": people.stranger}, title="Việc tốt ở Cư Jút", description="Giúp dân.")
    tok = token("officer", people.colleague)

    def ids(query: str, tok: str = tok) -> list[str]:
        r = client.get(f"{DEEDS}?{query}", headers=auth(tok))
        assert r.status_code == 200, r.get_data(as_text=True)
        return [d["id"] for d in r.get_json()["items"]]

    assert ids("") == [a["id"], b["id"]]
    assert ids(f"unit={people.unit}") == [a["id"], b["id"]]
    assert ids(f"month={today():%Y-%m}&status=recorded") == [a["id"], b["id"]]
    assert ids("status=introduced") == []
    assert ids("month=2022-01") == []
    assert ids("q=viec tot") == [a["id"]]
    assert ids("q=VIỆC tốt") == [a["id"]]
    assert ids("q=nguoi") == [a["id"], b["id"]]
    assert ids("q=người đánh rơi") == [b["id"]]
    assert ids("q=trieu dong vi") == [b["id"]]
    assert ids("q=ho tay doi") == []
    assert ids("q=100%") == []
    prov = token("province_secretary", people.province_secretary)
    assert ids("", prov) == [a["id"], b["id"], c["id"]]
    assert ids(f"unit={people.other_unit}", prov) == [c["id"]]
    problem(client.get(f"{DEEDS}?unit={people.other_unit}", headers=auth(tok)), 403)
    problem(client.get(DEEDS, headers=auth(token("press", people.press))), 403)
    for bad in ("status=approved", "month=2024-13", "limit=0", "limit=501", "limit=x", "cursor=@@@",
                # a cursor names a deed by its id (what `next` gave): any other text is no place in the list
                "cursor=abc", "cursor=12", "cursor=" + "0" * 36, "unit=NOPE&x=1"):
        problem(client.get(f"{DEEDS}?{bad}", headers=auth(prov)), 422)


def test_cursor_pages(client, token, people, record) -> None:
    made = [record(title=f"Việc tốt số {i}")["id"] for i in range(5)]
    tok = token("unit_secretary", people.secretary)
    seen, cursor = [], None
    while True:
        r = client.get(DEEDS, query_string={"limit": 2, **({"cursor": cursor} if cursor else {})}, headers=auth(tok))
        body = r.get_json()
        assert len(body["items"]) <= 2
        seen += [d["id"] for d in body["items"]]
        cursor = body["next"]
        if cursor is None:
            break
    assert seen == made


# -- introducing ---------------------------------------------------------------------------------
def test_introduce_then_month_closed(client, token, people, record, runtime) -> None:
    from services.intake import services
    from shared.messages import CloseIntroductions

    deed = record()
    path = f"{DEEDS}/{deed['id']}/introduce"
    problem(client.post(path, json={}, headers=auth(token("officer", people.officer))), 403)
    problem(client.post(path, json={}, headers=auth(token("subunit_lead", people.other_lead))), 403)
    problem(client.post(path, json={}, headers=auth(token("unit_secretary", people.stranger_secretary))), 404)
    problem(client.post(path, json={"note": "x"}, headers=auth(token("subunit_lead", people.lead))), 422)
    r = client.post(path, json={}, headers=auth(token("subunit_lead", people.lead)))
    assert r.status_code == 200 and r.get_json()["status"] == "introduced"
    r = client.post(path, headers=auth(token("unit_secretary", people.secretary)))  # no body at all
    assert r.status_code == 200 and r.get_json()["status"] == "introduced"
    assert messages(runtime, "council.deed_introduced") == [
        {"deed_id": deed["id"], "unit": people.unit, "month": deed["month"]}
    ]
    late = record(title="Ghi sau khi vòng xét đã mở")
    with runtime.db.unit_of_work() as uow:
        services.close_introductions(uow, CloseIntroductions(round_id="R1", council=people.council,
                                                             unit=people.unit, month=deed["month"]))
        uow.commit()
    # R5a: once the month's round has opened, an introduction is carried into the next round.
    carried = client.post(f"{DEEDS}/{late['id']}/introduce", json={}, headers=auth(token("subunit_lead", people.lead)))
    assert carried.status_code == 200
    assert (carried.get_json()["status"], carried.get_json()["carried_over"]) == ("introduced", True)
    problem(client.post(path, json={}, headers=auth(token("subunit_lead", people.lead))), 409)
    got = client.get(f"{DEEDS}/{deed['id']}", headers=auth(token("officer", people.officer))).get_json()
    assert got["status"] == "in_round"


def test_direct_officers_are_introduced_by_the_secretary(client, token, people, record) -> None:
    deed = record({"officer": people.direct}, role="unit_secretary", subject=people.secretary)
    path = f"{DEEDS}/{deed['id']}/introduce"
    problem(client.post(path, json={}, headers=auth(token("subunit_lead", people.lead))), 403)
    assert client.post(path, json={}, headers=auth(token("unit_secretary", people.secretary))).status_code == 200


# -- Idempotency-Key -----------------------------------------------------------------------------
def test_idempotency_key_replays_the_first_response(client, token, people, runtime) -> None:
    tok = token("officer", people.officer)
    body = deed_body({"officer": people.officer})
    first = client.post(DEEDS, json=body, headers=auth(tok, **{"Idempotency-Key": "k-1"}))
    again = client.post(DEEDS, json=body, headers=auth(tok, **{"Idempotency-Key": "k-1"}))
    assert first.status_code == again.status_code == 201
    assert first.get_data() == again.get_data()
    assert count_deeds(runtime) == 1
    other = client.post(DEEDS, json={**body, "title": "Khác"}, headers=auth(tok, **{"Idempotency-Key": "k-1"}))
    assert "Idempotency-Key" in problem(other, 422)["errors"]
    # Keys are scoped to the token's subject: another officer's "k-1" is their own.
    tok2 = token("officer", people.colleague)
    r = client.post(DEEDS, json=deed_body({"officer": people.colleague}), headers=auth(tok2, **{"Idempotency-Key": "k-1"}))
    assert r.status_code == 201
    assert count_deeds(runtime) == 2
    # A refusal is replayed too, and a fresh key runs the request anew.
    bad = deed_body({"officer": people.officer}, occurred_on="2020-01-01")
    r1 = client.post(DEEDS, json=bad, headers=auth(tok, **{"Idempotency-Key": "k-2"}))
    r2 = client.post(DEEDS, json=bad, headers=auth(tok, **{"Idempotency-Key": "k-2"}))
    assert r1.status_code == r2.status_code == 422 and r1.get_data() == r2.get_data()
    assert len(messages(runtime, "council.deeds_recorded")) == 2


def test_idempotent_introduce(client, token, people, record, runtime) -> None:
    deed = record()
    lead = token("subunit_lead", people.lead)
    path = f"{DEEDS}/{deed['id']}/introduce"
    r1 = client.post(path, json={}, headers=auth(lead, **{"Idempotency-Key": "i-1"}))
    r2 = client.post(path, json={}, headers=auth(lead, **{"Idempotency-Key": "i-1"}))
    assert r1.status_code == r2.status_code == 200 and r1.get_data() == r2.get_data()
    assert len(messages(runtime, "council.deed_introduced")) == 1


def test_errors_are_problems_in_vietnamese(client, token, people) -> None:
    tok = token("officer", people.officer)
    body = problem(client.post(DEEDS, data="{", content_type="application/json", headers=auth(tok)), 400)
    assert "JSON" in body["detail"]
    problem(client.post(DEEDS, data="x", content_type="text/plain", headers=auth(tok)), 415)
    problem(client.delete(DEEDS, headers=auth(tok)), 405)
    body = problem(client.get("/api/v1/deeds/a/b/c", headers=auth(tok)), 404)
    assert body["detail"] == "Không có đường dẫn này."
    body = problem(client.post(DEEDS, json=deed_body({"officer": people.officer}, kind="bad", title=""),
                               headers=auth(tok)), 422)
    assert set(body["errors"]) == {"kind", "title"}
    assert "Độ dài phải từ 1 đến 200 ký tự." in body["errors"]["title"]
