"""R25 at the command line: ``sovang org load`` of the 2025 reform is refused while a unit it
dissolves still has introduced deeds waiting for their monthly round (R5a: they would be
stranded) — every problem named in Vietnamese, exit 2, nothing written in any service — and
loads, once, when nothing stands in the way."""

from __future__ import annotations

import json
import os

from werkzeug.test import Client

from shared import clock
from shared.config import Settings
from shared.db import Database
from shared.orgcopy import OrgCache
from shared.tables import org_documents
from sovang import cli
from sovang.gateway import create_gateway
from tests.conftest import ORG_FILE

REFORM_FILE = ORG_FILE.parent / "lam-dong-2025.json"


def _current(home) -> dict[str, tuple[str, int]]:  # noqa: ANN001
    found = {}
    for service in ("intake", "council", "book"):
        db = Database(Settings(home=home), service)
        with db.reading() as s:
            kept = s.execute(org_documents.select()).all()
        found[service] = (OrgCache(db, check_seconds=0).require().province_code, len(kept))
        db.dispose()
    return found


def test_r25_a_reform_that_would_strand_introduced_deeds_is_refused_everywhere(tmp_path, monkeypatch, capsys) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("SOVANG_HOME", str(home))
    for name in [k for k in os.environ if k.startswith("SOVANG_") and k != "SOVANG_HOME"]:
        monkeypatch.delenv(name, raising=False)
    assert cli.main(["org", "load", str(ORG_FILE)]) == 0
    assert cli.main(["token", "issue", "--role", "unit_secretary", "--subject", "CAH-DM-0008"]) == 0
    secretary = capsys.readouterr().out.strip().splitlines()[-1]
    client = Client(create_gateway(Settings(home=home)))
    headers = {"Authorization": f"Bearer {secretary}"}
    r = client.post("/api/v1/deeds", headers=headers, json={
        "author": {"officer": "CAH-DM-0010"}, "occurred_on": clock.today().isoformat(), "kind": "good_deed",
        "relation": "direct", "title": "Giúp dân chống lũ", "description": "Sơ tán bà con khỏi vùng ngập."})
    assert r.status_code == 201, r.get_data(as_text=True)
    deed = json.loads(r.get_data())["id"]
    assert client.post(f"/api/v1/deeds/{deed}/introduce", headers=headers, json={}).status_code == 200

    assert cli.main(["org", "load", str(REFORM_FILE)]) == 2
    err = capsys.readouterr().err
    assert "từ chối" in err and "CAH-DM" in err and "đã giới thiệu" in err
    assert _current(home) == {s: ("CAT", 1) for s in ("intake", "council", "book")}
    books = json.loads(client.get("/api/v1/books?limit=500").get_data())["items"]
    assert not [b for b in books if "closed_at" in b] and "CAT-LD" not in {b["code"] for b in books}

    # Another file with Đắk Mil kept (its deed waits for its round) loads, in every service, once.
    reform = json.loads(REFORM_FILE.read_text("utf-8"))
    original = json.loads(ORG_FILE.read_text("utf-8"))
    kept = next(u for u in original["units"] if u["code"] == "CAH-DM")
    reform["units"] = [u for u in reform["units"] if not u["code"].startswith("CAH-DM-")] + [kept]
    for o in reform["officers"]:
        o.update(next(x for x in original["officers"] if x["code"] == o["code"]) if o["code"].startswith("CAH-DM-")
                 else {})
    reform["province"]["council"]["members"].remove("CAH-DM-0001")
    path = tmp_path / "reform-keeping-dak-mil.json"
    path.write_text(json.dumps(reform, ensure_ascii=False), "utf-8")
    assert cli.main(["org", "load", str(path)]) == 0
    assert "intake" in capsys.readouterr().out
    assert cli.main(["org", "load", str(path)]) == 0
    assert "không có gì thay đổi" in capsys.readouterr().out
    assert _current(home) == {s: ("CAT-LD", 2) for s in ("intake", "council", "book")}
    books = {b["code"]: b for b in json.loads(client.get("/api/v1/books?limit=500").get_data())["items"]}
    assert "closed_at" in books["CAT"] and "closed_at" not in books["CAH-DM"] and "closed_at" in books["CAH-CJ"]
