"""deeds.search_text: a trigram index, so that ``q`` (R4, ``search_text LIKE '%word%'``) does not
read every deed of the unit (PostgreSQL only; SQLite keeps the scan, fine at embedded sizes)

Revision ID: 0004_intake_search_trigram
Revises: 0003_intake_outbox_confirmed
"""

from alembic import op

revision = "0004_intake_search_trigram"
down_revision = "0003_intake_outbox_confirmed"
branch_labels = None
depends_on = None

_FIND = ("SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
         "WHERE e.extname = 'pg_trgm'")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    # The extension is the database's, shared by every service's schema: kept in public (not in
    # this service's schema, which the search_path would pick), and named where it already is.
    schema = bind.exec_driver_sql(_FIND).scalar()
    if schema is None:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public")
        schema = bind.exec_driver_sql(_FIND).scalar()
    op.execute(f'CREATE INDEX ix_deeds_search_trgm ON deeds USING gin (search_text "{schema}".gin_trgm_ops)')


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_deeds_search_trgm")
