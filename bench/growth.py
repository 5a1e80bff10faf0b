"""How intake's paths grow with the deeds it holds: 10 000, 100 000 and 1 000 000 deeds.

The background deeds are written with ``COPY`` straight into ``intake.deeds`` (well-formed rows
spread over the 15 units and every month of the programme, status ``recorded``): they are data
at rest, not messages, so nothing is bypassed that the measured paths rely on. At each level:
``POST /api/v1/deeds`` beside the bare insert, ``GET /api/v1/deeds/{id}``, the first page of a
unit's list, and a unit's search with a word found nowhere (``q``, R4: the worst case, every
deed of the unit read).
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
from typing import Any

from bench.load import Client, wrk
from bench.org import People
from bench.stack import PORTS, Database
from bench.throughput import COPY_COLUMNS, alternate, deed_body
from services.intake.domain.text import search_text
from shared import clock
from shared.ids import new_id

CHUNK = 50_000


def deed_count(db: Database) -> int:
    return int(db.scalar("SELECT count(*) FROM intake.deeds"))


def top_up(db: Database, people: People, upto: int) -> int:
    """COPY background deeds until intake holds ``upto``; how many were added."""
    have = deed_count(db)
    need = max(0, upto - have)
    units = sorted(people.org.units)
    authors = {u: people.unit_officers(u) for u in units}
    start = dt.date(2021, 9, 1)
    span = (dt.date(2026, 10, 31) - start).days
    now = dt.datetime.now(dt.UTC)
    template = deed_body({"officer": "x"}, start)
    search = search_text(template["title"], template["description"])  # R4, as intake stores it
    added = 0
    with db.connect() as conn:
        while added < need:
            n = min(CHUNK, need - added)
            with conn.transaction(), conn.cursor() as cur:
                with cur.copy(f"COPY intake.deeds ({', '.join(COPY_COLUMNS)}) FROM STDIN") as copy:
                    for i in range(added, added + n):
                        unit = units[i % len(units)]
                        author = authors[unit][i % len(authors[unit])]
                        day = start + dt.timedelta(days=(i * 37) % span)
                        copy.write_row((
                            new_id(), "officer", author, author, unit, people.org.officers[author].subunit, day,
                            day.strftime("%Y-%m"), "good_deed", "direct", template["title"], template["description"],
                            template["place"], None, search, "recorded", "[]", now, "bench:background",
                        ))
            added += n
        conn.execute("ANALYZE intake.deeds")
    return added


def measure(people: People, unit: str, rounds: int, seconds: float) -> dict[str, Any]:
    """The intake paths at the current number of deeds (``rounds`` wrk runs of each)."""
    org = people.org
    author = next(o for o in people.unit_officers(unit) if ("officer", o) in people.tokens)
    token = people.token("officer", author)
    sec = people.token("unit_secretary", org.units[unit].secretary)
    body = json.dumps(deed_body({"officer": author}, clock.today()), ensure_ascii=False).encode()
    post = alternate(
        dict(url=f"http://127.0.0.1:{PORTS['intake']}/api/v1/deeds", connections=4, method="POST", body=body,
             token=token, idempotency_prefix=f"growth-{new_id()}"),
        dict(url=f"http://127.0.0.1:{PORTS['bare']}/bare/deeds", connections=4, method="POST", body=body),
        rounds, seconds, 1,
    ).summary()
    deed = Client(PORTS["intake"]).ok("POST", "/api/v1/deeds", deed_body({"officer": author}, clock.today()),
                                      token=token)
    out: dict[str, Any] = {"post": post}
    gets = {
        "get_one": f"/api/v1/deeds/{deed['id']}",
        "list_page": f"/api/v1/deeds?unit={unit}&limit=50",
        "search_none": f"/api/v1/deeds?unit={unit}&q=khongtimthay&limit=50",
    }
    for name, path in gets.items():
        runs = [wrk(f"http://127.0.0.1:{PORTS['intake']}{path}", max(2, seconds - 1), 4, token=sec)
                for _ in range(rounds)]
        out[name] = {"rps": statistics.median(r.rps for r in runs), "p50_ms": statistics.median(r.p50_ms for r in runs),
                     "p99_ms": statistics.median(r.p99_ms for r in runs), "errors": sum(r.errors for r in runs)}
    return out
