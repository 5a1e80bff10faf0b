"""R15 as plain tables: the canonical form, the hash, and verification of a stored chain.

One changed byte anywhere, a deleted, reordered or truncated entry: ``verify`` fails and names
exactly the first entry that no longer holds.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json

import pytest

from services.book.domain.chain import (
    FORMAT,
    GENESIS,
    NotCanonical,
    canonical,
    canonical_text,
    entry_hash,
    verify,
)
from services.book.domain.entries import Entry, inscription, public_deed, revocation

AT = dt.datetime(2024, 6, 7, 10, 0, tzinfo=dt.UTC)


def make_chain(n: int, book: str = "CAH-DM") -> list[dict]:
    """n sealed entries as the database stores them (nested parts as canonical JSON text)."""
    sealed: list[dict] = []
    prev = GENESIS
    for seq in range(1, n + 1):
        deed = public_deed(
            {
                "id": f"deed-{seq}", "title": f"Việc tốt thứ {seq}: giúp cụ bà qua đường", "description": "Đường trơn, trời mưa.",
                "kind": "good_deed", "relation": "direct", "occurred_on": "2024-05-02", "unit": book,
                "author": {"officer": "CAH-DM-0001", "name": "Thiếu tá Phan Thành Ngân"},
            }
        )
        fields = inscription(
            book=book, seq=seq, prev_hash=prev, deed=deed,
            decision={"number": f"{seq}/QĐ-CAH-DM", "date": "2024-06-07", "issuer": book, "issuer_name": "Công an huyện Đắk Mil"},
            tally={"approve": 6, "reject": 1, "abstain": 0, "entitled": 7, "ratio": "6/7", "round": "r1",
                   "round_kind": "monthly", "period": "2024-05"},
            at=AT + dt.timedelta(minutes=seq),
        )
        sealed.append(fields)
        prev = fields["hash"]
    return [as_stored(f) for f in sealed]


def as_stored(fields: dict) -> dict:
    row = dict(fields)
    for name in ("deed", "decision", "tally"):
        row[name] = canonical_text(fields[name]) if fields[name] is not None else None
    return row


def check(rows: list[dict], entries: int | None = None, head: str | None = None):
    if entries is None:
        entries, head = len(rows), rows[-1]["hash"] if rows else None
    return verify("CAH-DM", rows, entries, head)


# -- the canonical form ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "text"),
    [
        ({"b": 1, "a": [True, None, "x"]}, '{"a":[true,null,"x"],"b":1}'),
        ({"title": "Vie\u0302\u0323t"}, '{"title":"Việt"}'),  # decomposed → NFC
        ({"k": "<script>\"]]>"}, '{"k":"<script>\\"]]>"}'),
        ({"Đ": "ổ ữ"}, '{"Đ":"ổ ữ"}'),
        ([], "[]"),
    ],
)
def test_canonical_text_is_sorted_compact_nfc_utf8(value, text):
    assert canonical_text(value) == text
    assert canonical(value) == text.encode("utf-8")


@pytest.mark.parametrize("value", [1.5, {"x": float("nan")}, {1: "a"}, {"x": {1, 2}}, b"bytes"])
def test_values_without_a_canonical_form_are_refused(value):
    with pytest.raises(NotCanonical):
        canonical_text(value)


def test_the_hash_is_sha256_of_the_canonical_form_including_prev_hash():
    fields = {
        "book": "CAT", "seq": 1, "kind": "inscription", "revokes": None, "reason": None, "deed": {"id": "d"},
        "decision": {}, "tally": {}, "inscribed_at": "2024-06-07T17:00:00+07:00", "prev_hash": GENESIS,
    }
    expected = hashlib.sha256(canonical({"format": FORMAT, **fields})).hexdigest()
    assert entry_hash(fields) == expected
    assert entry_hash({**fields, "prev_hash": "1" * 64}) != expected
    # Same text in NFD hashes like its NFC form: the canonical form is NFC.
    assert entry_hash({**fields, "deed": {"id": "Vie\u0302\u0323t"}}) == entry_hash({**fields, "deed": {"id": "Việt"}})


def test_the_first_entry_follows_genesis_and_each_the_one_before():
    rows = make_chain(3)
    assert rows[0]["prev_hash"] == GENESIS == "0" * 64
    assert rows[1]["prev_hash"] == rows[0]["hash"] and rows[2]["prev_hash"] == rows[1]["hash"]
    assert check(rows).valid
    assert check(rows) == check(copy.deepcopy(rows))
    assert check([], 0, None).valid


# -- tampering ------------------------------------------------------------------------------------
def flip(text: str, at: int) -> str:
    """Change one character (one byte of ASCII text) at position ``at``."""
    ch = text[at]
    return text[:at] + ("x" if ch != "x" else "y") + text[at + 1 :]


FLIPS = [
    # (column, position of the byte to change)
    ("deed", 10),
    ("deed", -3),
    ("decision", 12),
    ("tally", 5),
    ("inscribed_at", 3),
    ("prev_hash", 0),
    ("prev_hash", 63),
    ("hash", 17),
    ("book", 0),
    ("kind", 2),
]


@pytest.mark.parametrize("seq", [1, 3, 5])
@pytest.mark.parametrize(("column", "at"), FLIPS)
def test_one_changed_byte_is_found_at_exactly_that_entry(seq, column, at):
    rows = make_chain(5)
    rows[seq - 1][column] = flip(rows[seq - 1][column], at)
    verdict = check(rows, 5, make_chain(5)[-1]["hash"])
    assert not verdict.valid
    assert verdict.first_bad_seq == seq


def test_a_changed_letter_of_vietnamese_text_is_found():
    rows = make_chain(4)
    rows[1]["deed"] = rows[1]["deed"].replace("giúp", "giup")
    verdict = check(rows, 4, rows[-1]["hash"])
    assert (verdict.valid, verdict.first_bad_seq) == (False, 2)


def test_text_stored_decomposed_is_found_even_though_it_looks_the_same():
    rows = make_chain(3)
    rows[2]["deed"] = rows[2]["deed"].replace("Việc", "Vie\u0302\u0323c")
    verdict = check(rows, 3, rows[-1]["hash"])
    assert (verdict.valid, verdict.first_bad_seq) == (False, 3)


def test_json_stored_in_another_spelling_is_found():
    rows = make_chain(3)
    rows[1]["tally"] = json.dumps(json.loads(rows[1]["tally"]), indent=1)  # same values, other bytes
    verdict = check(rows, 3, rows[-1]["hash"])
    assert (verdict.valid, verdict.first_bad_seq) == (False, 2)


def test_unreadable_json_is_found_not_crashed_on():
    rows = make_chain(3)
    rows[0]["deed"] = rows[0]["deed"][:-1]
    verdict = check(rows, 3, rows[-1]["hash"])
    assert (verdict.valid, verdict.first_bad_seq) == (False, 1)


def test_an_entry_rewritten_with_its_own_hash_recomputed_breaks_the_next_link():
    rows = make_chain(4)
    forged = json.loads(rows[1]["deed"])
    forged["title"] = "Một việc khác"
    fields = {**rows[1], "deed": forged, "decision": json.loads(rows[1]["decision"]), "tally": json.loads(rows[1]["tally"])}
    rows[1] = as_stored({**fields, "hash": entry_hash(fields)})
    verdict = check(rows, 4, rows[-1]["hash"])
    assert (verdict.valid, verdict.first_bad_seq) == (False, 3)


@pytest.mark.parametrize("deleted", [1, 2, 4])
def test_a_deleted_entry_is_found_where_it_is_missing(deleted):
    rows = make_chain(5)
    head = rows[-1]["hash"]
    del rows[deleted - 1]
    verdict = check(rows, 5, head)
    assert (verdict.valid, verdict.first_bad_seq) == (False, deleted)


def test_reordered_entries_are_found_at_the_first_moved_one():
    rows = make_chain(5)
    head = rows[-1]["hash"]
    # Swap entries 2 and 4 (each row keeps its content, numbers exchanged).
    rows[1]["seq"], rows[3]["seq"] = rows[3]["seq"], rows[1]["seq"]
    rows.sort(key=lambda r: r["seq"])
    verdict = check(rows, 5, head)
    assert (verdict.valid, verdict.first_bad_seq) == (False, 2)


def test_a_truncated_book_is_found_at_the_first_missing_entry():
    rows = make_chain(5)
    head = rows[-1]["hash"]
    verdict = check(rows[:3], 5, head)
    assert (verdict.valid, verdict.first_bad_seq, verdict.entries) == (False, 4, 5)


def test_an_entry_beyond_the_recorded_head_is_found():
    rows = make_chain(4)
    verdict = check(rows, 3, rows[2]["hash"])
    assert (verdict.valid, verdict.first_bad_seq) == (False, 4)


def test_a_head_that_is_not_the_last_entry_is_found():
    rows = make_chain(3)
    verdict = check(rows, 3, "f" * 64)
    assert (verdict.valid, verdict.first_bad_seq) == (False, 3)


def test_a_duplicated_entry_is_found():
    rows = make_chain(3)
    rows.insert(2, dict(rows[1]))
    verdict = check(rows, 3, rows[-1]["hash"])
    assert (verdict.valid, verdict.first_bad_seq) == (False, 3)


# -- revocations in the chain ---------------------------------------------------------------------
def add_revocation(rows: list[dict], target_seq: int, reason: str = "Khai báo không trung thực") -> list[dict]:
    target = {**rows[target_seq - 1], "deed": json.loads(rows[target_seq - 1]["deed"])}
    fields = revocation(
        book="CAH-DM", seq=len(rows) + 1, prev_hash=rows[-1]["hash"], target=Entry.of(target), reason=reason,
        decision={"date": "2024-07-01", "issuer": "CAH-DM"}, at=AT + dt.timedelta(days=30),
    )
    return [*rows, as_stored(fields)]


def test_a_revocation_is_an_entry_of_the_chain():
    rows = add_revocation(make_chain(3), 2)
    assert rows[-1]["kind"] == "revocation" and rows[-1]["revokes"] == 2 and rows[-1]["tally"] is None
    assert json.loads(rows[-1]["deed"]) == {"id": "deed-2", "unit": "CAH-DM"}
    assert check(rows).valid


def test_a_revocation_of_nothing_or_twice_of_the_same_entry_is_found():
    twice = add_revocation(add_revocation(make_chain(2), 1), 1)
    assert (check(twice).valid, check(twice).first_bad_seq) == (False, 4)
    of_a_revocation = add_revocation(add_revocation(make_chain(2), 1), 3)
    assert (check(of_a_revocation).valid, check(of_a_revocation).first_bad_seq) == (False, 4)
