"""intake's pure rules as plain tables: R3 dates, R4 text, forward-only status, evidence types,
and who may record, read and introduce (R2, R5)."""

from __future__ import annotations

import datetime as dt

import pytest

from services.intake.domain.dates import month_of, occurred_on_problem
from services.intake.domain.evidence import sniff
from services.intake.domain.scope import Actor, may_introduce, may_read, may_record
from services.intake.domain.status import advance, status_after_entry
from services.intake.domain.text import fold, matches, nfc, search_text, text_problem
from shared.org import Organisation

D = dt.date
SINCE = D(2021, 9, 1)


@pytest.mark.parametrize(
    ("day", "today", "late_days", "refused"),
    [
        (D(2024, 5, 10), D(2024, 5, 10), 10, False),  # today
        (D(2024, 5, 11), D(2024, 5, 10), 10, True),  # tomorrow: future
        (D(2021, 9, 1), D(2021, 9, 5), 10, False),  # the programme's first day
        (D(2021, 8, 31), D(2021, 9, 5), 10, True),  # before the programme
        (D(2024, 4, 1), D(2024, 5, 10), 10, False),  # April ended 30th; +10 = May 10th: last day
        (D(2024, 4, 30), D(2024, 5, 11), 10, True),  # one day late
        (D(2024, 4, 30), D(2024, 5, 11), 11, False),  # late_days is a setting
        (D(2024, 2, 29), D(2024, 3, 10), 10, False),  # leap February
        (D(2024, 2, 1), D(2024, 3, 11), 10, True),
        (D(2023, 12, 31), D(2024, 1, 10), 10, False),  # across a year
        (D(2023, 12, 31), D(2024, 1, 11), 10, True),
        (D(2024, 3, 15), D(2024, 5, 1), 0, True),
        (D(2024, 4, 30), D(2024, 4, 30), 0, False),
        (D(2024, 4, 30), D(2024, 5, 1), 0, True),
    ],
)
def test_r3_dates(day: dt.date, today: dt.date, late_days: int, refused: bool) -> None:
    problem = occurred_on_problem(day, today, SINCE, late_days)
    assert (problem is not None) == refused, problem


def test_r3_messages_are_vietnamese_and_name_the_reason() -> None:
    assert "tương lai" in occurred_on_problem(D(2024, 5, 11), D(2024, 5, 10), SINCE, 10)
    assert "2021-09-01" in occurred_on_problem(D(2021, 8, 1), D(2024, 5, 10), SINCE, 10)
    assert "2024-04-10" in occurred_on_problem(D(2024, 3, 1), D(2024, 5, 11), SINCE, 10)


@pytest.mark.parametrize(("day", "month"), [(D(2024, 1, 31), "2024-01"), (D(2024, 12, 1), "2024-12")])
def test_month_of_a_deed(day: dt.date, month: str) -> None:
    assert month_of(day) == month


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Việc tốt", "viec tot"),
        ("VIỆC TỐT", "viec tot"),
        ("Đắk Mil", "dak mil"),
        ("đường", "duong"),
        ("Nguyễn Thị Ánh", "nguyen thi anh"),
        ("viec tot", "viec tot"),
        ("Vie\u0302\u0323c to\u0302\u0301t", "viec tot"),  # NFD in, same fold
    ],
)
def test_r4_fold(text: str, folded: str) -> None:
    assert fold(text) == folded


def test_r4_nfc_keeps_diacritics_exactly() -> None:
    nfd = "Vie\u0302\u0323c to\u0302\u0301t"
    assert nfc(nfd) == "Việc tốt" and len(nfc(nfd)) == 8
    assert nfc("Hoà") == "Hoà" and nfc("Hòa") == "Hòa"  # two spellings, both kept as written


@pytest.mark.parametrize(
    ("query", "text", "found"),
    [
        ("viec tot", "Một việc tốt vì Nhân dân", True),
        ("việc tốt", "Một việc tốt vì Nhân dân", True),
        ("VIỆC  tot", "Một việc tốt vì Nhân dân", True),
        ("tot viec", "Một việc tốt vì Nhân dân", True),  # every word, any order
        ("viec xau", "Một việc tốt vì Nhân dân", False),
        ("dak mil", "Ở Đắk Mil", True),
        # Each word matches the start of a word (R4).
        ("an", "Bảo đảm an toàn giao thông", True),
        ("an", "Phối hợp với Công an xã", True),
        ("an", "Vì Nhân dân phục vụ", False),
        ("han", "Vì Nhân dân phục vụ", False),
        ("nhan", "Vì Nhân dân phục vụ", True),
        ("nha da", "Vì Nhân dân phục vụ", True),  # prefixes of two words
        ("toan an", "Công an toàn tỉnh", True),
        ("mil", "Ở Đắk-Mil", True),  # a hyphen separates words
        ("lan", "Cụ bà H'Lan", True),
        ("a_b", "a_b c", True),
        ("b", "a_b c", False),  # the underscore is inside a word
        ("%", "a%b", True),  # no word at all: nothing to require
        ("ss", "Straße", False),
        ("strasse", "Straße", True),  # casefolded alike
    ],
)
def test_r4_search_every_word(query: str, text: str, found: bool) -> None:
    assert matches(query, text, "") == found
    assert matches(query, "", text) == found  # the description alike


