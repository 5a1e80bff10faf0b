"""One service's database: engines, the unit of work, and its Alembic migrations.

Each service owns its database: a SQLite file in the embedded default, its own schema of the
shared PostgreSQL database in the distributed deployment (set through ``search_path``, so the
same unqualified table names work in both).
"""

from __future__ import annotations

import logging
import os
import select
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from shared.columns import Instant, utcnow
from shared.config import Settings
from shared.outbox import add_many_to_outbox, add_to_outbox

log = logging.getLogger(__name__)

__all__ = ["Database", "Instant", "UnitOfWork", "make_engine", "utcnow"]


def _fork_safe(engine: Engine) -> Engine:
    """A forked process (a Celery pool process) never uses a connection its parent opened.

    Two processes on one socket interleave their protocol, and closing it in one ends the
    other's session. SQLAlchemy's recipe: a connection checked out in another process than the
    one that opened it is dropped without being closed, and a new one is opened."""

    @event.listens_for(engine, "connect")
    def _opened_by(_dbapi_conn, record):  # noqa: ANN001
        record.info["pid"] = os.getpid()

    @event.listens_for(engine, "checkout")
    def _same_process(_dbapi_conn, record, proxy):  # noqa: ANN001
        if record.info.get("pid", os.getpid()) != os.getpid():
            record.dbapi_connection = proxy.dbapi_connection = None
            raise sa.exc.DisconnectionError("connection opened by another process")

    return engine


def _sqlite_engine(url: str, immediate: bool) -> Engine:
    path = url.removeprefix("sqlite:///")
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = _fork_safe(sa.create_engine(
        # R2a: a failed statement's error (and so a log line) never carries its values (a deed's
        # beneficiaries, say); the statement itself is enough to find the fault.
        url, connect_args={"check_same_thread": False, "timeout": 30}, hide_parameters=True,
    ))

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
    # No pool_pre_ping: it costs a round trip on every checkout. A connection the server closed
    # (a restart, pg_terminate_backend, an idle timeout) is found without one instead: the server
    # says goodbye before it closes, so the idle socket is readable, and the checkout below then
    # hands out a fresh connection; the next request does not fail. pool_recycle retires
    # connections before a firewall or proxy silently forgets them.
    # Registered first, so that a connection of the parent process is dropped before the check
    # below could look at (or close) a socket the parent still uses.
    engine = _fork_safe(sa.create_engine(
        url, connect_args=connect_args, pool_pre_ping=False, pool_recycle=300, pool_size=5, max_overflow=10,
        hide_parameters=True,  # R2a, as above
    ))

    def closed_by_server(dbapi_conn) -> bool:  # noqa: ANN001
        # An idle connection has nothing to read unless the server sent its termination notice
        # or hung up; poll (not select) has no ceiling on descriptor numbers.
        if dbapi_conn.closed:
            return True
        poller = select.poll()
        poller.register(dbapi_conn.fileno(), select.POLLIN | select.POLLPRI)
        return bool(poller.poll(0))

    @event.listens_for(engine, "checkout")
    def _refuse_closed(dbapi_conn, _record, _proxy):  # noqa: ANN001
        if closed_by_server(dbapi_conn):
            # The pool invalidates this connection and checks out another (SQLAlchemy's
            # documented pessimistic disconnect handling).
            raise sa.exc.DisconnectionError("connection closed by the server")

    return engine


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
        # What ``unit_of_work()`` opens: a service's own, with its repositories (intake's ``Work``).
        self.work_type: type[UnitOfWork] = UnitOfWork

    def _after_commit(self) -> None:
        for hook in self.after_commit:
            try:
                hook()
            except Exception:  # a wake-up hint must never fail a committed use case
                log.debug("after-commit hook failed", exc_info=True)

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    @property
    def is_postgres(self) -> bool:
        return self.url.startswith("postgresql")

    def unit_of_work(self) -> UnitOfWork:
        return self.work_type(self)

    def listen_to_writers(self, name: str, fn: Callable[..., object]) -> None:
        """Have ``fn`` hear SQLAlchemy's session event ``name`` (``do_orm_execute``,
        ``after_commit`` …) of this database's writing sessions only: reads pay nothing."""
        event.listen(self._sessions, name, fn)

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only session of its own: never commits."""
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
                # A service's own role owns its schema, made for it beforehand, and may create
                # nothing else (deploy/postgres-init.sh): CREATE SCHEMA IF NOT EXISTS would need
                # the right to create schemas even when it exists.
                exists = conn.exec_driver_sql(
                    "SELECT 1 FROM pg_namespace WHERE nspname = %(s)s", {"s": self.schema}).first()
                if not exists:
                    conn.exec_driver_sql(f'CREATE SCHEMA "{self.schema}"')
                conn.commit()
            try:
                cfg.attributes["connection"] = conn
                # A migration that needs more than the schema (the book's key, R15b) reads them here.
                cfg.attributes["settings"] = self.settings
                command.upgrade(cfg, "head")
                conn.commit()
            finally:
                if self.is_postgres:
                    conn.exec_driver_sql(f"SELECT pg_advisory_unlock({zlib.crc32(self.service.encode())})")
                    conn.commit()


class UnitOfWork:
    """One transaction, owned by whoever opened it: an entrypoint (a web request, a message, a
    scheduled job, a command) that runs a use case in it and commits once; it rolls back unless
    committed (cosmicpython). A use case never commits.

    Its sessions open at first use, so a request that never touches the database takes no
    connection. ``reader`` is where reads go: the same session, except on SQLite, where the
    writer takes the write lock as its transaction begins and reads keep to a reader's connection
    so that a GET never holds the lock. Messages emitted through ``emit`` are written to the outbox
    in the same transaction.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self.emitted = 0
        # How many times it committed: the edge tells by it that a view committed before it
        # answered (``shared.endpoint.answer_once``).
        self.commits = 0
        self._session: Session | None = None
        self._read_session: Session | None = None

    def __enter__(self) -> UnitOfWork:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def session(self) -> Session:
        if self._session is None:
            self._session = self.db._sessions()
        return self._session

    @property
    def reader(self) -> Session:
        if not self.db.is_sqlite:
            return self.session
        if self._session is not None:  # this transaction's own writes are read in it
            return self._session
        if self._read_session is None:
            self._read_session = self.db._read_sessions()
        return self._read_session

    def emit(self, message: object) -> None:
        add_to_outbox(self.session, message)
        self.emitted += 1

    def emit_many(self, messages: list) -> None:
        """Emit several messages with one INSERT (a batch's worth), in order."""
        add_many_to_outbox(self.session, list(messages))
        self.emitted += len(messages)

    def flush(self) -> None:
        """Send what is pending, so that a broken constraint fails here, inside the use case."""
        if self._session is not None:
            self._session.flush()

    def commit(self) -> None:
        emitted, self.emitted = self.emitted, 0
        if self._session is not None:
            self._session.commit()
        self.commits += 1
        if self._read_session is not None:
            self._read_session.rollback()
        if emitted:
            self.db._after_commit()

    def rollback(self) -> None:
        self.emitted = 0
        for session in (self._session, self._read_session):
            if session is not None:
                session.rollback()

    def close(self) -> None:
        """Roll back what was not committed and give the connections back."""
        for session in (self._session, self._read_session):
            if session is not None:
                session.rollback()
                session.close()
        self._session = self._read_session = None
        self.emitted = 0
