"""What every service's Alembic ``env.py`` runs: migrations on the connection it is handed."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context


def run_migrations(target_metadata: sa.MetaData | None = None) -> None:
    conn = context.config.attributes.get("connection")
    if conn is not None:
        _run(conn, target_metadata)
        return
    engine = sa.create_engine(context.config.get_main_option("sqlalchemy.url"))
    try:
        with engine.connect() as conn:
            _run(conn, target_metadata)
            conn.commit()
    finally:
        engine.dispose()  # its pooled connection, left to the garbage collector, is a ResourceWarning


def _run(conn: sa.Connection, target_metadata: sa.MetaData | None) -> None:
    context.configure(
        connection=conn,
        target_metadata=target_metadata,
        render_as_batch=conn.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