def test_r4_search_text_is_the_words_each_after_a_space() -> None:
    assert search_text("Việc tốt vì Nhân dân!", "Công-an\nxã") == " viec tot vi nhan dan cong an xa"
    assert search_text(None, "") == ""


@pytest.mark.parametrize(
    ("text", "multiline", "refused"),
    [
        ("bình thường", False, False),
        ("a\x00b", False, True),
        ("a\x07b", True, True),
        ("a\x1bb", True, True),
        ("a\x7fb", False, True),
        ("dòng 1\ndòng 2", True, False),
        ("dòng 1\ndòng 2", False, True),
        ("cột\tcột", True, False),
        ("\ud800", True, True),  # lone surrogate
    ],
)
def test_text_refused(text: str, multiline: bool, refused: bool) -> None:
    assert (text_problem(text, multiline) is not None) == refused


@pytest.mark.parametrize(
    ("current", "told", "after"),
    [
        ("recorded", "introduced", "introduced"),
        ("introduced", "in_round", "in_round"),
        ("in_round", "recognised", "recognised"),
        ("in_round", "not_selected", "not_selected"),
        ("recognised", "not_selected", "recognised"),  # a later round lost: keeps its status
        ("not_selected", "recognised", "recognised"),  # R9: a supplementary round
        ("recognised", "in_round", "recognised"),
        ("proposed", "recognised", "proposed"),
        ("inscribed", "proposed", "inscribed"),
        ("recognised", "proposed", "proposed"),
        ("proposed", "inscribed", "inscribed"),
        ("recorded", "nonsense", "recorded"),
        ("in_round", "referred", "referred"),  # R17a
        ("referred", "recognised", "recognised"),
        ("inscribed", "revoked", "revoked"),  # R15a: final
        ("revoked", "inscribed", "revoked"),
        ("revoked", "recognised", "revoked"),
    ],
)
def test_status_moves_only_forward(current: str, told: str, after: str) -> None:
    assert advance(current, told) == after


def test_status_implied_by_a_book_entry() -> None:
    assert status_after_entry("CAH-DM", "CAH-DM", "inscription") == "recognised"
    assert status_after_entry("CAH-DM", "CAT", "inscription") == "inscribed"
    assert status_after_entry("CAH-DM", "CAH-DM", "revocation") == "revoked"


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "application/pdf"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00", "video/mp4"),
        (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff", None),  # a Windows program
        (b"<html><script>x", None),
        (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff", None),
        (b"", None),
    ],
)
def test_evidence_type_is_read_from_bytes(head: bytes, kind: str | None) -> None:
    assert sniff(head) == kind


def test_scope_table(org_document: dict) -> None:
    from tests.intake.conftest import people_of

    org = Organisation.from_document(org_document)
    p = people_of(org_document)
    off, col = {"officer": p.officer}, {"officer": p.colleague}
    sub, unit = {"collective": p.subunit}, {"collective": p.unit}
    direct, other_sub_officer = {"officer": p.direct}, {"officer": p.other_officer}
    stranger = {"officer": p.stranger}
    table = [
        # (role, subject, author, may record)
        ("officer", p.officer, off, True),
        ("officer", p.officer, col, False),
        ("officer", p.officer, sub, False),
        ("subunit_lead", p.lead, off, True),
        ("subunit_lead", p.lead, {"officer": p.lead}, True),
        ("subunit_lead", p.lead, sub, True),
        ("subunit_lead", p.lead, other_sub_officer, False),
        ("subunit_lead", p.lead, direct, False),
        ("subunit_lead", p.lead, unit, False),
        ("unit_secretary", p.secretary, off, True),
        ("unit_secretary", p.secretary, direct, True),
        ("unit_secretary", p.secretary, sub, True),
        ("unit_secretary", p.secretary, unit, True),
        ("unit_secretary", p.secretary, stranger, False),
        ("council_member", p.member, {"officer": p.member}, False),
        ("province_secretary", p.province_secretary, off, False),
        ("press", p.press, off, False),
        ("admin", "root", off, False),
    ]
    for role, subject, author, expected in table:
        assert may_record(org, Actor(role, subject), author) == expected, (role, subject, author)

    readers = [
        ("officer", p.colleague, True), ("officer", p.direct, True), ("officer", p.stranger, False),
        ("council_member", p.member, True), ("subunit_lead", p.other_lead, True),
        ("unit_secretary", p.stranger_secretary, False), ("province_secretary", p.province_secretary, True),
        ("province_secretary", p.officer, False), ("press", p.press, False), ("admin", "root", False),
        ("council_member", p.province_officer, False),
    ]
    for role, subject, expected in readers:
        assert may_read(org, Actor(role, subject), p.unit) == expected, (role, subject)

    introducers = [
        ("subunit_lead", p.lead, p.subunit, True), ("subunit_lead", p.other_lead, p.subunit, False),
        ("subunit_lead", p.lead, None, False), ("unit_secretary", p.secretary, p.subunit, True),
        ("unit_secretary", p.secretary, None, True), ("unit_secretary", p.stranger_secretary, p.subunit, False),
        ("officer", p.officer, p.subunit, False), ("province_secretary", p.province_secretary, p.subunit, False),
    ]
    for role, subject, subunit, expected in introducers:
        assert may_introduce(org, Actor(role, subject), p.unit, subunit) == expected, (role, subject, subunit)
