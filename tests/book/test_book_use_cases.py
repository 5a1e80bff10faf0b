"""The book's use cases on a unit of work held in memory (tests/book/fakes.py): the rules of
inscribing (R8, R14, R15, R15b, R25), revoking (R15a) and republishing (R16), fast and without a
database. The repository and the whole paths are the database tests' (test_book_inscribe.py,
test_book_bounded.py, test_book_api.py …)."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path

import pytest
from book_helpers import (
    OTHER_SECRETARY,
    PROVINCE,
    PROVINCE_SECRETARY,
    UNIT,
    UNIT_SECRETARY,
    deed_copy,
    inscribe_command,
)
from fakes import FakeWork

from services.book import services
from services.book.domain.book import Book
from services.book.domain.chain import GENESIS, entry_hash
from services.book.signing import keyring
from shared import audit
from shared.auth import Principal
from shared.config import Settings
from shared.context import Context
from shared.messages import DeedInscribed, DeedRevoked, RepublishPages
from shared.org import Organisation, OrgRefused
from shared.refusals import Conflict, Forbidden, NotFound

NOW = dt.datetime(2024, 6, 7, 3, 0, 0, 123456, tzinfo=dt.UTC)
SECRETARY = Principal("unit_secretary", UNIT_SECRETARY)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path)


@pytest.fixture
def org(org_document: dict) -> Organisation:
    return Organisation.from_document(org_document)


@pytest.fixture
def ctx(settings: Settings, org: Organisation) -> Context:
    return Context.fixed(settings, org, NOW, NOW.date())


@pytest.fixture
def uow(org: Organisation) -> FakeWork:
    work = FakeWork()
    for code, (name, kind) in services.books_of(org).items():
        work.books.add(code, name, kind, NOW - dt.timedelta(days=30))
    return work


def inscribed(uow: FakeWork, ctx: Context, book: str = UNIT, **kwargs: object) -> int:
    seq = services.inscribe(uow, ctx, inscribe_command(book, **kwargs))
    assert seq is not None
    return seq


# -- inscribing ---------------------------------------------------------------------------------------
def test_an_inscription_is_chained_signed_counted_and_told(uow, ctx, settings):
    """R8, R14, R15, R15b, R16: the next seq, chained to the head, signed, counted; intake hears of
    it and the pages follow one message later; the feeds are published with it."""
    first, second = inscribed(uow, ctx), inscribed(uow, ctx)
    assert (first, second) == (1, 2)
    one, two = uow.books.of(UNIT)
    assert one.prev_hash == GENESIS and two.prev_hash == one.hash
    assert all(entry_hash(e.fields()) == e.hash for e in (one, two))
    book = uow.books.get(UNIT)
    assert (book.entries, book.head, book.updated_at) == (2, two.hash, NOW.replace(microsecond=0))
    assert [(h.entries, h.head) for h in uow.books.heads] == [(1, one.hash), (2, two.hash)]
    assert all(keyring(settings).holds(h) for h in uow.books.heads)
    assert uow.books.counted == [("unit", one.deed_id), ("unit", two.deed_id)]
    assert [type(m) for m in uow.messages] == [DeedInscribed, RepublishPages] * 2
    assert uow.publications.published == [("entries_changed", UNIT, [1], "feeds"),
                                          ("entries_changed", UNIT, [2], "feeds")]
    assert uow.actions() == ["entry.inscribed", "entry.inscribed"]
    assert not uow.committed


def test_the_author_is_named_from_the_organisation_and_the_beneficiaries_never_copied(uow, ctx):
    """R16: the frozen public copy of the deed, the author's display name from the organisation."""
    deed = deed_copy(author={"officer": "CAH-DM-0001"})
    deed["beneficiaries"] = "Nguyễn Văn A, 0912 345 678"
    inscribed(uow, ctx, deed=deed)
    (entry,) = uow.books.of(UNIT)
    assert "beneficiaries" not in entry.deed
    assert entry.deed["author"]["name"] == ctx.organisation.author_name({"officer": "CAH-DM-0001"})


