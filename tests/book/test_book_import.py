"""R22: the paper books kept since 2021-09, imported once into a book with no entry (``sovang book
import``, format ``sovang-paper-book/1``): all or nothing, entries marked ``source: paper`` with
their original decisions and tallies, chained and signed as any entry (R15, R15b), counted by the
running figures (R16); R3 does not apply, R4a does. The repository's example is the province's
paper book: 40 entries by November 2022, as the article says."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from book_helpers import PROVINCE, UNIT, deed_copy, make_runtime

from services.book import services
from services.book.app import create_app, run
from services.book.domain import paper
from services.book.orm import books, entries, heads
from shared import audit
from shared.refusals import Conflict, Invalid, NotFound
from shared.runtime import Runtime
from sovang import cli

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "shared" / "data" / "paper-book-CAT.json"
SINCE, TODAY = dt.date(2021, 9, 1), dt.date(2026, 12, 1)


def example() -> dict:
    return json.loads(EXAMPLE.read_text("utf-8"))


def counts(runtime: Runtime) -> tuple[int, int, int]:
    """(entries, signed heads, books' recorded entries) over every book: what an import writes."""
    with runtime.db.reading() as s:
        return (s.execute(sa.select(sa.func.count()).select_from(entries)).scalar(),
                s.execute(sa.select(sa.func.count()).select_from(heads)).scalar(),
                s.execute(sa.select(sa.func.sum(books.c.entries))).scalar())


# -- reading the file ---------------------------------------------------------------------------
def test_the_example_is_the_provinces_paper_book_of_40_entries_to_november_2022():
    book = paper.read(example(), SINCE, TODAY)
    assert book.book == PROVINCE and len(book.entries) == 40
    assert book.entries[0].inscribed_on >= SINCE and book.entries[-1].decision["date"] <= "2022-11-30"
    assert all(e.decision["source"] == "paper" and e.tally["entitled"] == 5 for e in book.entries)
    assert all(100 * e.tally["approve"] >= 80 * e.tally["entitled"] for e in book.entries)  # R7 on paper too
    assert len({e.deed["id"] for e in book.entries}) == 40
    assert paper.read(example(), SINCE, TODAY) == book  # the same file, the same entries


def broken(change) -> dict[str, list[str]]:  # noqa: ANN001
    doc = example()
    change(doc)
    with pytest.raises(paper.PaperBookInvalid) as refused:
        paper.read(doc, SINCE, TODAY)
    return refused.value.errors


def test_every_problem_is_named_by_its_place_in_the_file():
    assert "format" in broken(lambda d: d.update(format="sovang-paper-book/2"))
    assert "entries" in broken(lambda d: d.update(entries=[]))
    assert broken(lambda d: d["entries"][3]["deed"].update(title=""))["entries[3].deed.title"] == ["Từ 1 đến 200 ký tự."]
    assert "entries[5].deed.colour" in broken(lambda d: d["entries"][5]["deed"].update(colour="đỏ"))
    assert "entries[0].decision.number" in broken(lambda d: d["entries"][0]["decision"].pop("number"))
    assert "entries[2].tally.approve" in broken(lambda d: d["entries"][2]["tally"].update(approve=6))
    assert "entries[2].tally.entitled" in broken(lambda d: d["entries"][2]["tally"].update(entitled="5"))
    assert "entries[7].deed.kind" in broken(lambda d: d["entries"][7]["deed"].update(kind="hero"))
    assert "entries[1].deed.author" in broken(lambda d: d["entries"][1]["deed"].update(
        author={"officer": "CAT-0001", "name": "Hai tác giả"}))
    assert "entries[4].decision.date" in broken(lambda d: d["entries"][4]["decision"].update(date="2022-02-30"))
    assert "entries[9].inscribed_on" in broken(lambda d: d["entries"][9].update(inscribed_on="2027-01-01"))
    assert "entries[0].inscribed_on" in broken(lambda d: d["entries"][0].update(inscribed_on="2021-08-31"))
    # Out of book order; a decision after its inscription; a deed after its decision.
    assert "entries[39].inscribed_on" in broken(lambda d: d["entries"][39].update(inscribed_on="2021-10-18"))
    assert "entries[6].inscribed_on" in broken(lambda d: d["entries"][6].update(inscribed_on="2022-01-10"))
    assert "entries[8].deed.occurred_on" in broken(lambda d: d["entries"][8]["deed"].update(occurred_on="2022-02-01"))


@pytest.mark.parametrize("text", ["Cứu người\x00", "Cứu\u0085người", "Cứu \ufdd0người", "Cứu \ud800người"])
def test_r4a_text_that_cannot_be_stored_is_refused(text):
    errors = broken(lambda d: d["entries"][0]["deed"].update(title=text))
    assert "entries[0].deed.title" in errors


def test_r3_does_not_apply_old_deeds_are_accepted():
    """A deed of 2021 recorded today would be refused by R3; from the paper book it is entered."""
    book = paper.read(example(), SINCE, TODAY)
    assert book.entries[0].deed["occurred_on"] == "2021-09-22"


# -- importing ----------------------------------------------------------------------------------
def import_is_whole(runtime: Runtime) -> None:
    client = create_app(runtime=runtime).test_client()
    created = run(runtime, services.import_paper_book, audit.CLI, example())
    assert [e.seq for e in created] == list(range(1, 41))
    listed = client.get(f"/api/v1/books/{PROVINCE}/entries?limit=500").get_json()["items"]
    assert len(listed) == 40 and {e["source"] for e in listed} == {"paper"}
    first = listed[0]
    assert first["decision"]["number"] == "1968/QĐ-CAT-PX01" and first["decision"]["date"] == "2021-10-15"
    assert first["inscribed_at"] == "2021-10-18T00:00:00+07:00"
    assert first["tally"] == {"approve": 5, "entitled": 5, "ratio": "5/5", "round_kind": "paper",
                                   "period": "2021-10"}
    assert first["deed"]["author"]["name"] == "Công an xã Quảng Trực"  # named from the organisation
    officer = next(e for e in listed if e["deed"]["author"].get("officer") == "CATP-GN-0005")
    assert officer["deed"]["author"]["name"] == "Thiếu tá Đặng Đình Đạt"
    named = next(e for e in listed if "officer" not in e["deed"]["author"] and "collective" not in e["deed"]["author"])
    assert named["deed"]["author"] == {"name": "Thượng úy Nguyễn Văn Tâm"}  # someone no longer in the organisation
    # Chained and signed as any entry (R15, R15b).
    verdict = client.get(f"/api/v1/books/{PROVINCE}/verify").get_json()
    assert (verdict["valid"], verdict["entries"], verdict["signed_heads"]) == (True, 40, 40)
    # The running figures count them (R16): 40 by November 2022.
    figures = client.get("/api/v1/figures").get_json()
    assert figures["since"] == "2021-09-01" and figures["province_total"] == 40
    assert sum(n for q, n in figures["by_quarter"].items() if q <= "2022-Q4") == 40
    assert figures["by_unit"]["CATP-GN"] == sum(e["deed"]["unit"] == "CATP-GN" for e in example()["entries"]) == 6
    # Published: the feed, the book's page, a month's page, the certificate.
    assert "Cứu 5 người trong đám cháy nhà trọ" in client.get(f"/feeds/{PROVINCE}.atom").data.decode()
    assert "đã ghi danh <strong>40</strong>" in client.get(f"/honour-roll/{PROVINCE}/").data.decode()
    assert "Truy bắt đối tượng cướp giật" in client.get(f"/honour-roll/{PROVINCE}/2021-10").data.decode()
    assert client.get(f"/api/v1/books/{PROVINCE}/entries/1/certificate.pdf").status_code == 200
    assert "nhập vào hệ thống từ sổ vàng giấy" in client.get(f"/verify/{PROVINCE}/1").data.decode()
    # R23: the import is recorded, once, as the operator's.

    with runtime.db.reading() as s:
        lines = s.execute(sa.select(audit.audit_log).where(audit.audit_log.c.action == "book.imported")).all()
    assert [(line.object, line.role, line.subject) for line in lines] == [(PROVINCE, "admin", "cli")]
    # Nothing was told to intake: these deeds were never recorded there.
    from book_helpers import sent_messages

    assert sent_messages(runtime, "intake.deed_inscribed") == []
    # A second import is refused and writes nothing.
    before = counts(runtime)
    with pytest.raises(Conflict, match="đã có 40 mục"):
        run(runtime, services.import_paper_book, audit.CLI, example())
    assert counts(runtime) == before
    # The book goes on: the system's next inscription follows the paper entries.
    from book_helpers import deliver, inscribe_command, republish

    deliver(runtime, inscribe_command(PROVINCE, deed=deed_copy("Sau sổ giấy"), period="2024-Q2",
                                      round_kind="provincial"))
    republish(runtime)
    nxt = client.get(f"/api/v1/books/{PROVINCE}/entries/41").get_json()
    assert nxt["source"] == "system" and nxt["prev_hash"] == listed[-1]["hash"]
    assert client.get("/api/v1/figures").get_json()["province_total"] == 41
    assert client.get(f"/api/v1/books/{PROVINCE}/verify").get_json()["valid"] is True


def test_the_example_imports_whole_into_the_provincial_book(runtime):
    import_is_whole(runtime)


@pytest.mark.distributed
def test_the_example_imports_whole_on_postgresql(web):
    import_is_whole(web)


def test_a_book_that_has_entries_is_refused_and_nothing_is_written(runtime, inscribe):
    inscribe(PROVINCE, period="2024-Q2", round_kind="provincial")
    before = counts(runtime)
    with pytest.raises(Conflict) as refused:
        run(runtime, services.import_paper_book, audit.CLI, example())
    assert "chưa có mục nào" in refused.value.detail
    assert counts(runtime) == before


def test_one_bad_entry_and_nothing_is_written(runtime):
    doc = example()
    doc["entries"][39]["tally"]["approve"] = 9
    before = counts(runtime)
    with pytest.raises(Invalid) as refused:
        run(runtime, services.import_paper_book, audit.CLI, doc)
    assert "entries[39].tally.approve" in refused.value.errors
    assert counts(runtime) == before == (0, 0, 0)
    create = create_app(runtime=runtime).test_client()
    assert create.get("/api/v1/figures").get_json()["province_total"] == 0


def test_an_unknown_book_is_refused(runtime):
    doc = example()
    doc["book"] = "CAH-XX"
    with pytest.raises(NotFound, match="Không có sổ vàng mã CAH-XX"):
        run(runtime, services.import_paper_book, audit.CLI, doc)


def test_a_unit_book_takes_its_own_paper_book(runtime):
    doc = {"format": paper.FORMAT, "book": UNIT, "entries": [copy.deepcopy(example()["entries"][5])]}
    doc["entries"][0]["deed"]["unit"] = UNIT
    created = run(runtime, services.import_paper_book, audit.CLI, doc)
    assert [(e.book, e.seq, e.decision["issuer"]) for e in created] == [(UNIT, 1, UNIT)]
    figures = create_app(runtime=runtime).test_client().get("/api/v1/figures").get_json()
    assert figures["province_total"] == 0 and figures["unit_books"]["total"] == 1


# -- the command --------------------------------------------------------------------------------
def run_cli(monkeypatch, home: Path, *args: str) -> int:  # noqa: ANN001
    for name in [n for n in __import__("os").environ if n.startswith("SOVANG_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SOVANG_HOME", str(home))
    return cli.main(list(args))


def test_the_command_imports_and_refuses_in_vietnamese(tmp_path, monkeypatch, capsys, org_document):
    home = tmp_path / "home"
    rt = make_runtime(cli.Settings(home=home), org_document)
    rt.db.dispose()
    bad = tmp_path / "bad.json"
    doc = example()
    doc["entries"][12]["deed"]["relation"] = "sideways"
    bad.write_text(json.dumps(doc, ensure_ascii=False), "utf-8")
    assert run_cli(monkeypatch, home, "book", "import", str(bad)) == 2
    err = capsys.readouterr().err
    assert "không mục nào được nhập" in err and "entries[12].deed.relation" in err
    (tmp_path / "not.json").write_text("{", "utf-8")
    assert run_cli(monkeypatch, home, "book", "import", str(tmp_path / "not.json")) == 2
    assert "không phải JSON" in capsys.readouterr().err
    assert run_cli(monkeypatch, home, "book", "import", str(EXAMPLE)) == 0
    assert "Đã nhập 40 mục vào sổ vàng CAT" in capsys.readouterr().out
    assert run_cli(monkeypatch, home, "book", "import", str(EXAMPLE)) == 2
    assert "đã có 40 mục" in capsys.readouterr().err
