"""``python -m bench``: run the whole benchmark and write ``bench/RESULTS.md``.

Two stacks, each on a fresh PostgreSQL database (``sovang_bench_<random>`` on 127.0.0.1:5432,
dropped afterwards) and Redis database 13 (flushed before and after): the first for the paths,
their baselines, the growth and the profiles; the second, started afresh, for the province-year
(so that its memory figures start from new processes).

Options: ``--quick`` (short runs, fewer samples: to try the harness, not to quote),
``--skip-paths``, ``--skip-year``, ``--scale N`` (the province-year's volume, 1/N, default 1000),
``--report-only`` (RESULTS.md again from results.json), ``--keep-logs``,
``--only PART[,PART…]`` (some parts of the paths stack alone, ``--repeat N`` times on one stack:
to compare changes by their ratios in one sitting; figures in ``bench/results-only.json`` and on
stdout, RESULTS.md untouched).
"""

from __future__ import annotations

import argparse
import datetime as dt
import fcntl
import json
import logging
import shlex
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from bench import bare, books, growth, latency, machine, profiles, report, simulation, tally, throughput
from bench.load import ensure_wrk
from bench.org import issue_tokens, province_document
from bench.stack import PORTS, Stack, fresh_stack, wait_quiet
from shared import clock

HERE = Path(__file__).resolve().parent
RESULTS_JSON = HERE / "results.json"
ONLY_JSON = HERE / "results-only.json"
LOCK_FILE = "/tmp/sovang-bench.lock"  # one run at a time: they would share Redis database 13
GROWTH_UNIT = "CAH-DM"
LOAD_UNIT = "CAH-DS"
INTRO_UNIT = "CAH-CJ"

log = logging.getLogger("bench")


class Plan:
    """Durations and sample counts: the full run, or a quick one to try the harness."""

    def __init__(self, quick: bool) -> None:
        self.quick = quick
        self.rounds = 2 if quick else 4
        self.seconds = 3 if quick else 5
        self.warmup = 1 if quick else 2
        self.celery_samples = 50 if quick else 300
        self.intro_samples = 10 if quick else 40
        self.close_months = 1 if quick else 2
        self.book_levels = [100, 1000] if quick else [100, 1000, 10_000]
        self.book_samples = 3 if quick else 6
        # A cached feed and the hello-world both run at thousands of requests a second, where the
        # machine's noise moves single runs by a third: the median of more, shorter runs.
        self.feed_rounds = 2 if quick else 5
        self.feed_seconds = 2 if quick else 3
        self.deed_levels = [10_000, 30_000] if quick else [10_000, 100_000, 1_000_000]
        self.growth_seconds = 2 if quick else 3
        self.rollback_repeats = 2 if quick else 5
        self.provincial_rounds = 1 if quick else 3  # HTTP closes of a provincial round (one per quarter)
        self.batch_per_connection = 2 if quick else 3
        self.batch_rounds = 2
        self.drain_window = 15 if quick else 30
        self.year_months = 3 if quick else 12