def test_a_command_delivered_twice_is_inscribed_once(uow, ctx):
    """R14: the same ``source`` again creates nothing."""
    msg = inscribe_command(UNIT)
    assert services.inscribe(uow, ctx, msg) == 1
    assert services.inscribe(uow, ctx, msg) is None
    assert len(uow.books.of(UNIT)) == 1 and len(uow.messages) == 2


def test_a_closed_book_takes_no_inscription_and_says_so_on_its_record(uow, ctx):
    """R25: a closed book is never written again; the refusal is on its audit record."""
    uow.books.close(UNIT, NOW)
    assert services.inscribe(uow, ctx, inscribe_command(UNIT)) is None
    assert uow.books.of(UNIT) == [] and uow.messages == []
    assert uow.actions() == ["entry.refused"] and uow.lines[0][4]["reason"] == "book_closed"


def test_a_revoked_recognition_is_never_inscribed_again(uow, ctx):
    """R15a: once a unit book revoked the deed, no book inscribes it again."""
    deed = deed_copy()
    inscribed(uow, ctx, deed=deed)
    services.revoke(uow, ctx, SECRETARY, services.revocable(uow, ctx, SECRETARY, UNIT), 1, "Sai")
    assert services.inscribe(uow, ctx, inscribe_command(PROVINCE, deed=deed, round_kind="provincial")) is None
    assert uow.books.of(PROVINCE) == []


def test_a_book_the_organisation_names_is_opened_and_one_it_does_not_is_refused(uow, ctx, org):
    """R8: an organisation loaded since names a book not opened yet: its first entry opens it."""
    del uow.books.by_code["CAH-CJ"]
    assert inscribed(uow, ctx, "CAH-CJ", deed=deed_copy(unit="CAH-CJ")) == 1
    assert uow.books.get("CAH-CJ").name == org.units["CAH-CJ"].name
    with pytest.raises(NotFound, match="Không có sổ vàng mã NO-SUCH"):
        services.inscribe(uow, ctx, inscribe_command("NO-SUCH"))


def test_entries_never_go_back_in_time(uow, ctx):
    """R15: an entry stands no earlier than the book's last one (feeds stay in order)."""
    later = NOW + dt.timedelta(hours=1)
    uow.books.by_code[UNIT] = Book(UNIT, "x", "unit", 0, None, NOW, updated_at=later)
    inscribed(uow, ctx)
    assert uow.books.get(UNIT).updated_at == later


# -- revoking ---------------------------------------------------------------------------------------
def test_only_the_books_own_secretary_may_revoke(uow, ctx):
    """R15a: the unit's secretary for a unit book, the province secretary for the provincial one."""
    assert services.revocable(uow, ctx, SECRETARY, UNIT).code == UNIT
    assert services.revocable(uow, ctx, Principal("province_secretary", PROVINCE_SECRETARY), PROVINCE).code == PROVINCE
    for who, code in [(Principal("unit_secretary", OTHER_SECRETARY), UNIT), (SECRETARY, PROVINCE),
                      (Principal("province_secretary", PROVINCE_SECRETARY), UNIT)]:
        with pytest.raises(Forbidden, match=f"sổ vàng {code}"):
            services.revocable(uow, ctx, who, code)


def test_no_revocation_in_a_book_unknown_or_closed(uow, ctx):
    """R15a, R25."""
    with pytest.raises(NotFound, match="Không có sổ vàng mã NO-SUCH"):
        services.revocable(uow, ctx, SECRETARY, "NO-SUCH")
    uow.books.close(UNIT, NOW)
    with pytest.raises(Conflict, match="đã khoá"):
        services.revocable(uow, ctx, SECRETARY, UNIT)


