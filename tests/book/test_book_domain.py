"""The book's pure rules as plain tables: the public copy (R16), revocation (R15a), what the
public sees, periods, feed paging (RFC 5005) and the running figures."""

from __future__ import annotations

import datetime as dt

import pytest

from services.book.domain import publication as pub
from services.book.domain.authority import may_revoke
from services.book.domain.chain import GENESIS
from services.book.domain.entries import (
    Entry,
    check_revocable,
    inscription,
    period_matches,
    public_deed,
    quarter_of,
    revocation,
)
from services.book.domain.figures import figures
from shared.org import Organisation
from shared.refusals import Conflict, NotFound

AT = dt.datetime(2024, 6, 7, 3, 0, 0, tzinfo=dt.UTC)
COPY = {
    "id": "d1", "title": "Giúp dân gặt lúa", "description": "Mô tả", "kind": "feat", "relation": "indirect",
    "occurred_on": "2024-05-02", "month": "2024-05", "place": "thôn 3", "unit": "CAH-DM", "subunit": "S1",
    "author": {"officer": "CAH-DM-0001", "name": "Thiếu tá Phan Thành Ngân"}, "evidence": [{"sha256": "0" * 64}],
    "beneficiaries": "Hộ bà H'Lan (riêng tư)",
}


def test_the_public_copy_keeps_only_the_public_fields():
    deed = public_deed(COPY)
    assert set(deed) == {"id", "title", "description", "kind", "relation", "occurred_on", "author", "unit"}
    assert "beneficiaries" not in str(deed) and "H'Lan" not in str(deed)
    assert deed["author"] == {"officer": "CAH-DM-0001", "name": "Thiếu tá Phan Thành Ngân"}


@pytest.mark.parametrize(
    ("author", "fallback", "expected"),
    [
        ({"collective": "CAH-DM", "name": ""}, "Công an huyện Đắk Mil", {"collective": "CAH-DM", "name": "Công an huyện Đắk Mil"}),
        ({"officer": "X", "name": ""}, None, {"officer": "X", "name": "X"}),
        ({"officer": "X", "name": "Đại úy A"}, "ignored", {"officer": "X", "name": "Đại úy A"}),
    ],
)
def test_the_author_keeps_a_display_name(author, fallback, expected):
    assert public_deed({**COPY, "author": author}, fallback)["author"] == expected


def test_the_public_copy_is_nfc():
    deed = public_deed({**COPY, "title": "Vie\u0302\u0323c to\u0302\u0301t"})
    assert deed["title"] == "Việc tốt"


def test_an_inscription_keeps_only_the_decision_and_tally_fields():
    fields = inscription(
        book="CAH-DM", seq=1, prev_hash=GENESIS, deed=public_deed(COPY),
        decision={"number": "1/QĐ", "date": "2024-06-07", "issuer": "CAH-DM", "issuer_name": "CA", "secret": 1},
        tally={"approve": 6, "reject": 1, "abstain": 0, "entitled": 7, "ratio": "6/7", "round": "r",
               "round_kind": "monthly", "period": "2024-05", "voters": ["CAH-DM-0002"]},
        at=AT,
    )
    assert "secret" not in fields["decision"] and "voters" not in fields["tally"]
    assert fields["inscribed_at"] == "2024-06-07T10:00:00+07:00"
    assert len(fields["hash"]) == 64


# -- revocation -----------------------------------------------------------------------------------
def _entry(seq: int, kind: str) -> Entry:
    return Entry("CAH-DM", seq, kind, None, None, {"id": "d1"}, {}, {}, "2024-06-07T10:00:00+07:00", GENESIS, "h")


@pytest.mark.parametrize(
    ("target", "revoked_by", "refusal", "detail"),
    [
        (None, None, NotFound, "Sổ vàng CAH-DM không có mục số 2."),
        (_entry(2, "revocation"), None, Conflict, "Mục số 2 là một mục thu hồi, không thể thu hồi."),
        (_entry(2, "inscription"), 3, Conflict, "Mục số 2 đã bị thu hồi (mục số 3)."),
    ],
)
def test_what_cannot_be_revoked(target, revoked_by, refusal, detail):
    """R15a: only an inscription not yet revoked."""
    with pytest.raises(refusal) as refused:
        check_revocable("CAH-DM", 2, target, revoked_by)
    assert refused.value.detail == detail


