"""The book's API as a client sees it (API.md, book): books, entries, verify, problems."""

from __future__ import annotations

import sqlalchemy as sa
from book_helpers import PROVINCE, UNIT, deed_copy

from services.book.orm import books, entries

ENTRY_KEYS = {"book", "seq", "kind", "revokes", "reason", "deed", "decision", "tally", "inscribed_at", "prev_hash", "hash"}


def test_books_lists_every_book_with_its_head(client, inscribe):
    inscribe(UNIT)
    r = client.get("/api/v1/books")
    assert r.status_code == 200 and r.mimetype == "application/json"
    body = r.get_json()
    assert body["next"] is None and len(body["items"]) == 16
    by_code = {b["code"]: b for b in body["items"]}
    assert set(by_code[UNIT]) == {"code", "name", "kind", "entries", "head"}
    assert by_code[PROVINCE] == {"code": "CAT", "name": "Công an tỉnh Đắk Nông", "kind": "province", "entries": 0, "head": None}
    unit = by_code[UNIT]
    assert (unit["kind"], unit["entries"], unit["name"]) == ("unit", 1, "Công an huyện Đắk Mil")
    entry = client.get(f"/api/v1/books/{UNIT}/entries/1").get_json()
    assert unit["head"] == entry["hash"]


def test_books_page_with_a_cursor(client):
    first = client.get("/api/v1/books?limit=10").get_json()
    assert len(first["items"]) == 10 and first["next"]
    rest = client.get(f"/api/v1/books?limit=10&cursor={first['next']}").get_json()
    assert len(rest["items"]) == 6 and rest["next"] is None
    codes = [b["code"] for b in first["items"] + rest["items"]]
    assert codes == sorted(set(codes))


def test_an_entry_as_api_md_says(client, inscribe):
    msg = inscribe(UNIT, deed=deed_copy("Giúp đồng bào Ê Đê dựng lại nhà sau lũ"))
    r = client.get(f"/api/v1/books/{UNIT}/entries/1")
    assert r.status_code == 200
    entry = r.get_json()
    assert ENTRY_KEYS <= set(entry)
    assert (entry["book"], entry["seq"], entry["kind"], entry["revokes"], entry["reason"]) == (UNIT, 1, "inscription", None, None)
    assert entry["deed"]["title"] == "Giúp đồng bào Ê Đê dựng lại nhà sau lũ"
    assert entry["deed"]["author"]["name"] == "Thiếu tá Phan Thành Ngân"
    assert "beneficiaries" not in entry["deed"] and "place" not in entry["deed"]
    assert entry["decision"]["number"] == msg.decision["number"] and entry["tally"]["ratio"] == "6/7"
    assert entry["prev_hash"] == "0" * 64 and len(entry["hash"]) == 64
    assert entry["revoked_by"] is None
    assert "Ê Đê".encode() in r.data  # UTF-8, not \\u escapes


def test_entries_are_listed_by_seq_with_a_cursor(client, inscribe):
    for n in range(5):
        inscribe(UNIT, deed=deed_copy(f"Việc tốt {n}"))
    first = client.get(f"/api/v1/books/{UNIT}/entries?limit=2").get_json()
    assert [e["seq"] for e in first["items"]] == [1, 2] and first["next"]
    second = client.get(f"/api/v1/books/{UNIT}/entries?limit=2&cursor={first['next']}").get_json()
    assert [e["seq"] for e in second["items"]] == [3, 4]
    last = client.get(f"/api/v1/books/{UNIT}/entries?limit=2&cursor={second['next']}").get_json()
    assert [e["seq"] for e in last["items"]] == [5] and last["next"] is None
    everything = client.get(f"/api/v1/books/{UNIT}/entries").get_json()
    assert [e["deed"]["title"] for e in everything["items"]] == [f"Việc tốt {n}" for n in range(5)]


def test_an_empty_book_lists_nothing_and_verifies(client):
    assert client.get(f"/api/v1/books/{UNIT}/entries").get_json() == {"items": [], "next": None}
    assert client.get(f"/api/v1/books/{UNIT}/verify").get_json()["valid"] is True


def problem(r, status):
    assert r.status_code == status, r.data
    assert r.mimetype == "application/problem+json"
    body = r.get_json()
    assert body["status"] == status and body["detail"] and body["title"]
    return body


def test_unknown_books_and_entries_are_404_problems(client, inscribe):
    inscribe(UNIT)
    for path in ("/api/v1/books/NOPE/entries", "/api/v1/books/NOPE/entries/1", "/api/v1/books/NOPE/verify",
                 f"/api/v1/books/{UNIT}/entries/2", f"/api/v1/books/{UNIT}/entries/0",
                 f"/api/v1/books/{UNIT}/entries/abc", "/feeds/NOPE.atom", "/feeds/NOPE.rss", "/feeds/NOPE.json",
                 "/honour-roll/NOPE/", f"/api/v1/books/{UNIT}/entries/9/certificate.pdf"):
        problem(client.get(path), 404)
    assert "NOPE" in problem(client.get("/api/v1/books/NOPE/verify"), 404)["detail"]