def test_a_revocation_is_a_new_entry_naming_the_one_it_revokes(uow, ctx):
    """R15a: appended, chained and signed like any entry; the deed stays in the chain; the
    certificate stored for it goes; council hears it is withdrawn."""
    inscribed(uow, ctx)
    target = uow.books.entry(UNIT, 1)
    created = services.revoke(uow, ctx, SECRETARY, services.revocable(uow, ctx, SECRETARY, UNIT), 1, "Sai sự thật")
    assert (created.seq, created.kind, created.revokes, created.reason) == (2, "revocation", 1, "Sai sự thật")
    assert created.prev_hash == target.hash and created.deed == {"id": target.deed_id, "unit": UNIT}
    assert created.decision["by"] == UNIT_SECRETARY and created.decision["role"] == "unit_secretary"
    assert uow.books.entry(UNIT, 1) == target
    assert uow.books.get(UNIT).head == created.hash and len(uow.books.heads) == 2
    revoked = [m for m in uow.messages if isinstance(m, DeedRevoked)]
    assert [(m.deed_id, m.revokes, m.seq) for m in revoked] == [(target.deed_id, 1, 2)]
    assert ("certificate_revoked", UNIT, 1) in uow.publications.published
    assert uow.publications.published[-1] == ("entries_changed", UNIT, [1, 2], "all")
    assert uow.actions()[-1] == "entry.revoked"


@pytest.mark.parametrize(("seq", "refusal", "detail"), [
    (9, NotFound, "Sổ vàng CAH-DM không có mục số 9."),
    (2, Conflict, "Mục số 2 là một mục thu hồi, không thể thu hồi."),
    (1, Conflict, "Mục số 1 đã bị thu hồi (mục số 2)."),
])
def test_what_cannot_be_revoked_is_refused_and_nothing_is_written(uow, ctx, seq, refusal, detail):
    """R15a: only an inscription not yet revoked."""
    inscribed(uow, ctx)
    services.revoke(uow, ctx, SECRETARY, services.revocable(uow, ctx, SECRETARY, UNIT), 1, "Sai")
    before = (dict(uow.books.entries), len(uow.messages))
    with pytest.raises(refusal) as refused:
        services.revoke(uow, ctx, SECRETARY, services.revocable(uow, ctx, SECRETARY, UNIT), seq, "Lần nữa")
    assert refused.value.detail == detail
    assert (uow.books.entries, len(uow.messages)) == before


# -- the pages one message later (R16) ----------------------------------------------------------------
def test_pages_are_published_once_for_every_entry_since_the_last_published(uow, ctx):
    """R16: the first message of a burst publishes the pages of all; the others find nothing to do."""
    for _ in range(3):
        inscribed(uow, ctx)
    uow.publications.published.clear()
    assert services.republish_pages(uow, ctx, RepublishPages(book=UNIT, seqs=[1], at=NOW.isoformat())) is True
    assert uow.publications.published == [("entries_changed", UNIT, [1, 2, 3], "pages")]
    assert uow.books.get(UNIT).pages_seq == 3
    assert services.republish_pages(uow, ctx, RepublishPages(book=UNIT, seqs=[3], at=NOW.isoformat())) is True
    assert len(uow.publications.published) == 1
    assert services.republish_pages(uow, ctx, RepublishPages(book=UNIT, seqs=[7], at=NOW.isoformat())) is False
    assert services.republish_pages(uow, ctx, RepublishPages(book="NO-SUCH", seqs=[1], at=NOW.isoformat())) is False


# -- the organisation (R25) ---------------------------------------------------------------------------
def test_loading_an_organisation_opens_its_books_and_closes_those_of_units_gone(org_document, org, ctx):
    """R25: a book per unit and the province; a unit gone, its book closed (kept, never written)."""
    uow = FakeWork()
    assert services.load_org(uow, ctx, org_document) is True
    assert {b.code for b in uow.books.every()} == set(services.books_of(org))
    assert services.load_org(uow, ctx, org_document) is False
    smaller = copy.deepcopy(org_document)
    gone = smaller["units"].pop()
    assert services.load_org(uow, ctx, smaller) is True
    assert uow.books.get(gone["code"]).closed and uow.actions() == ["book.closed"]
    with pytest.raises(OrgRefused):
        services.load_org(uow, ctx, org_document, actor=audit.CLI)
