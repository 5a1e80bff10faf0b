"""R23 at the command line: issuing and revoking access are in every service's audit record,
written with the token in the same transaction; the token itself never is."""

from __future__ import annotations

import json
import os

from werkzeug.test import Client

from shared.config import Settings
from sovang import cli
from sovang.gateway import create_gateway
from tests.conftest import ORG_FILE


def test_r23_tokens_issued_and_revoked_are_recorded_in_every_service(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("SOVANG_HOME", str(tmp_path / "home"))
    for name in [k for k in os.environ if k.startswith("SOVANG_") and k != "SOVANG_HOME"]:
        monkeypatch.delenv(name, raising=False)
    assert cli.main(["org", "load", str(ORG_FILE)]) == 0
    assert cli.main(["token", "issue", "--role", "unit_secretary", "--subject", "CAH-DM-0008"]) == 0
    secretary = capsys.readouterr().out.strip().splitlines()[-1]
    assert cli.main(["token", "issue", "--role", "officer", "--subject", "CAH-DM-0010"]) == 0
    officer = capsys.readouterr().out.strip().splitlines()[-1]
    assert cli.main(["token", "revoke", officer]) == 0
    capsys.readouterr()

    client = Client(create_gateway(Settings(home=tmp_path / "home")))
    for service in ("intake", "council", "book"):
        r = client.get(f"/api/v1/audit/{service}", headers={"Authorization": f"Bearer {secretary}"})
        assert r.status_code == 200, r.get_data(as_text=True)
        lines = json.loads(r.get_data())["items"]
        assert [(x["action"], x["object"], x["actor"]) for x in lines] == [
            ("token.issued", "unit_secretary:CAH-DM-0008", {"role": "admin", "subject": "cli"}),
            ("token.issued", "officer:CAH-DM-0010", {"role": "admin", "subject": "cli"}),
            ("token.revoked", "officer:CAH-DM-0010", {"role": "admin", "subject": "cli"}),
        ], service
        text = r.get_data(as_text=True)
        assert secretary not in text and officer not in text


def test_r23_loading_an_organisation_is_recorded_once(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SOVANG_HOME", str(tmp_path / "home"))
    for name in [k for k in os.environ if k.startswith("SOVANG_") and k != "SOVANG_HOME"]:
        monkeypatch.delenv(name, raising=False)
    for _ in range(2):  # the same file again changes nothing, and records nothing
        assert cli.main(["org", "load", str(ORG_FILE)]) == 0
    assert cli.main(["token", "issue", "--role", "province_secretary", "--subject", "CAT-0012"]) == 0
    from shared.db import Database

    for service in ("intake", "council", "book"):
        db = Database(Settings(home=tmp_path / "home"), service)
        with db.reading() as s:
            from shared.audit import audit_log

            rows = s.execute(audit_log.select().where(audit_log.c.action == "org.loaded")).all()
        db.dispose()
        assert [(r.role, r.subject, r.unit, r.details["units"]) for r in rows] == [("admin", "cli", "CAT", 15)], service
