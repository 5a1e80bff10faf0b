"""deeds.search_text holds the folded words each after one space (R4: a word of ``q`` matches the
start of a word, `` word``; the trigram index of 0004 still finds the word itself)

The stored text is recomputed from the title and the description; on PostgreSQL the trigram
index is dropped meanwhile and built again once (cheaper than updating it row by row).

Revision ID: 0007_intake_search_word_starts
Revises: 0006_intake_people_sessions
"""

import re
import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0007_intake_search_word_starts"
down_revision = "0006_intake_people_sessions"
branch_labels = None
depends_on = None

BATCH = 5_000
_FIND = ("SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
         "WHERE e.extname = 'pg_trgm'")
_deeds = sa.table("deeds", sa.column("id", sa.String), sa.column("title", sa.Text),
                  sa.column("description", sa.Text), sa.column("search_text", sa.Text))


def _rewrite(compute) -> None:  # noqa: ANN001
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    schema = bind.exec_driver_sql(_FIND).scalar() if postgres else None
    if schema is not None:
        op.execute("DROP INDEX IF EXISTS ix_deeds_search_trgm")
    after = ""
    update = sa.update(_deeds).where(_deeds.c.id == sa.bindparam("b_id")).values(search_text=sa.bindparam("b_text"))
    while True:
        rows = bind.execute(
            sa.select(_deeds.c.id, _deeds.c.title, _deeds.c.description)
            .where(_deeds.c.id > after).order_by(_deeds.c.id).limit(BATCH)
        ).all()
        if not rows:
            break
        bind.execute(update, [{"b_id": r.id, "b_text": compute(r.title, r.description)} for r in rows])
        after = rows[-1].id
    if schema is not None:
        op.execute(f'CREATE INDEX ix_deeds_search_trgm ON deeds USING gin (search_text "{schema}".gin_trgm_ops)')


def upgrade() -> None:
    from services.intake.domain.text import search_text

    _rewrite(search_text)


_MARKS = re.compile("[\u0300-\u036f]+")


def downgrade() -> None:
    def old(title: str, description: str) -> str:  # as 0004 searched it: the folded texts, a line apart
        def fold(text: str) -> str:
            stripped = _MARKS.sub("", unicodedata.normalize("NFD", text)).replace("đ", "d").replace("Đ", "D")
            return "".join(c for c in stripped if unicodedata.category(c) != "Mn").casefold()

        return "\n".join(fold(p) for p in (title, description) if p)

    _rewrite(old)
