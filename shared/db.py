"""One service's database: engines, the unit of work, and its Alembic migrations.

Each service owns its database: a SQLite file in the embedded default, its own schema of the
shared PostgreSQL database in the distributed deployment (set through ``search_path``, so the
same unqualified table names work in both).
"""

from __future__ import annotations

import datetime as dt
import logging
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from shared.config import Settings

log = logging.getLogger(__name__)


class Instant(sa.types.TypeDecorator):
    """An aware instant stored as UTC; SQLite keeps no offset, so it is restored on the way out."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):  # noqa: ANN001
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to an Instant column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):  # noqa: ANN001
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _sqlite_engine(url: str, immediate: bool) -> Engine:
    path = url.removeprefix("sqlite:///")
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # noqa: ANN001
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own is deferred).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # noqa: ANN001
        # Writers take the write lock at the start (ARCHITECTURE.md): no upgrade deadlocks.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def make_engine(url: str, schema: str | None, immediate: bool = True) -> Engine:
    if url.startswith("sqlite"):
        return _sqlite_engine(url, immediate)
    connect_args = {"options": f"-csearch_path={schema}"} if schema else {}
    return sa.create_engine(url, connect_args=connect_args, pool_pre_ping=True, pool_size=5, max_overflow=10)


class Database:
    """The engines and sessions of one service."""

    def __init__(self, settings: Settings, service: str) -> None:
        self.settings = settings
        self.service = service
        self.url = settings.database_url_for(service)
        self.schema = settings.schema_for(service)
        self.engine = make_engine(self.url, self.schema, immediate=True)
        # SQLite readers need no write lock; PostgreSQL uses one engine for both.
        self.read_engine = (
            make_engine(self.url, self.schema, immediate=False) if self.is_sqlite else self.engine
        )
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(self.read_engine, expire_on_commit=False)
        self.after_commit: list[Callable[[], None]] = []

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    @property
    def is_postgres(self) -> bool:
        return self.url.startswith("postgresql")

    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(self)

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only session: never commits."""
        session = self._read_sessions()
        try:
            yield session
        finally:
            session.rollback()
            session.close()

    def ping(self) -> None:
        with self.read_engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")

    def dispose(self) -> None:
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()

    # -- migrations ---------------------------------------------------------------------------
    def migrate(self, migrations_dir: Path) -> None:
        """Bring the schema to the newest revision (Alembic), safe to run from several processes."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(migrations_dir))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        with self.engine.connect() as conn:
            if self.is_postgres:
                # Two processes migrating at once wait for each other instead of racing.
                conn.exec_driver_sql(f"SELECT pg_advisory_lock({zlib.crc32(self.service.encode())})")
                conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                conn.commit()
            try:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
                conn.commit()
            finally:
                if self.is_postgres:
                    conn.exec_driver_sql(f"SELECT pg_advisory_unlock({zlib.crc32(self.service.encode())})")
                    conn.commit()


class UnitOfWork:
    """A transaction that rolls back unless the use case calls ``commit()`` (cosmicpython).

    Messages emitted through ``emit`` are written to the outbox in the same transaction.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self.session: Session
        self.emitted = 0

    def __enter__(self) -> UnitOfWork:
        self.session = self.db._sessions()
        return self

    def __exit__(self, *exc: object) -> None:
        self.session.rollback()
        self.session.close()

    def emit(self, message: object) -> None:
        from shared.outbox import add_to_outbox

        add_to_outbox(self.session, message)
        self.emitted += 1

    def emit_many(self, messages: list) -> None:
        """Emit several messages with one INSERT (a batch's worth), in order."""
        from shared.outbox import add_many_to_outbox

        add_many_to_outbox(self.session, list(messages))
        self.emitted += len(messages)

    def commit(self) -> None:
        self.session.commit()
        if not self.emitted:
            return
        self.emitted = 0
        for hook in self.db.after_commit:
            try:
                hook()
            except Exception:  # a wake-up hint must never fail a committed use case
                log.debug("after-commit hook failed", exc_info=True)