class Run:
    def __init__(self, plan: Plan, home: Path, out: Path = RESULTS_JSON) -> None:
        self.plan = plan
        self.home = home
        self.out = out
        self.results: dict[str, Any] = {}

    def save(self) -> None:
        self.out.write_text(json.dumps(self.results, ensure_ascii=False, indent=1, default=str))

    def phase(self, name: str, fn: Any, *args: Any) -> Any:
        t0 = time.perf_counter()
        log.info("%s …", name)
        try:
            value = fn(*args)
        except Exception as exc:  # one failed phase is reported, the others still run
            log.error("%s failed: %s", name, exc)
            # Paths relative to the repository: the report is committed, the checkout's place is not.
            where = str(Path(__file__).resolve().parent.parent) + "/"
            self.results.setdefault("failures", {})[name] = traceback.format_exc().replace(where, "")[-3000:]
            value = None
        else:
            self.results[name] = value
        self.results.setdefault("phase_seconds", {})[name] = round(time.perf_counter() - t0, 1)
        log.info("%s done in %.0f s", name, time.perf_counter() - t0)
        self.save()
        return value

    # -- stack A: paths, baselines, growth, profiles --------------------------------------------
    def setup(self, stack: Stack) -> Any:
        doc = province_document()
        path = stack.home / "org.json"
        path.write_text(json.dumps(doc, ensure_ascii=False), "utf-8")
        stack.sovang("org", "load", str(path))
        people = issue_tokens(stack.settings, doc)
        with stack.db.connect() as conn:
            conn.execute("CREATE SCHEMA bench")
            for table in ("bare_deeds", "copy_deeds"):
                conn.execute(f"CREATE TABLE bench.{table} (LIKE intake.deeds INCLUDING ALL)")
            bare.create_floor_tables(conn)
        self.results["commit_latency"] = machine.commit_latency(stack.db.dsn)
        stack.start_services()
        stack.start_bare()
        stack.start_noop_worker()
        return people

    def paths(self, stack: Stack) -> None:
        p = self.plan
        people = self.setup(stack)
        org = people.org
        self.phase("celery_round_trip", throughput.celery_round_trip, p.celery_samples)
        stack.stop("worker-noop")
        author = next(o for o in people.unit_officers(LOAD_UNIT) if ("officer", o) in people.tokens)
        self.phase("post_deeds", throughput.post_deeds, people.token("officer", author), author,
                   p.rounds, p.seconds, p.warmup, stack.pids, stack.db.name)
        self.phase("post_deeds_without_key", throughput.post_deeds_without_key, people.token("officer", author),
                   author, p.rounds, p.seconds, stack.pids, stack.db.name)
        self.phase("post_deeds_drain_s", wait_quiet, stack.db, 900)
        self.phase("post_deeds_floors", throughput.post_deeds_floors, people.token("officer", author), author,
                   p.rounds, p.seconds, p.warmup, stack.pids, stack.db.name)

        self.phase("introduction_latency", latency.introduction_latency, people, INTRO_UNIT, p.intro_samples)
        units = sorted(org.units)
        months = latency.months_from("2021-09", p.close_months)
        self.phase("close_to_feed", latency.close_to_feed, people, units, months, stack.db)
        self.phase("tally_pure", tally.pure_tally, 21)
        wait_quiet(stack.db, 900)

        self.results["book_growth"] = []
        month_iter = iter(latency.months_from("2022-01", 60))
        for level in p.book_levels:
            row: dict[str, Any] = {"entries": level}
            row["seed"] = self.phase(f"seed_book_{level}", books.seed_book, stack.settings, people, GROWTH_UNIT, level)
            row["drain_s"] = wait_quiet(stack.db, 900)
            months_here = [next(month_iter) for _ in range(p.book_samples)]
            row["close_to_feed"] = self.phase(f"close_to_feed_{level}", latency.close_to_feed, people,
                                              [GROWTH_UNIT], months_here, stack.db)
            wait_quiet(stack.db, 900)
            row["feed"] = self.phase(f"feed_{level}", throughput.feed_vs_hello, GROWTH_UNIT, p.feed_rounds,
                                     p.feed_seconds, p.warmup)
            row["verify"] = books.verify(PORTS["book"], GROWTH_UNIT)
            self.results["book_growth"].append(row)
            self.save()

        wait_quiet(stack.db, 900)
        self.phase("profile_feed", profiles.feed, stack.settings, GROWTH_UNIT)
        self.phase("profile_inscribe", profiles.inscribe, stack.settings, people, GROWTH_UNIT)
        self.phase("profile_post_deeds", profiles.post_deeds, stack.settings, people, LOAD_UNIT)
        self.phase("profile_post_deeds_cpu", profiles.post_deeds_cpu, stack.settings, people, LOAD_UNIT)
        self.phase("profile_deed_recorded", profiles.deed_recorded, stack.settings, LOAD_UNIT)
        wait_quiet(stack.db, 900)

        self.results["deed_growth"] = []
        for level in p.deed_levels:
            t0 = time.perf_counter()
            added = growth.top_up(stack.db, people, level)
            row = {"deeds": growth.deed_count(stack.db), "added": added, "copy_s": time.perf_counter() - t0}
            row.update(self.phase(f"deed_growth_{level}", growth.measure, people, LOAD_UNIT, 2,
                                  p.growth_seconds) or {})
            self.results["deed_growth"].append(row)
            self.save()
            wait_quiet(stack.db, 900)

        # The provincial round's 500 recognitions each cause an inscription in a unit book, which
        # the book worker would take minutes to publish (see the inscribe profile) and which is no
        # part of the tally: the book worker is stopped for this phase and the rest of this stack.
        stack.stop("worker-book")
        self.phase("tally_provincial", tally.provincial_rounds, people, stack.settings,
                   [clock.Quarter(2026, q) for q in range(1, p.provincial_rounds + 1)],
                   p.rollback_repeats, lambda: wait_quiet(stack.db, 900, ("book",)))
        self.phase("tally_drain_s", wait_quiet, stack.db, 900, ("book",))

        # Last, because the messages a minute of batches causes take minutes to handle: the batch's
        # own rate, then how fast the services work off what it caused, over a window.
        sub = next(s for s in org.subunits.values() if s.unit == LOAD_UNIT)
        sub_authors = [o.code for o in org.officers.values() if o.subunit == sub.code]
        body = throughput.batch_body(sub_authors, clock.today())
        self.phase("profile_batch", profiles.post_batch, stack.settings, people, LOAD_UNIT)
        wait_quiet(stack.db, 900, ("book",))
        offset = throughput.uncounted(stack.db)
        self.phase("batch", throughput.post_batch, stack.db, people.token("subunit_lead", sub.lead), body,
                   p.batch_rounds, p.batch_per_connection)
        pids = stack.pids()
        spy = {f"council worker main {pids['worker-council'][0]}": pids["worker-council"][0]}
        spy |= {f"council worker child {pid}": pid for pid in pids["worker-council"][1:]}
        spy |= {f"intake worker main {pids['worker-intake'][0]} (outbox relay)": pids["worker-intake"][0]}
        self.phase("batch_drain", throughput.drain_rate, stack.db, p.drain_window, spy, offset)

    # -- parts of stack A alone (``--only``) ---------------------------------------------------------
    def only(self, stack: Stack, parts: list[str], repeat: int) -> None:
        p = self.plan
        people = self.setup(stack)
        if "celery_round_trip" not in parts:
            stack.stop("worker-noop")
        author = next(o for o in people.unit_officers(LOAD_UNIT) if ("officer", o) in people.tokens)
        token = people.token("officer", author)
        units = sorted(people.org.units)
        quarters = iter([clock.Quarter(2026, q) for q in (1, 2, 3)])  # as the whole run: at most three
        months = iter(latency.months_from("2021-09", 60))  # each sample a month of its own, in every part

        def provincial() -> Any:
            # As in the whole run: the book worker stopped, for the rest of this stack, so that the
            # 500 inscriptions each provincial round causes do not run beside the closes.
            stack.stop("worker-book")
            return tally.provincial_rounds(people, stack.settings, [next(quarters)], p.rollback_repeats,
                                           lambda: wait_quiet(stack.db, 900, ("book",)))

        def into_books(of_units: list[str], samples: int) -> Any:
            if "worker-book" not in stack.procs:
                raise RuntimeError("close → feed after tally_provincial: the book worker is stopped")
            return latency.close_to_feed(people, of_units, [next(months) for _ in range(samples)], stack.db)

        growth_book = []  # seeded once, at the first close_to_feed_book

        def close_to_feed_book() -> Any:
            # A growth row of the whole run: close → feed samples into a book of 10 000 entries.
            if not growth_book:
                growth_book.append(books.seed_book(stack.settings, people, GROWTH_UNIT, 10_000))
                wait_quiet(stack.db, 900)
            return into_books([GROWTH_UNIT], p.book_samples)

        run = {
            "close_to_feed_book": close_to_feed_book,
            "celery_round_trip": lambda: throughput.celery_round_trip(p.celery_samples),
            "close_to_feed": lambda: into_books(units, p.close_months),
            "tally_provincial": provincial,
            "post_deeds": lambda: throughput.post_deeds(token, author, p.rounds, p.seconds, p.warmup, stack.pids,
                                                        stack.db.name),
            "post_deeds_without_key": lambda: throughput.post_deeds_without_key(token, author, p.rounds, p.seconds,
                                                                                stack.pids, stack.db.name),
            "post_deeds_floors": lambda: throughput.post_deeds_floors(token, author, p.rounds, p.seconds, p.warmup,
                                                                      stack.pids, stack.db.name),
            "profile_post_deeds": lambda: profiles.post_deeds(stack.settings, people, LOAD_UNIT),
            "profile_post_deeds_cpu": lambda: profiles.post_deeds_cpu(stack.settings, people, LOAD_UNIT),
            "spy_post_deeds": lambda: profiles.web_worker_spy(
                stack.pids()["web-intake"][1],
                lambda: throughput.post_deeds_alone(token, author, 12), 10, "post_deeds_spy",
                "POST /api/v1/deeds with Idempotency-Key under wrk (8 connections), gunicorn 2 workers x 4 threads"),
        }
        for i in range(repeat):
            for part in parts:
                name = part if repeat == 1 else f"{part}#{i + 1}"
                self.phase(name, run[part])
                wait_quiet(stack.db, 900, () if "worker-book" in stack.procs else ("book",))
                print(only_line(name, self.results.get(name)), flush=True)

    # -- stack B: the province-year ---------------------------------------------------------------
    def year(self, stack: Stack, scale: int) -> None:
        doc = province_document()
        path = stack.home / "org.json"
        path.write_text(json.dumps(doc, ensure_ascii=False), "utf-8")
        stack.sovang("org", "load", str(path))
        people = issue_tokens(stack.settings, doc)
        stack.start_services()
        last = clock.Month.of(clock.today())
        # The last four complete quarters: the year the calendar has wholly run.
        q_last = clock.Month(last.year, (last.month - 1) // 3 * 3 + 1)
        first = q_last
        for _ in range(12):
            first = clock.Month(first.year - (first.month == 1), (first.month - 2) % 12 + 1)
        months = latency.months_from(str(first), self.plan.year_months)
        sim = simulation.Year(stack, people, months, scale)
        self.phase("year", sim.run)
        self.results["year_checks"] = year_checks(stack, people)
        self.save()


def year_checks(stack: Stack, people: Any) -> dict[str, Any]:
    """After the year: every book's chain verifies, and what each service holds agrees."""
    out: dict[str, Any] = {"books": {}}
    for code in [people.org.province_code, *sorted(people.org.units)]:
        v = books.verify(PORTS["book"], code)
        out["books"][code] = {"valid": v["valid"], "entries": v["entries"]}
    out["all_valid"] = all(b["valid"] for b in out["books"].values())
    out["entries"] = int(stack.db.scalar("SELECT count(*) FROM book.entries"))
    out["intake_statuses"] = dict(_rows(stack, "SELECT status, count(*) FROM intake.deeds GROUP BY status"))
    out["parked"] = sum(int(stack.db.scalar(f"SELECT count(*) FROM {s}.parked_messages") or 0)
                        for s in ("intake", "council", "book"))
    return out


ONLY_PARTS = ("celery_round_trip", "close_to_feed", "close_to_feed_book", "tally_provincial", "post_deeds",
              "post_deeds_without_key", "post_deeds_floors", "profile_post_deeds", "profile_post_deeds_cpu",
              "spy_post_deeds")


def only_line(name: str, value: Any) -> str:
    """One part's figures as a line: the rate beside its baseline's, and their ratio."""
    if not isinstance(value, dict):
        return f"{name}: {value}"
    pairs = {"": value} if "base_rps" in value else {
        f" {k}": v for k, v in value.items() if isinstance(v, dict) and "base_rps" in v}
    if not pairs:
        return f"{name}: {json.dumps(value, default=str)[:300]}"
    out = []
    for label, v in pairs.items():
        cpu_ms = {g: ms for g, ms in (v.get("cpu_ms") or {}).items() if ms >= 0.005 and g != "rest-of-machine"}
        path_total = sum(cpu_ms.values())
        base_total = sum(ms for g, ms in (v.get("base_cpu_ms") or {}).items() if g != "rest-of-machine")
        model = f"; CPU ms a request {path_total:.2f} against {base_total:.2f} = {base_total / path_total:.3f}x" \
            if path_total and base_total else ""
        out.append(f"{name}{label}: {v['rps']:.1f} req/s against {v['base_rps']:.1f} = {v['rps'] / v['base_rps']:.3f}x; "
                   f"p99 {v['p99_ms']:.1f} against {v['base_p99_ms']:.1f} ms; runs {v['runs']} against "
                   f"{v['base_runs']}{model}; CPU ms by process {cpu_ms}")
    return "\n".join(out)


def _rows(stack: Stack, sql: str) -> list[tuple]:
    with stack.db.connect() as conn:
        return list(conn.execute(sql).fetchall())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--skip-year", action="store_true")
    parser.add_argument("--skip-paths", action="store_true")
    parser.add_argument("--scale", type=int, default=1000)
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--keep-logs", action="store_true", help="keep the processes' logs (printed where)")
    parser.add_argument("--only", help=f"comma-separated parts of the paths stack, alone: {', '.join(ONLY_PARTS)}")
    parser.add_argument("--repeat", type=int, default=1, help="with --only: run the parts this many times")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in (args.only or "").split(",") if p.strip()]
    unknown = [p for p in parts if p not in ONLY_PARTS]
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; choose among {', '.join(ONLY_PARTS)}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    for noisy in ("celery", "kombu", "amqp", "fontTools", "fpdf"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # SIGTERM unwinds like Ctrl-C: each stack's database is dropped and its processes stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.report_only:
        report.write(json.loads(RESULTS_JSON.read_text()))
        return 0
    lock = open(LOCK_FILE, "w")  # noqa: SIM115 - held for the whole run
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print("bench: another run holds Redis database 13 (see /tmp/sovang-bench.lock)", file=sys.stderr)
        return 2
    ensure_wrk()
    plan = Plan(args.quick)
    home = Path(tempfile.mkdtemp(prefix="sovang-bench-"))
    run = Run(plan, home, ONLY_JSON if parts else RESULTS_JSON)
    run.results.update({
        "command": " ".join(["python -m bench", *(shlex.quote(a) for a in (argv or sys.argv[1:]))]),
        "started": dt.datetime.now(clock.TZ).isoformat(timespec="seconds"),
        "quick": plan.quick,
        "rounds": plan.rounds,
        "machine": machine.describe(),
        "load_before": machine.load_average(),
    })
    t0 = time.perf_counter()
    if parts:
        with fresh_stack("paths", home) as stack:
            run.only(stack, parts, max(1, args.repeat))
        run.results["load_after"] = machine.load_average()
        run.results["wall_s"] = time.perf_counter() - t0
        run.save()
        shutil.rmtree(home, ignore_errors=True)
        print(f"bench: wrote {run.out} in {run.results['wall_s'] / 60:.1f} min")
        return 0
    if not args.skip_paths:
        with fresh_stack("paths", home) as stack:
            run.paths(stack)
    if not args.skip_year:
        with fresh_stack("year", home) as stack:
            run.year(stack, args.scale)
    run.results["load_after"] = machine.load_average()
    run.results["wall_s"] = time.perf_counter() - t0
    run.save()
    report.write(run.results)
    if args.keep_logs or run.results.get("failures"):
        print(f"bench: processes' logs in {home}")
    else:
        shutil.rmtree(home, ignore_errors=True)
    print(f"bench: wrote {report.RESULTS_MD} in {run.results['wall_s'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