def test_an_inscription_not_yet_revoked_can_be():
    entry = _entry(1, "inscription")
    assert check_revocable("CAH-DM", 1, entry, None) is entry


def test_a_revocation_names_the_entry_and_reason_and_republishes_nothing():
    target = Entry.of(inscription(book="CAH-DM", seq=1, prev_hash=GENESIS, deed=public_deed(COPY), decision={}, tally={},
                                  at=AT))
    fields = revocation(
        book="CAH-DM", seq=2, prev_hash=target.hash, target=target, reason="Khai báo sai", decision={"date": "2024-07-01"},
        at=AT,
    )
    assert (fields["kind"], fields["revokes"], fields["reason"]) == ("revocation", 1, "Khai báo sai")
    assert fields["deed"] == {"id": "d1", "unit": "CAH-DM"} and fields["tally"] is None


@pytest.fixture(scope="module")
def org(org_document) -> Organisation:
    return Organisation.from_document(org_document)


@pytest.mark.parametrize(
    ("role", "subject", "book", "allowed"),
    [
        ("unit_secretary", "CAH-DM-0008", "CAH-DM", True),
        ("unit_secretary", "CAH-CJ-0008", "CAH-DM", False),
        ("unit_secretary", "CAH-DM-0008", "CAT", False),
        ("province_secretary", "CAT-0012", "CAT", True),
        ("province_secretary", "CAT-0012", "CAH-DM", False),
        ("province_secretary", "CAH-DM-0008", "CAT", False),
        ("council_member", "CAH-DM-0001", "CAH-DM", False),
        ("admin", "root", "CAH-DM", False),
    ],
)
def test_who_may_revoke(org, role, subject, book, allowed):
    assert may_revoke(org, role, subject, book) is allowed


# -- periods --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("own", "period", "matches"),
    [("2024-05", "2024-05", True), ("2024-05", "2024-Q2", True), ("2024-05", "2024-Q1", False),
     ("2024-Q2", "2024-Q2", True), ("2024-Q2", "2024-05", False), (None, "2024-05", False)],
)
def test_which_honour_roll_an_entry_is_on(own, period, matches):
    assert period_matches(own, period) is matches


@pytest.mark.parametrize(
    ("period", "label"),
    [("2024-05", "Tháng 5/2024"), ("2021-12", "Tháng 12/2021"), ("2024-Q2", "Quý II/2024"), ("2022-Q4", "Quý IV/2022")],
)
def test_period_labels(period, label):
    assert pub.period_label(period) == label


@pytest.mark.parametrize(("period", "valid"), [("2024-05", True), ("2024-Q3", True), ("2024-13", False),
                                               ("2024-Q5", False), ("24-05", False), ("x", False)])
def test_valid_periods(period, valid):
    assert pub.valid_period(period) is valid


def test_quarters_of_periods():
    assert [quarter_of(p) for p in ("2024-01", "2024-03", "2024-04", "2024-12", "2024-Q2", None, "bad")] == [
        "2024-Q1", "2024-Q1", "2024-Q2", "2024-Q4", "2024-Q2", None, None]


# -- what the public sees -------------------------------------------------------------------------
def chain_of(*specs: tuple[str, int | None]) -> list[Entry]:
    """Entries: ("inscription", None) or ("revocation", revoked seq)."""
    rows, prev = [], GENESIS
    for seq, (kind, target) in enumerate(specs, 1):
        if kind == "inscription":
            deed = public_deed({**COPY, "id": f"d{seq}", "title": f"Việc {seq}"})
            f = inscription(book="B", seq=seq, prev_hash=prev, deed=deed, decision={"number": f"{seq}/QĐ"},
                            tally={"period": "2024-05", "ratio": "6/7", "approve": 6, "entitled": 7}, at=AT)
        else:
            f = revocation(book="B", seq=seq, prev_hash=prev, target=rows[target - 1], reason="Sai sự thật",
                           decision={}, at=AT)
        rows.append(Entry.of(f))
        prev = f["hash"]
    return rows