def test_bad_list_parameters_are_422_problems(client):
    assert problem(client.get("/api/v1/books?limit=0"), 422)["errors"]["limit"]
    assert problem(client.get(f"/api/v1/books/{UNIT}/entries?limit=x"), 422)["errors"]["limit"]
    assert problem(client.get(f"/api/v1/books/{UNIT}/entries?cursor=%%%"), 422)["errors"]["cursor"]
    # A cursor of the books' list is not one of the entries' list.
    cursor = client.get("/api/v1/books?limit=1").get_json()["next"]
    assert problem(client.get(f"/api/v1/books/{UNIT}/entries?cursor={cursor}"), 422)["errors"]["cursor"]


def test_verify_a_sound_book(client, inscribe):
    for _ in range(3):
        inscribe(UNIT)
    body = client.get(f"/api/v1/books/{UNIT}/verify").get_json()
    head = client.get(f"/api/v1/books/{UNIT}/entries/3").get_json()["hash"]
    assert body["valid"] is True and body["entries"] == 3 and body["head"] == head
    assert body["first_bad_seq"] is None


# -- tampering in the database --------------------------------------------------------------------
def tamper(runtime, *statements):
    with runtime.db.unit_of_work() as uow:
        for statement in statements:
            uow.session.execute(statement)
        uow.commit()


def verdict(client):
    r = client.get(f"/api/v1/books/{UNIT}/verify")
    assert r.status_code == 200
    return r.get_json()


def test_a_changed_title_is_named_by_verify(client, runtime, inscribe):
    for n in range(4):
        inscribe(UNIT, deed=deed_copy(f"Việc tốt số {n}"))
    with runtime.db.reading() as s:
        deed = s.execute(sa.select(entries.c.deed).where(entries.c.book == UNIT, entries.c.seq == 3)).scalar()
    tamper(runtime, entries.update().where(entries.c.book == UNIT, entries.c.seq == 3)
           .values(deed=deed.replace("Việc tốt số 2", "Việc tốt số 9")))
    body = verdict(client)
    assert body["valid"] is False and body["first_bad_seq"] == 3 and body["problem"]


def test_a_changed_instant_is_named_by_verify(client, runtime, inscribe):
    for _ in range(3):
        inscribe(UNIT)
    tamper(runtime, entries.update().where(entries.c.book == UNIT, entries.c.seq == 2)
           .values(inscribed_at=entries.c.inscribed_at))  # unchanged: still valid
    assert verdict(client)["valid"] is True
    with runtime.db.reading() as s:
        at = s.execute(sa.select(entries.c.inscribed_at).where(entries.c.book == UNIT, entries.c.seq == 2)).scalar()
    tamper(runtime, entries.update().where(entries.c.book == UNIT, entries.c.seq == 2)
           .values(inscribed_at=at.replace(microsecond=1)))
    assert (verdict(client)["valid"], verdict(client)["first_bad_seq"]) == (False, 2)


def test_a_deleted_entry_is_named_by_verify(client, runtime, inscribe):
    for _ in range(4):
        inscribe(UNIT)
    tamper(runtime, entries.delete().where(entries.c.book == UNIT, entries.c.seq == 2))
    assert (verdict(client)["valid"], verdict(client)["first_bad_seq"]) == (False, 2)


def test_reordered_entries_are_named_by_verify(client, runtime, inscribe):
    for _ in range(4):
        inscribe(UNIT)
    where = entries.c.book == UNIT
    tamper(
        runtime,
        entries.update().where(where, entries.c.seq == 2).values(seq=-2),
        entries.update().where(where, entries.c.seq == 3).values(seq=2),
        entries.update().where(where, entries.c.seq == -2).values(seq=3),
    )
    assert (verdict(client)["valid"], verdict(client)["first_bad_seq"]) == (False, 2)


def test_a_truncated_book_is_named_by_verify(client, runtime, inscribe):
    for _ in range(4):
        inscribe(UNIT)
    tamper(runtime, entries.delete().where(entries.c.book == UNIT, entries.c.seq >= 3))
    body = verdict(client)
    assert (body["valid"], body["first_bad_seq"], body["entries"]) == (False, 3, 4)


def test_a_moved_head_is_found_by_verify(client, runtime, inscribe):
    for _ in range(2):
        inscribe(UNIT)
    tamper(runtime, books.update().where(books.c.code == UNIT).values(head="a" * 64))
    assert (verdict(client)["valid"], verdict(client)["first_bad_seq"]) == (False, 2)


def test_health(client):
    assert client.get("/healthz").status_code == 200
