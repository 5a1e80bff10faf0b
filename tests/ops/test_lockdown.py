"""Locked down (README, "Deployment"): secrets come from the environment or files, never from a
committed file; each service reaches PostgreSQL as its own role, owning its schema only."""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from shared.config import SERVICES, Settings
from sovang.cli import _runtimes

ROOT = Path(__file__).resolve().parents[2]


def test_passwords_and_urls_may_come_from_files(tmp_path):
    (tmp_path / "pw").write_text("p@ss/w:rd\n")
    (tmp_path / "url").write_text("postgresql+psycopg://app@db:5432/sovang\n")
    settings = Settings.from_env({
        "SOVANG_DATABASE_URL_FILE": str(tmp_path / "url"), "SOVANG_DATABASE_PASSWORD_FILE": str(tmp_path / "pw"),
        "SOVANG_BROKER_URL": "redis://sovang@redis:6379/0", "SOVANG_BROKER_PASSWORD": "s3cret",
    })
    assert sa.engine.make_url(settings.database_url).password == "p@ss/w:rd"
    assert settings.broker_url == "redis://sovang:s3cret@redis:6379/0"
    with pytest.raises(ValueError, match="SOVANG_BROKER_PASSWORD_FILE"):
        Settings.from_env({"SOVANG_BROKER_URL": "redis://r", "SOVANG_BROKER_PASSWORD_FILE": str(tmp_path / "none")})


def test_no_secret_is_committed_in_the_deployment_files():
    compose = (ROOT / "docker-compose.yml").read_text("utf-8")
    example = (ROOT / "deploy" / "sovang.env.example").read_text("utf-8")
    assert "POSTGRES_PASSWORD:" not in compose and "sovang:sovang@" not in example
    doc = yaml.safe_load(compose)
    assert set(doc["secrets"]) >= {"postgres_password", "redis_password", "message_key", "session_key",
                                   *(f"{s}_db_password" for s in SERVICES)}
    for name, service in doc["services"].items():
        env = service.get("environment") or {}
        for key, value in (env.items() if isinstance(env, dict) else []):
            assert not (("PASSWORD" in key or "KEY" in key) and not key.endswith("_FILE")), (name, key, value)
        if name not in ("postgres", "redis", "edge"):
            assert service.get("read_only") is True, name


@pytest.mark.distributed
def test_each_service_owns_its_schema_and_reaches_no_other(pg_database, tmp_path, org_document):
    url = sa.engine.make_url(pg_database)
    prefix = f"t{secrets.token_hex(3)}_"
    store = tmp_path / "secrets"
    store.mkdir()
    for service in SERVICES:
        (store / f"{service}_db_password").write_text(secrets.token_hex(8))
    env = {**os.environ, "PGHOST": url.host, "PGPORT": str(url.port or 5432), "POSTGRES_USER": url.username,
           "POSTGRES_DB": url.database, "SOVANG_SECRETS": str(store), "SOVANG_ROLE_PREFIX": prefix}
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        subprocess.run(["sh", str(ROOT / "deploy" / "postgres-init.sh")], env=env, check=True, capture_output=True)
        environ = {"SOVANG_HOME": str(tmp_path / "home")}
        for service in SERVICES:
            environ[f"SOVANG_{service.upper()}_DATABASE_URL"] = url.set(
                username=f"{prefix}{service}", password=None).render_as_string(hide_password=False)
            environ[f"SOVANG_{service.upper()}_DATABASE_PASSWORD_FILE"] = str(store / f"{service}_db_password")
        settings = Settings.from_env(environ)
        runtimes = _runtimes(settings)  # `sovang migrate`, each service as its own role
        try:
            intake = runtimes["intake"].db
            with intake.engine.connect() as conn:
                assert conn.exec_driver_sql("SELECT current_user").scalar() == f"{prefix}intake"
                assert conn.exec_driver_sql("SELECT count(*) FROM intake.deeds").scalar() == 0
                for forbidden in ("SELECT count(*) FROM council.rounds", "SELECT count(*) FROM book.entries",
                                  "CREATE SCHEMA elsewhere", "CREATE TABLE public.t (x int)"):
                    with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
                        conn.exec_driver_sql(forbidden)
                    conn.rollback()
            inside = sa.create_engine(url)
            with inside.connect() as conn:
                owners = dict(conn.execute(sa.text(
                    "SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'book'")).all())
            inside.dispose()
            assert owners and set(owners.values()) == {f"{prefix}book"}
        finally:
            for rt in runtimes.values():
                rt.db.dispose()
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
            for service in SERVICES:
                conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{prefix}{service}"')
        admin.dispose()
