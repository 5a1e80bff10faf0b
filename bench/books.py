"""Golden books of 100, 1 000 and 10 000 entries, filled through the book's own inscribe handler.

Each seeded entry is an ``Inscribe`` message applied by the book's use case
``services.book.services.inscribe`` (book lock, next ``seq``, the hash chain R15, the
``DeedInscribed`` it emits): the entries are exactly those the worker would write. Set aside
while seeding: the consumer's inbox (these messages never crossed the broker), one transaction
per message (250 a transaction), and regenerating the publications after each entry
(``Publications.entries_changed``: a bounded amount of work per entry, but skipping it keeps filling 10 000 entries to
seconds; the figures' counts are still kept, as ``inscribe`` does). And two harness conveniences,
neither touching what is measured: the seeding connection commits without waiting for the disk flush
(``synchronous_commit = off``, this session only), and the ``DeedInscribed`` each seeded entry
emits — about a deed intake never recorded, which intake would log and ignore — and its
``RepublishPages`` are marked sent and confirmed in the same transaction, so that 10 000 no-op messages do not
queue ahead of the measured ones. Once filled, the tables are analysed, as autovacuum would do
within its next minute (``seed_book``). The
last entries of each level are inscribed as the worker does it, publishing on (the feeds, pages
and figures the entry changes regenerated), and timed.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
from typing import Any

from bench.org import People
from shared import clock
from shared.db import utcnow
from shared.messages import Inscribe, envelope

TIMED = 3  # inscriptions with publishing on, at the end of each level


def _inscribe_message(people: People, book: str, n: int) -> Inscribe:
    org = people.org
    authors = people.unit_officers(book)
    author = authors[n % len(authors)]
    officer = org.officers[author]
    day = dt.date(2022, 1, 1) + dt.timedelta(days=n % 1500)
    deed = {
        "id": f"seed-{book}-{n:06d}",
        "title": f"Việc tốt số {n}: giúp dân vượt lũ ở thôn {n % 97}",
        "description": "Cán bộ đã kịp thời có mặt, đưa người già và trẻ em đến nơi an toàn, "
                       "giúp bà con di dời tài sản trong đêm mưa lớn.",
        "kind": "good_deed",
        "relation": "direct",
        "occurred_on": day.isoformat(),
        "month": day.strftime("%Y-%m"),
        "place": "Đắk Nông",
        "author": {"officer": author, "name": f"{officer.rank} {officer.name}".strip()},
        "unit": book,
        "subunit": officer.subunit,
        "evidence": [],
    }
    decision = {"number": f"{n + 1}/QĐ-{book}", "date": day.isoformat(), "issuer": book,
                "issuer_name": org.unit_name(book)}
    tally = {"approve": 7, "reject": 0, "abstain": 0, "entitled": 7, "ratio": "7/7", "round": f"seed-round-{n}",
             "round_kind": "monthly", "period": day.strftime("%Y-%m")}
    return Inscribe(book=book, source=f"seed:{book}:{n}", deed=deed, decision=decision, tally=tally)


def seed_book(settings: Any, people: People, book: str, upto: int, chunk: int = 250) -> dict[str, Any]:
    """Fill ``book`` up to ``upto`` entries; the time of the last inscriptions (publishing on)."""
    import sqlalchemy as sa

    from services.book import repository as repo
    from services.book import services as book_services
    from services.book.app import build_runtime, context
    from services.book.publication.publisher import Publications
    from shared.outbox import consume
    from shared.tables import outbox

    rt = build_runtime(settings)
    sa.event.listen(rt.db.engine, "connect", _asynchronous_commit)
    with rt.db.reading() as s:
        have = repo.get_book(s, book).entries
    publish = Publications.entries_changed
    t0 = time.perf_counter()
    try:
        Publications.entries_changed = lambda *a, **k: None  # type: ignore[method-assign]
        for first in range(have, upto - TIMED, chunk):
            with rt.db.unit_of_work() as uow:
                floor = uow.session.execute(sa.select(sa.func.coalesce(sa.func.max(outbox.c.id), 0))).scalar_one()
                for n in range(first, min(first + chunk, upto - TIMED)):
                    book_services.inscribe(uow, context(rt, uow), _inscribe_message(people, book, n))
                uow.session.execute(outbox.update().where(
                    outbox.c.id > floor, outbox.c.sent_at.is_(None),
                    outbox.c.type.in_(("intake.deed_inscribed", "book.republish_pages")),
                # Confirmed too: the relays send a row again that no consumer confirmed.
                ).values(sent_at=utcnow(), confirmed_at=utcnow()))
                uow.commit()
    finally:
        Publications.entries_changed = publish  # type: ignore[method-assign]
    seeding = time.perf_counter() - t0
    # The statistics autovacuum would gather within its next minute, as growth.top_up does for the
    # deeds: measured right after thousands of rows went in, the book worker's prepared statements
    # kept the generic plans chosen for the small book (the revocations' lookup went from 0.6 to
    # 4 ms at 10 000 entries: an inscription that grew with the book only until the next ANALYZE).
    with rt.db.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE entries, figure_deeds, outbox")
        conn.commit()
    rt.db.dispose()
    rt = build_runtime(settings)  # the timed ones as the worker runs them: flushed commits, no help

    def inscribe(uow: Any, msg: Inscribe) -> None:
        book_services.inscribe(uow, context(rt, uow), msg)

    timed = []
    with rt.db.reading() as s:
        have = repo.get_book(s, book).entries
    for n in range(have, upto):
        t = time.perf_counter()
        consume(rt.db, envelope(_inscribe_message(people, book, n), clock.isoformat(utcnow())), inscribe)
        timed.append(time.perf_counter() - t)
    rt.db.dispose()
    return {"entries": upto, "seeding_s": seeding,
            "inscribe_ms": statistics.median(timed) * 1000 if timed else None}


def _asynchronous_commit(dbapi_conn: Any, _record: Any) -> None:
    with dbapi_conn.cursor() as cur:
        cur.execute("SET synchronous_commit TO off")
    dbapi_conn.commit()


def verify(port: int, book: str) -> dict[str, Any]:
    from bench.load import Client

    return Client(port).ok("GET", f"/api/v1/books/{book}/verify")
