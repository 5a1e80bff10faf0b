"""Inscribing (R8, R14, R15): books opened from the organisation, gap-free numbering, the hash
chain, once-only effect of a redelivered command, and the DeedInscribed event to intake."""

from __future__ import annotations

import sqlalchemy as sa
from book_helpers import PROVINCE, UNIT, deed_copy, deliver, inscribe_command, sent_messages

from services.book import DECLARATION
from services.book import repository as repo
from services.book.domain.chain import GENESIS, entry_hash, verify
from services.book.orm import books, entries
from shared import clock
from shared.refusals import NotFound


def test_load_org_opens_one_book_per_unit_and_the_provincial_book(runtime, org_document):
    with runtime.db.reading() as s:
        rows = {r.code: r for r in s.execute(sa.select(books))}
    assert len(rows) == len(org_document["units"]) + 1 == 16
    assert rows[PROVINCE].kind == "province" and rows[PROVINCE].name == "Công an tỉnh Đắk Nông"
    assert rows[UNIT].kind == "unit" and rows[UNIT].name == "Công an huyện Đắk Mil"
    assert all(r.entries == 0 and r.head is None for r in rows.values())


def test_loading_the_same_organisation_again_changes_nothing(runtime, org_document):
    with runtime.db.reading() as s:
        before = s.execute(sa.select(books).order_by(books.c.code)).all()
    assert DECLARATION.load_org(runtime, org_document) is False
    with runtime.db.reading() as s:
        assert s.execute(sa.select(books).order_by(books.c.code)).all() == before


def test_entries_are_numbered_from_one_and_chained(runtime, inscribe):
    msgs = [inscribe(UNIT, deed=deed_copy(f"Việc tốt số {n}")) for n in range(3)]
    with runtime.db.reading() as s:
        rows = repo.book_entries(s, UNIT)
        book = repo.get_book(s, UNIT)
        stored = repo.stored_entries(s, UNIT)
    assert [r.seq for r in rows] == [1, 2, 3]
    assert rows[0].prev_hash == GENESIS
    assert [r.prev_hash for r in rows[1:]] == [r.hash for r in rows[:-1]]
    assert all(entry_hash(r.fields()) == r.hash for r in rows)
    assert (book.entries, book.head) == (3, rows[-1].hash)
    assert verify(UNIT, stored, book.entries, book.head).valid
    assert [r.deed["id"] for r in rows] == [m.deed["id"] for m in msgs]


def test_an_entry_holds_the_public_deed_the_decision_and_the_tally(runtime, inscribe):
    msg = inscribe(UNIT)
    with runtime.db.reading() as s:
        entry = repo.entry(s, UNIT, 1)
    assert entry.kind == "inscription" and entry.revokes is None and entry.reason is None
    assert set(entry.deed) == {"id", "title", "description", "kind", "relation", "occurred_on", "author", "unit"}
    assert entry.deed["author"] == {"officer": "CAH-DM-0001", "name": "Thiếu tá Phan Thành Ngân"}
    assert entry.decision == msg.decision
    assert entry.tally == msg.tally
    instant = clock.local(__import__("datetime").datetime.fromisoformat(entry.inscribed_at))
    assert entry.inscribed_at.endswith("+07:00") and instant.microsecond == 0


def test_inscribing_tells_intake_in_the_same_transaction(runtime, inscribe):
    msg = inscribe(UNIT)
    assert sent_messages(runtime, "intake.deed_inscribed") == [
        {"deed_id": msg.deed["id"], "book": UNIT, "seq": 1, "kind": "inscription"}
    ]


def test_a_redelivered_message_creates_no_second_entry(runtime):
    msg = inscribe_command(UNIT)
    env = deliver(runtime, msg)
    deliver(runtime, msg, env)  # the very same message again (late ack, crash)
    deliver(runtime, msg)  # the same command under another message id (council sent it twice)
    with runtime.db.reading() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(entries)).scalar() == 1
        assert repo.get_book(s, UNIT).entries == 1
    assert len(sent_messages(runtime, "intake.deed_inscribed")) == 1


def test_books_keep_their_own_numbering(runtime, inscribe):
    inscribe(UNIT)
    inscribe("CAH-CJ", deed=deed_copy(unit="CAH-CJ", author={"collective": "CAH-CJ", "name": "Công an huyện Cư Jút"}))
    inscribe(PROVINCE, period="2024-Q2", round_kind="provincial")
    inscribe(UNIT)
    with runtime.db.reading() as s:
        assert [r.seq for r in repo.book_entries(s, UNIT)] == [1, 2]
        assert [r.seq for r in repo.book_entries(s, "CAH-CJ")] == [1]
        assert [r.seq for r in repo.book_entries(s, PROVINCE)] == [1]


def test_an_unknown_book_is_refused_and_nothing_is_kept(runtime):
    msg = inscribe_command("NO-SUCH-UNIT")
    try:
        deliver(runtime, msg)
    except NotFound:
        pass
    else:  # pragma: no cover
        raise AssertionError("an unknown book was accepted")
    with runtime.db.reading() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(entries)).scalar() == 0
