"""R24: a token revoked with ``sovang token revoke`` stops working at a running service within a
second, although each web process keeps the rows of the tokens in use for a moment
(``shared.auth.TOKEN_FRESH_SECONDS``) instead of reading them on every request.

The service is intake's app in this process, its cache warm; the revocation is the command line
in a process of its own, as an administrator runs it, so nothing tells the app but its database."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from services.intake import DECLARATION
from services.intake.app import build_runtime, create_app
from shared import auth
from shared.auth import new_token, store_token
from shared.config import Settings
from sovang.processes import python_argv
from tests.intake.conftest import auth as bearer
from tests.intake.conftest import people_of

ROOT = Path(__file__).resolve().parents[2]
DEEDS = "/api/v1/deeds?limit=1"


def _revoke_elsewhere(env: dict[str, str], token: str) -> None:
    done = subprocess.run(python_argv("token", "revoke", token), env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert "Đã thu hồi mã." in done.stdout


def _check(settings: Settings, env: dict[str, str], org_document: dict) -> None:
    rt = build_runtime(settings)
    rt.migrate()
    DECLARATION.load_org(rt, org_document)
    client = create_app(runtime=rt).test_client()
    officer = people_of(org_document).officer
    token = new_token()
    with rt.db.unit_of_work() as uow:
        store_token(uow, token, "officer", officer, 1)
        uow.commit()
    try:
        # In use: its row is kept by this process from now on.
        assert client.get(DEEDS, headers=bearer(token)).status_code == 200
        assert auth.TOKEN_FRESH_SECONDS < 1.0
        _revoke_elsewhere(env, token)
        revoked_at = time.monotonic()
        # Whatever the cache held before, a request begun a second after the revocation is refused.
        time.sleep(max(0.0, 1.0 - (time.monotonic() - revoked_at)))
        r = client.get(DEEDS, headers=bearer(token))
        assert r.status_code == 401 and r.mimetype == "application/problem+json"
        assert "thu hồi" in r.get_json()["detail"]
        # And it stays refused.
        assert client.get(DEEDS, headers=bearer(token)).status_code == 401
    finally:
        rt.db.dispose()


def test_a_token_revoked_elsewhere_stops_working_within_a_second(tmp_path: Path, org_document: dict) -> None:
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items()
           if k not in ("SOVANG_DATABASE_URL", "SOVANG_BROKER_URL", "SOVANG_ADMINS", "SOVANG_SESSION_KEY")}
    env["SOVANG_HOME"] = str(home)
    _check(Settings(home=home), env, org_document)


@pytest.mark.distributed
def test_a_token_revoked_elsewhere_stops_working_within_a_second_on_postgresql(
        pg_settings: Settings, pg_database: str, redis_url: str, org_document: dict) -> None:
    env = {**os.environ, "SOVANG_HOME": str(pg_settings.home), "SOVANG_DATABASE_URL": pg_database,
           "SOVANG_BROKER_URL": redis_url}
    _check(pg_settings, env, org_document)


def test_a_token_revoked_in_this_process_stops_working_at_once(sqlite_settings: Settings, org_document: dict) -> None:
    """The same process (``sovang user signout``, the embedded default's one process) need not
    wait: its revocation forgets the rows kept."""
    rt = build_runtime(sqlite_settings)
    rt.migrate()
    DECLARATION.load_org(rt, org_document)
    client = create_app(runtime=rt).test_client()
    token = new_token()
    with rt.db.unit_of_work() as uow:
        store_token(uow, token, "officer", people_of(org_document).officer, 1)
        uow.commit()
    try:
        assert client.get(DEEDS, headers=bearer(token)).status_code == 200
        with rt.db.unit_of_work() as uow:
            assert auth.revoke_token(uow, token)
            uow.commit()
        assert client.get(DEEDS, headers=bearer(token)).status_code == 401
    finally:
        rt.db.dispose()
