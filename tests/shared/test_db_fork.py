"""A Celery pool process is forked from a worker whose outbox relay already holds connections:
the child must open its own, never share (or close) one of its parent's."""

from __future__ import annotations

import os

import sqlalchemy as sa

from shared.db import make_engine


def _backend(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()


def test_a_forked_process_opens_its_own_connection_and_leaves_its_parents_alone(pg_database):
    engine = make_engine(pg_database, None)
    try:
        parent_backend = _backend(engine)  # now idle in the parent's pool
        read, write = os.pipe()
        child = os.fork()
        if child == 0:  # the child: what a pool process does first
            try:
                os.write(write, str(_backend(engine)).encode())
            finally:
                os._exit(0)
        os.close(write)
        _, status = os.waitpid(child, 0)
        child_backend = int(os.read(read, 32).decode())
        os.close(read)
        assert os.waitstatus_to_exitcode(status) == 0
        assert child_backend != parent_backend, "the child used its parent's connection"
        # The parent's connection survived the child's checkout and exit: same session, working.
        assert _backend(engine) == parent_backend
    finally:
        engine.dispose()
