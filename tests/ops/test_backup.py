"""Backups proven (README, "Deployment"): deploy/backup of a populated system on PostgreSQL,
deploy/restore into an empty database, and the restored system answers the same: every book
verifies with the same head, every deed and its evidence file are there."""

from __future__ import annotations

import io
import os
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from services import REGISTRY
from services.book.app import create_app as create_book_app
from services.intake.app import build_runtime as build_intake
from services.intake.app import create_app as create_intake_app
from shared.auth import new_token, store_token
from shared.config import Settings
from tests.book.book_helpers import PROVINCE, UNIT, deed_copy, deliver, inscribe_command, make_runtime

ROOT = Path(__file__).resolve().parents[2]
OFFICER = "CAH-DM-0023"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4

pytestmark = pytest.mark.distributed


def _libpq(url: str) -> dict[str, str]:
    u = sa.engine.make_url(url)
    env = {"PGHOST": u.host or "127.0.0.1", "PGPORT": str(u.port or 5432), "PGUSER": u.username or "postgres",
           "PGDATABASE": u.database or ""}
    if u.password:
        env["PGPASSWORD"] = u.password
    return env


def _state(settings: Settings, deed_ids: list[str], token: str) -> dict:
    """What a user sees of the system: every book's verification, every deed and its evidence."""
    apps = [create_book_app(settings), create_intake_app(settings)]
    try:
        books, intake = (app.test_client() for app in apps)
        codes = [b["code"] for b in books.get("/api/v1/books?limit=200").get_json()["items"]]
        verified = {code: books.get(f"/api/v1/books/{code}/verify").get_json() for code in codes}
        headers = {"Authorization": f"Bearer {token}"}
        deeds = {}
        for deed_id in deed_ids:
            deed = intake.get(f"/api/v1/deeds/{deed_id}", headers=headers).get_json()
            files = [intake.get(f"/api/v1/deeds/{deed_id}/evidence/{e['sha256']}", headers=headers).data
                     for e in deed["evidence"]]
            deeds[deed_id] = (deed["title"], deed["status"], files)
    finally:
        for app in apps:  # their connections given back before the databases are dropped
            app.extensions["sovang"].db.dispose()
    return {"books": verified, "deeds": deeds}


@pytest.mark.skipif(shutil.which("pg_dump") is None, reason="pg_dump is missing (apt-get install postgresql-client)")
def test_a_backup_restored_into_an_empty_database_verifies_the_same(pg_settings, postgres_admin_url, org_document,
                                                                     tmp_path):
    # A populated system: deeds with evidence in intake, inscriptions in a unit's and the province's book.
    intake = build_intake(pg_settings)
    intake.migrate()
    REGISTRY["intake"].load_org(intake, org_document)
    intake.db.after_commit.clear()
    token = new_token()
    with intake.db.unit_of_work() as uow:
        store_token(uow, token, "officer", OFFICER, 1)
        uow.commit()
    client = create_intake_app(runtime=intake).test_client()
    headers = {"Authorization": f"Bearer {token}"}
    deed_ids = []
    for n in range(3):
        r = client.post("/api/v1/deeds", headers=headers, json={
            "author": {"officer": OFFICER}, "occurred_on": "2026-12-01", "kind": "good_deed",
            "relation": "direct", "title": f"Giúp đồng bào Ê Đê dựng nhà {n} — ổ ữ Đ",
            "description": "Cả tổ công tác giúp bà con dựng lại nhà sau bão."})
        assert r.status_code == 201, r.get_data(as_text=True)
        deed_ids.append(r.get_json()["id"])
    r = client.post(f"/api/v1/deeds/{deed_ids[0]}/evidence", headers=headers,
                    data={"file": (io.BytesIO(PNG), "anh.png")}, content_type="multipart/form-data")
    assert r.status_code == 201, r.get_data(as_text=True)
    book = make_runtime(pg_settings, org_document)
    for n in range(3):
        deliver(book, inscribe_command(UNIT, deed=deed_copy(f"Việc tốt {n}")))
    deliver(book, inscribe_command(PROVINCE, deed=deed_copy("Gương sáng của quý")))
    before = _state(pg_settings, deed_ids, token)
    assert before["books"][UNIT]["entries"] == 3 and before["books"][PROVINCE]["entries"] == 1
    assert before["deeds"][deed_ids[0]][2] == [PNG]
    for rt in (intake, book):
        rt.db.dispose()

    backup = tmp_path / "backup"
    done = subprocess.run([str(ROOT / "deploy" / "backup"), str(backup)], capture_output=True, text=True,
                          env={**os.environ, **_libpq(pg_settings.database_url), "SOVANG_HOME": str(pg_settings.home)})
    assert done.returncode == 0, done.stderr
    assert (backup / "sovang.dump").stat().st_size > 0

    empty = f"sovang_restore_{secrets.token_hex(4)}"
    admin = sa.create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{empty}"')
    try:
        restored_url = sa.engine.make_url(postgres_admin_url).set(database=empty).render_as_string(hide_password=False)
        home = tmp_path / "restored-home"
        done = subprocess.run([str(ROOT / "deploy" / "restore"), str(backup)], capture_output=True, text=True,
                              env={**os.environ, **_libpq(restored_url), "SOVANG_HOME": str(home)})
        assert done.returncode == 0, done.stderr
        restored = Settings(home=home, database_url=restored_url, broker_url=pg_settings.broker_url)
        after = _state(restored, deed_ids, token)
        assert after == before
        assert all(v["valid"] for v in after["books"].values())
        assert after["books"][UNIT]["head"] and after["books"][PROVINCE]["head"]  # the same heads: == above
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{empty}" WITH (FORCE)')
        admin.dispose()