def test_a_revoked_deed_leaves_the_public_view_with_a_notice():
    items = pub.public_items("B", chain_of(("inscription", None), ("inscription", None), ("revocation", 1)))
    first, second, notice = items
    assert first.revoked and not first.honoured and first.deed is None
    assert "Việc 1" not in first.title + first.text
    assert "thu hồi" in first.text and "Sai sự thật" in first.text and first.revoked_by == 3
    assert second.honoured and second.title == "Việc 2" and second.deed["title"] == "Việc 2"
    assert notice.kind == "revocation" and notice.revokes == 1 and notice.period == "2024-05"
    assert [i.seq for i in pub.honoured_in(items, "2024-05")] == [1, 2]
    assert pub.periods_of(items) == [("2024-05", 1)]


def test_deed_text_is_plain_text_with_the_decision_and_tally():
    text = pub.deed_text(
        {"description": "<b>x</b>", "author": {"name": "A"}, "kind": "feat", "relation": "direct", "occurred_on": "2024-05-02"},
        {"number": "3/QĐ-CAH-DM", "date": "2024-06-07", "issuer_name": "Công an huyện Đắk Mil"},
        {"ratio": "6/7", "approve": 6, "entitled": 7}, 4,
    )
    assert text.startswith("<b>x</b>\n")
    assert "Chiến công — Trực tiếp vì Nhân dân" in text and "02/05/2024" in text
    assert "Quyết định công nhận số 3/QĐ-CAH-DM ngày 07/06/2024 của Công an huyện Đắk Mil" in text
    assert "6/7 thành viên tán thành" in text and "mục số 4" in text


# -- RFC 5005 paging ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("entries", "archives", "current"),
    [(0, 0, (1, 0)), (1, 0, (1, 1)), (50, 0, (1, 50)), (51, 1, (2, 51)), (100, 1, (51, 100)), (101, 2, (52, 101))],
)
def test_feed_paging(entries, archives, current):
    assert pub.FEED_PAGE == 50
    assert pub.archive_count(entries) == archives
    assert pub.current_range(entries) == current


def test_archive_ranges_and_where_an_entry_lives():
    assert pub.archive_range(1) == (1, 50) and pub.archive_range(2) == (51, 100)
    assert [pub.archive_of(s, 120) for s in (1, 50, 51, 100, 101, 120)] == [1, 1, 2, 2, None, None]


# -- figures --------------------------------------------------------------------------------------
def entry(book: str, seq: int, deed_id: str, unit: str, period: str, kind: str = "inscription",
          revokes: int | None = None) -> Entry:
    return Entry(book, seq, kind, revokes, None, {"id": deed_id, "unit": unit}, None, {"period": period},
                 "2024-06-07T10:00:00+07:00", GENESIS, "h")


def test_running_figures_count_provincial_inscriptions_not_revoked():
    rows = [
        entry("CAH-DM", 1, "a", "CAH-DM", "2024-05"),
        entry("CAH-DM", 2, "b", "CAH-DM", "2024-06"),
        entry("CAH-CJ", 1, "c", "CAH-CJ", "2024-07"),
        entry("CAH-CJ", 2, "c", "CAH-CJ", "2024-07", "revocation", 1),
        entry("CAT", 1, "a", "CAH-DM", "2024-Q2"),
        entry("CAT", 2, "x", "CAH-CJ", "2024-Q2"),
        entry("CAT", 3, "y", "CAH-CJ", "2024-Q3"),
        entry("CAT", 4, "y", "CAH-CJ", "2024-Q3", "revocation", 3),
    ]
    got = figures(rows, province_book="CAT", units=["CAH-CJ", "CAH-DM", "CAH-KN"], since="2021-09-01")
    assert got == {
        "since": "2021-09-01",
        "province_total": 2,
        "by_quarter": {"2024-Q2": 2},
        "by_unit": {"CAH-CJ": 1, "CAH-DM": 1, "CAH-KN": 0},
        "unit_books": {"total": 2, "by_quarter": {"2024-Q2": 2}, "by_unit": {"CAH-CJ": 0, "CAH-DM": 2, "CAH-KN": 0}},
    }
