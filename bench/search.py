"""R4's search on many deeds, in-process: intake's own ``list_deeds`` (what ``GET /api/v1/deeds?q=``
runs, without HTTP) against PostgreSQL, with its plan.

Run it as a file, so that the ``services`` it measures are those of ``PYTHONPATH`` (a checkout of
another revision measures that revision on the same database)::

    python bench/search.py --database URL --deeds 1000000 seed measure --label before
    python bench/search.py --database URL upgrade measure --label after

``seed`` migrates intake, loads the organisation and COPYs varied deeds (the demo's grammar of
deed texts, ``sovang/demo_deeds.py``; the revision's own ``search_text``) spread over the 15 units
and the programme's months, with the trigram index built once after. ``upgrade`` migrates to the
revision's head and times it. ``measure`` times each query ``--runs`` times after two warm-ups,
as a unit secretary (one unit) and as the province secretary (every unit), and prints one JSON
line per query: median and 90th percentile ms, rows found, the plan's scan nodes. ``compare``
times the statement ``measure`` runs against the same statement made the substring search it
replaced (``%word%``, no check of the word's start), alternately, on the same table under the
same load.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUERIES = ["khongtimthay", "an", "xe may", "dong chi", "ca phe", "cứu hộ lũ", "phuc"]
UNIT = "CAH-DM"


def _runtime(url: str):  # noqa: ANN202
    from services.intake.app import build_runtime
    from shared.config import Settings

    return build_runtime(Settings(home=Path("/tmp/sovang-bench-search"), database_url=url,
                                  broker_url="redis://127.0.0.1:6379/13"))


def seed(url: str, n: int) -> dict:
    from services.intake import DECLARATION
    from services.intake.domain.text import search_text
    from shared.ids import new_id
    from sovang.demo_deeds import deed_text

    doc = json.loads((ROOT / "shared" / "data" / "dak-nong.json").read_text("utf-8"))
    rt = _runtime(url)
    rt.migrate()
    DECLARATION.load_org(rt, doc)
    units = {u["code"]: u for u in doc["units"]}
    subunits = {s["code"]: s["name"] for u in doc["units"] for s in u["subunits"]}
    officers: dict[str, list[tuple[str, str | None]]] = {}
    for o in doc["officers"]:
        officers.setdefault(o["unit"], []).append((o["code"], o.get("subunit")))
    codes = sorted(units)
    rng = random.Random(4)
    start, span = dt.date(2021, 9, 1), (dt.date(2026, 10, 31) - dt.date(2021, 9, 1)).days
    now = dt.datetime.now(dt.UTC)
    began = time.perf_counter()
    raw = rt.db.engine.raw_connection()
    try:
        conn = raw.driver_connection
        schema = rt.db.schema
        with conn.cursor() as cur:
            cur.execute(f'SET search_path TO "{schema}", public')
            cur.execute("DROP INDEX IF EXISTS ix_deeds_search_trgm")
            cols = ("id, author_kind, author_code, author_name, unit, subunit, occurred_on, month, kind, relation, "
                    "title, description, place, beneficiaries, search_text, status, book_entries, created_at, "
                    "created_by")
            with cur.copy(f"COPY deeds ({cols}) FROM STDIN") as copy:
                for i in range(n):
                    unit = codes[i % len(codes)]
                    author, sub = officers[unit][(i // len(codes)) % len(officers[unit])]
                    text = deed_text(rng, unit, subunits.get(sub or ""), units[unit]["name"])
                    day = start + dt.timedelta(days=(i * 37) % span)
                    copy.write_row((
                        new_id(), "officer", author, author, unit, sub, day, day.strftime("%Y-%m"), text.kind,
                        text.relation, text.title, text.description, text.place, text.beneficiaries,
                        search_text(text.title, text.description), "recorded", "[]", now, "bench:search",
                    ))
            copied = time.perf_counter() - began
            cur.execute("SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
                        "WHERE e.extname = 'pg_trgm'")
            ext = cur.fetchone()[0]
            cur.execute(f'CREATE INDEX ix_deeds_search_trgm ON deeds USING gin (search_text "{ext}".gin_trgm_ops)')
            cur.execute("ANALYZE deeds")
        conn.commit()
    finally:
        raw.close()
        rt.db.dispose()
    return {"seeded": n, "copy_s": round(copied, 1), "with_index_s": round(time.perf_counter() - began, 1)}


def upgrade(url: str) -> dict:
    rt = _runtime(url)
    began = time.perf_counter()
    rt.migrate()
    took = time.perf_counter() - began
    with rt.db.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE deeds")
        conn.commit()
    rt.db.dispose()
    return {"upgrade_s": round(took, 1)}


def measure(url: str, runs: int, label: str) -> list[dict]:
    import sqlalchemy as sa

    from services.intake import services
    from services.intake.domain.scope import Actor

    rt = _runtime(url)
    org = rt.orgs.require()
    readers = {"unit": Actor("unit_secretary", org.units[UNIT].secretary),
               "province": Actor("province_secretary", org.province_secretary)}
    statements: list[tuple[str, object]] = []

    def keep(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        if "LIKE" in statement:
            statements.append((statement, parameters))

    out = []
    with rt.db.engine.connect() as conn:
        total = conn.exec_driver_sql("SELECT count(*) FROM deeds").scalar()
    for q in QUERIES:
        for who, actor in readers.items():
            filters = {"q": q}
            times = []
            for n in range(runs + 2):
                began = time.perf_counter()
                found = rt.run(services.list_deeds, actor, filters, 50, None)
                if n >= 2:
                    times.append((time.perf_counter() - began) * 1000)
            statements.clear()
            sa.event.listen(rt.db.engine, "before_cursor_execute", keep)
            rt.run(services.list_deeds, actor, filters, 50, None)
            sa.event.remove(rt.db.engine, "before_cursor_execute", keep)
            statement, params = statements[0]
            with rt.db.engine.connect() as conn:
                plan = conn.exec_driver_sql("EXPLAIN " + statement, params).scalars().all()
            times.sort()
            row = {
                "label": label, "deeds": total, "q": q, "reader": who, "found": len(found),
                "p50_ms": round(statistics.median(times), 2), "p90_ms": round(times[int(0.9 * (len(times) - 1))], 2),
                "plan": [line.strip().removeprefix("->  ").split("  (")[0] for line in plan if "Scan" in line],
            }
            out.append(row)
            print(json.dumps(row, ensure_ascii=False), flush=True)
    rt.db.dispose()
    return out


def compare(url: str, runs: int) -> list[dict]:
    """The statement ``list_deeds`` runs for each query, and the same statement with the patterns
    of the substring search it replaced (``%word%``), timed alternately on the same table under
    the same load: what the word starts cost against what was there."""
    import sqlalchemy as sa

    from services.intake import services
    from services.intake.domain.scope import Actor

    rt = _runtime(url)
    org = rt.orgs.require()
    readers = {"unit": Actor("unit_secretary", org.units[UNIT].secretary),
               "province": Actor("province_secretary", org.province_secretary)}
    seen: list[tuple[str, dict]] = []

    def keep(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        if "LIKE" in statement:
            seen.append((statement, dict(parameters)))

    out = []
    for q in QUERIES:
        for who, actor in readers.items():
            seen.clear()
            sa.event.listen(rt.db.engine, "before_cursor_execute", keep)
            rt.run(services.list_deeds, actor, {"q": q}, 50, None)
            sa.event.remove(rt.db.engine, "before_cursor_execute", keep)
            statement, params = seen[0]
            # The search of before: a short word's needle (" an", LIKE '%' || :p || '%') without its
            # space; a longer word's check of its start (strpos(search_text, :p) != 0) given an
            # empty needle, which every text holds — the same estimate, no filtering.
            substring = {}
            for k, v in params.items():
                if isinstance(v, str) and v.startswith(" "):
                    checked = f"strpos(deeds.search_text, %({k})s)" in statement
                    substring[k] = "" if checked else v[1:]
                else:
                    substring[k] = v
            assert substring != params, (statement, params)
            times: dict[str, list[float]] = {"word_start": [], "substring": []}
            with rt.db.engine.connect() as conn:
                for n in range(runs + 2):
                    for name, values in (("word_start", params), ("substring", substring)):
                        began = time.perf_counter()
                        rows = conn.exec_driver_sql(statement, values).all()
                        if n >= 2:
                            times[name].append((time.perf_counter() - began) * 1000)
                        if n == 0:
                            times[name + "_found"] = [len(rows)]
            row = {"q": q, "reader": who, **{
                f"{name}_p50_ms": round(statistics.median(t), 2) for name, t in times.items() if not name.endswith("found")
            }, "word_start_found": times["word_start_found"][0], "substring_found": times["substring_found"][0]}
            out.append(row)
            print(json.dumps(row, ensure_ascii=False), flush=True)
    rt.db.dispose()
    return out


def main(argv: list[str]) -> int:
    # Run as a file, Python puts this folder first on the path, where bench/org.py would shadow
    # a module of the standard library's own imports.
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("steps", nargs="+", choices=("seed", "upgrade", "measure", "compare"))
    parser.add_argument("--database", required=True)
    parser.add_argument("--deeds", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--label", default="")
    args = parser.parse_args(argv)
    for step in args.steps:
        if step == "seed":
            print(json.dumps(seed(args.database, args.deeds)), flush=True)
        elif step == "upgrade":
            print(json.dumps(upgrade(args.database)), flush=True)
        elif step == "compare":
            compare(args.database, args.runs)
        else:
            measure(args.database, args.runs, args.label)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
