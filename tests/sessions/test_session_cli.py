"""R24 on the command line: ``sovang user password|signout`` and ``sovang token list|revoke
--subject`` (API.md, "The command line"), against the embedded default's files."""

from __future__ import annotations

import datetime as dt
import io
import sys
from pathlib import Path

import pytest
from werkzeug.test import Client

from services.intake import people
from shared.auth import flush_use_notes
from shared.config import Settings
from sovang.cli import main
from sovang.gateway import create_gateway
from tests.conftest import ORG_FILE
from tests.sessions.site import OFFICER, SECRETARY, Site, make_site


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    for name in ("SOVANG_DATABASE_URL", "SOVANG_BROKER_URL", "SOVANG_ADMINS", "SOVANG_SESSION_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SOVANG_HOME", str(home))
    assert main(["org", "load", str(ORG_FILE)]) == 0
    return home


def _stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))


def test_user_password_reads_the_first_line_of_stdin_and_the_person_signs_in(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _stdin(monkeypatch, "mật khẩu của tôi 123\nthe second line is not read\n")
    assert main(["user", "password", "--subject", OFFICER]) == 0
    assert OFFICER in capsys.readouterr().out
    site = Site(Settings.from_env(), {}, create_gateway(Settings.from_env()))
    c = site.sign_in(OFFICER, "mật khẩu của tôi 123")
    assert c.get("/api/v1/session").status_code == 200
    # signout ends it at once, everywhere
    assert main(["user", "signout", "--subject", OFFICER]) == 0
    assert "1 phiên" in capsys.readouterr().out
    assert c.get("/api/v1/session").status_code == 401
    assert c.get("/api/v1/rounds/x").status_code == 401


def test_user_password_refuses_a_short_one_and_an_unknown_person(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _stdin(monkeypatch, "ngắn\n")
    assert main(["user", "password", "--subject", OFFICER]) == 2
    assert "ít nhất" in capsys.readouterr().err
    _stdin(monkeypatch, "đủ dài rồi đấy\n")
    assert main(["user", "password", "--subject", "CAH-XX-9999"]) == 2


def test_token_list_shows_tokens_in_force_without_their_secret_and_revoke_by_subject(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["token", "issue", "--role", "unit_secretary", "--subject", SECRETARY]) == 0
    secret = capsys.readouterr().out.strip()
    assert main(["token", "issue", "--role", "officer", "--subject", SECRETARY, "--ttl-days", "3"]) == 0
    assert main(["token", "issue", "--role", "officer", "--subject", OFFICER]) == 0
    capsys.readouterr()
    # Used once: "last used" is filled in.
    client = Client(create_gateway(Settings.from_env()))
    assert client.get("/api/v1/deeds?limit=1", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    flush_use_notes()  # what the once-a-minute timer does

    assert main(["token", "list", "--subject", SECRETARY]) == 0
    out = capsys.readouterr().out
    assert secret not in out
    lines = out.strip().splitlines()
    assert lines[0].split("\t") == ["role", "subject", "issued", "expires", "last_used"]
    rows = [line.split("\t") for line in lines[1:]]
    assert sorted(r[0] for r in rows) == ["officer", "unit_secretary"]
    assert all(r[1] == SECRETARY for r in rows)
    used = next(r for r in rows if r[0] == "unit_secretary")
    assert used[4] != "-" and used[4].endswith("+07:00")
    # The default lifetime is 90 days.
    issued, expires = dt.datetime.fromisoformat(used[2]), dt.datetime.fromisoformat(used[3])
    assert (expires - issued).days == 90

    assert main(["token", "list"]) == 0
    assert OFFICER in capsys.readouterr().out

    assert main(["token", "revoke", "--subject", SECRETARY]) == 0
    assert "2 mã" in capsys.readouterr().out
    assert client.get("/api/v1/deeds?limit=1", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    assert main(["token", "list", "--subject", SECRETARY]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 1
    assert main(["token", "revoke"]) == 2


def test_the_session_store_on_postgresql(pg_settings, org_document) -> None:  # noqa: ANN001
    """The same sessions on the distributed path: PostgreSQL tables, Redis broker."""
    site = make_site(pg_settings, org_document)
    c = site.sign_in(SECRETARY)
    assert c.get("/api/v1/deeds?limit=1").status_code == 200
    csrf = c.get("/api/v1/session").get_json()["csrf_token"]
    assert c.post("/api/v1/rounds", json={}).status_code == 403
    assert c.post("/api/v1/rounds", json={}, headers={"X-CSRF-Token": csrf}).status_code == 422
    assert site.client().post("/api/v1/session", json={"subject": SECRETARY, "password": "sai"}).status_code == 401
    assert site.runtimes["intake"].run(people.sign_out_everywhere, "cli", SECRETARY) == 1
    assert c.get("/api/v1/rounds/x").status_code == 401
    site.close()
