"""R22 against a live ``sovang up``: ``sovang book import`` on the same SOVANG_HOME while the
system runs, as every other command works (API.md); what the running system serves shows the
paper book at once (its caches hear of the import), and a second import is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.harness import System, poll

pytestmark = pytest.mark.slow

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def test_the_paper_book_is_imported_while_sovang_up_runs(tmp_path):
    system = System(tmp_path / "home", {"SOVANG_DATABASE_URL": "", "SOVANG_BROKER_URL": ""})
    system.start()
    try:
        system.cli("org", "load", str(DATA / "dak-nong.json"))
        # Read once before, so that what the system keeps in memory must be let go of.
        assert system.http("GET", "/api/v1/figures").json["province_total"] == 0
        assert system.http("GET", "/feeds/CAT.json").json["items"] == []
        done = system.cli("book", "import", str(DATA / "paper-book-CAT.json"))
        assert "Đã nhập 40 mục vào sổ vàng CAT" in done.stdout
        figures = poll(lambda: system.http("GET", "/api/v1/figures").json, lambda f: f["province_total"] == 40)
        assert figures["province_total"] == 40
        feed = poll(lambda: system.http("GET", "/feeds/CAT.json").json, lambda f: len(f["items"]) == 40)
        assert len(feed["items"]) == 40 and feed["items"][0]["url"].endswith("/verify/CAT/40")
        assert feed["_sovang"]["signed_head"]["entries"] == 40
        verdict = system.http("GET", "/api/v1/books/CAT/verify").json
        assert (verdict["valid"], verdict["signed_heads"]) == (True, 40)
        assert system.http("GET", "/api/v1/books/CAT/entries/1").json["source"] == "paper"
        again = system.cli("book", "import", str(DATA / "paper-book-CAT.json"), check=False)
        assert again.returncode != 0 and "đã có 40 mục" in again.stderr
        bad = tmp_path / "bad.json"
        doc = json.loads((DATA / "paper-book-CAT.json").read_text("utf-8"))
        doc["book"] = "CAH-DM"
        doc["entries"][0]["deed"]["title"] = ""
        bad.write_text(json.dumps(doc, ensure_ascii=False), "utf-8")
        refused = system.cli("book", "import", str(bad), check=False)
        assert refused.returncode != 0 and "entries[0].deed.title" in refused.stderr
        assert system.http("GET", "/api/v1/books/CAH-DM/entries").json["items"] == []
    finally:
        code = system.stop()
    assert code == 0, system.tail()
