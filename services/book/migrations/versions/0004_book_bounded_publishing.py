"""entries.period, quarter, deed_id, unit (indexed) and the running figures' counts

What each publication reads is found by index instead of decoding every entry: the columns repeat
what an entry's stored JSON says (``indexed_fields``) and are filled for the existing rows here;
``figure_deeds`` and ``figure_counts`` are counted from the existing entries as the recount does
(``domain.figures.figures``).

Revision ID: 0004_book_bounded_publishing
Revises: 0003_book_outbox_confirmed
"""

import json

import sqlalchemy as sa
from alembic import op

from services.book.domain.entries import indexed_fields
from services.book.domain.figures import count_key, scope_of

revision = "0004_book_bounded_publishing"
down_revision = "0003_book_outbox_confirmed"
branch_labels = None
depends_on = None

CHUNK = 1000


def upgrade() -> None:
    with op.batch_alter_table("entries") as batch:
        batch.add_column(sa.Column("period", sa.Text, nullable=True))
        batch.add_column(sa.Column("quarter", sa.String(16), nullable=True))
        batch.add_column(sa.Column("deed_id", sa.Text, nullable=True))
        batch.add_column(sa.Column("unit", sa.Text, nullable=True))
    op.create_index("ix_entries_book_period", "entries", ["book", "period"])
    op.create_index("ix_entries_book_quarter", "entries", ["book", "quarter"])
    op.create_index("ix_entries_deed_id", "entries", ["deed_id"])
    figure_deeds = op.create_table(
        "figure_deeds",
        sa.Column("scope", sa.String(16), primary_key=True),
        sa.Column("deed_id", sa.Text, primary_key=True),
        sa.Column("book", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("quarter", sa.String(16), nullable=False),
        sa.Column("unit", sa.Text, nullable=False),
    )
    figure_counts = op.create_table(
        "figure_counts",
        sa.Column("scope", sa.String(16), primary_key=True),
        sa.Column("quarter", sa.String(16), primary_key=True),
        sa.Column("unit", sa.Text, primary_key=True),
        sa.Column("deeds", sa.Integer, nullable=False),
    )
    _backfill(op.get_bind(), figure_deeds, figure_counts)


def _backfill(conn: sa.Connection, figure_deeds: sa.Table, figure_counts: sa.Table) -> None:
    meta = sa.MetaData()
    entries = sa.Table("entries", meta, autoload_with=conn)
    books = sa.Table("books", meta, autoload_with=conn)
    kinds = {r.code: r.kind for r in conn.execute(sa.select(books.c.code, books.c.kind))}
    revoked = {
        (r.book, r.revokes)
        for r in conn.execute(sa.select(entries.c.book, entries.c.revokes).where(entries.c.kind == "revocation"))
    }
    # In (book, seq) order as the database sorts, as the recount reads them: the first standing
    # inscription of a deed in a scope is the one counted.
    rows = conn.execute(
        sa.select(entries.c.id, entries.c.book, entries.c.seq, entries.c.kind, entries.c.deed, entries.c.tally)
        .order_by(entries.c.book, entries.c.seq)
    )
    updates: list[dict] = []
    counted: dict[tuple[str, str], dict] = {}
    update = (
        entries.update()
        .where(entries.c.id == sa.bindparam("entry_id"))
        .values(
            period=sa.bindparam("period"),
            quarter=sa.bindparam("quarter"),
            deed_id=sa.bindparam("deed_id"),
            unit=sa.bindparam("unit"),
        )
    )
    for row in rows.all():
        fields = indexed_fields({
            "deed": json.loads(row.deed) if row.deed else None,
            "tally": json.loads(row.tally) if row.tally else None,
        })
        updates.append({"entry_id": row.id, **fields})
        if len(updates) >= CHUNK:
            conn.execute(update, updates)
            updates = []
        if row.kind != "inscription" or (row.book, row.seq) in revoked:
            continue
        key = (scope_of(kinds.get(row.book, "unit")), count_key(fields["deed_id"]))
        if key not in counted:
            counted[key] = {
                "scope": key[0], "deed_id": key[1], "book": row.book, "seq": row.seq,
                "quarter": fields["quarter"] or "", "unit": fields["unit"] or "",
            }
    if updates:
        conn.execute(update, updates)
    counts: dict[tuple[str, str, str], int] = {}
    for deed in counted.values():
        key = (deed["scope"], deed["quarter"], deed["unit"])
        counts[key] = counts.get(key, 0) + 1
    if counted:
        conn.execute(figure_deeds.insert(), list(counted.values()))
    if counts:
        conn.execute(
            figure_counts.insert(),
            [{"scope": s, "quarter": q, "unit": u, "deeds": n} for (s, q, u), n in counts.items()],
        )


def downgrade() -> None:
    op.drop_table("figure_counts")
    op.drop_table("figure_deeds")
    op.drop_index("ix_entries_deed_id", "entries")
    op.drop_index("ix_entries_book_quarter", "entries")
    op.drop_index("ix_entries_book_period", "entries")
    with op.batch_alter_table("entries") as batch:
        batch.drop_column("unit")
        batch.drop_column("deed_id")
        batch.drop_column("quarter")
        batch.drop_column("period")
