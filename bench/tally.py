"""The tally of a provincial round: 500 dossiers × 25 members.

1. The council's pure rules alone (``domain.tally.count_ballots`` then ``domain.ranking.select``
   with the cap of 20, R7, R12, R13) over ballots of the same shape.
2. A real provincial round built through the running services, as a province would: 500 deeds
   recorded (batch API), introduced by their sub-unit leads, recognised in the units' monthly
   rounds, proposed by the units' quarterly rounds (500 dossiers), then 25 members' ballots on
   the provincial round. Its closing is timed twice: the close use case's transaction
   (compare-and-set, tally, selection, decision, runoff, messages) run in-process and rolled
   back, several times; then once for real, ``POST /rounds/{id}/close`` as the province
   secretary.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from typing import Any

from bench.latency import Clients, _wait, month_day
from bench.org import People
from bench.throughput import deed_body
from shared import clock

DOSSIERS = 500
MEMBERS = 25


def approvals(i: int, members: int = MEMBERS) -> int:
    """How many members approve candidate ``i``: 15..25, so that about half pass R7 at 80 % and
    more than 20 pass, with ties across the 20th place (a runoff, R13)."""
    return members - (i * 7 % 11)


def choice(i: int, j: int, members: int = MEMBERS) -> str:
    if j < approvals(i, members):
        return "approve"
    return "reject" if (i + j) % 3 else "abstain"


def pure_tally(repeats: int) -> dict[str, Any]:
    from services.council.domain import ranking
    from services.council.domain.tally import count_ballots

    cands = [f"c{i:03d}" for i in range(DOSSIERS)]
    ballots = [{c: choice(i, j) for i, c in enumerate(cands)} for j in range(MEMBERS)]
    entitled = {c: MEMBERS for c in cands}
    times = []
    selection = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        counts = count_ballots(entitled, ballots)
        passing = [ranking.Standing(c, counts[c].approve, counts[c].base("entitled"))
                   for c in cands if counts[c].passes(80, "entitled")]
        selection = ranking.select(passing, 20)
        times.append(time.perf_counter() - t0)
    assert selection is not None
    return {"median_ms": statistics.median(times) * 1000, "repeats": repeats, "passed": len(passing),
            "selected": len(selection.selected), "tied": len(selection.tied)}


def provincial_round(people: People, settings: Any, quarter: clock.Quarter, rollback_repeats: int,
                     settle: Any = None) -> dict[str, Any]:
    """``settle()`` waits until every message the unit rounds caused is handled (a dossier may
    reach the provincial council as a message)."""
    org = people.org
    c = Clients()
    t_setup = time.perf_counter()
    units = sorted(org.units)
    share = {u: DOSSIERS // len(units) + (1 if i < DOSSIERS % len(units) else 0) for i, u in enumerate(units)}
    month = quarter.months[0]
    day = month_day(month)
    for unit in units:
        u = org.units[unit]
        sec = people.token("unit_secretary", u.secretary)
        authors = people.unit_officers(unit)
        body = {"deeds": [deed_body({"officer": authors[i % len(authors)]}, day, i) for i in range(share[unit])]}
        deeds = c.intake.ok("POST", "/api/v1/deeds/batch", body, token=sec)["items"]
        for d in deeds:
            lead = org.subunits[d["subunit"]].lead
            c.intake.ok("POST", f"/api/v1/deeds/{d['id']}/introduce", {}, token=people.token("subunit_lead", lead))
        _vote_round(people, c, u.council, "monthly", str(month), sec)
        _vote_round(people, c, u.council, "quarterly", str(quarter), sec)
    if settle is not None:
        settle()
    setup_seconds = time.perf_counter() - t_setup

    prov = org.provincial_council
    psec = people.token("province_secretary", org.province_secretary)
    rnd = c.council.ok("POST", "/api/v1/rounds", {"council": prov.code, "kind": "provincial", "period": str(quarter)},
                       token=psec)
    cands = [cand["id"] for cand in rnd["candidates"]]
    for j, member in enumerate(prov.members):
        c.council.ok("POST", f"/api/v1/rounds/{rnd['id']}/ballots",
                     {"choices": {cid: choice(i, j, len(prov.members)) for i, cid in enumerate(cands)}},
                     token=people.token("council_member", member))
    use_case, trips, collector_ms = _rolled_back_closes(settings, rnd["id"], rollback_repeats)
    t0 = time.perf_counter()
    result = c.council.ok("POST", f"/api/v1/rounds/{rnd['id']}/close", {}, token=psec)
    http_seconds = time.perf_counter() - t0
    return {
        "candidates": len(cands),
        "members": len(prov.members),
        "setup_s": setup_seconds,
        "use_case_median_ms": statistics.median(use_case) * 1000,
        "use_case_runs_ms": [round(t * 1000, 1) for t in use_case],
        "round_trips": trips,
        "use_case_collector_ms": collector_ms,
        "http_close_ms": http_seconds * 1000,
        "selected": sum(1 for r in result["candidates"] if r["selected"]),
        "passed": sum(1 for r in result["candidates"] if r["passed"]),
        "runoff": result.get("runoff"),
    }


def provincial_rounds(people: People, settings: Any, quarters: list[clock.Quarter], rollback_repeats: int,
                      settle: Any = None) -> dict[str, Any]:
    """``provincial_round`` for each quarter. A round closes over HTTP only once, so that close is
    a single sample per round: its figure is the median over the quarters' rounds. The close use
    case, which can be repeated (rolled back), is taken from the first."""
    first = provincial_round(people, settings, quarters[0], rollback_repeats, settle)
    closes = [first["http_close_ms"]]
    for quarter in quarters[1:]:
        closes.append(provincial_round(people, settings, quarter, 1, settle)["http_close_ms"])
    return {**first, "http_close_ms": statistics.median(closes), "http_close_runs_ms": [round(t, 1) for t in closes]}


def _vote_round(people: People, c: Clients, council_code: str, kind: str, period: str, sec: str) -> dict:
    """Open a unit round as its secretary, every member approves every candidate, close it."""
    council = people.org.councils[council_code]
    rnd = c.council.ok("POST", "/api/v1/rounds", {"council": council_code, "kind": kind, "period": period}, token=sec)
    state = {"round": rnd}

    def is_open() -> bool:
        state["round"] = c.council.ok("GET", f"/api/v1/rounds/{rnd['id']}", token=sec)
        return state["round"]["status"] == "open"

    _wait(is_open, f"{kind} round of {council_code}")
    cands = [x["id"] for x in state["round"]["candidates"]]
    for member in council.members:
        c.council.ok("POST", f"/api/v1/rounds/{rnd['id']}/ballots", {"choices": {cid: "approve" for cid in cands}},
                     token=people.token("council_member", member))
    return c.council.ok("POST", f"/api/v1/rounds/{rnd['id']}/close", {}, token=sec)


def _rolled_back_closes(settings: Any, round_id: str, repeats: int) -> tuple[list[float], dict[str, float], list[float]]:
    """The close use case's transaction (what ``services.close_round`` runs under its guard),
    in this process against the same database, rolled back each time; with each run's time in the
    garbage collector."""
    from bench.profiles import CollectorTime, RoundTrips, _ensure_pyinstrument, _save
    from services.council.app import build_runtime
    from services.council.closing import tally_round
    from services.council.config import config_of
    from shared import heap
    from shared.db import utcnow

    rt = build_runtime(settings)
    org = rt.orgs.require()
    runoff_hours = config_of(rt).calendar.runoff_hours
    heap.settle()  # as a service process does once started
    trips = RoundTrips(rt.db.engine)
    profiler = _ensure_pyinstrument().Profiler(interval=0.0005)
    times, collector_ms = [], []
    collector = CollectorTime()
    try:
        for i in range(repeats + 1):
            trips.reset()
            t0 = time.perf_counter()
            with contextlib.ExitStack() as stack:
                if i == repeats:  # one more, profiled, not counted
                    stack.enter_context(profiler)
                stack.enter_context(collector)
                with rt.db.unit_of_work() as uow:
                    row = uow.rounds.get(round_id)
                    if not uow.rounds.close_if_open(round_id):
                        raise RuntimeError("round not open")
                    tally_round(uow, row, utcnow(), "bench", org, runoff_hours)
                    uow.session.flush()
                    elapsed = time.perf_counter() - t0
                # leaving the unit of work without commit rolls it back: the round stays open
            if i < repeats:
                times.append(elapsed)
                collector_ms.append(round(collector.ms, 1))
        _save("provincial_close", profiler, f"closing a provincial round of 500 candidates x 25 ballots (the close "
                                            f"use case's transaction, rolled back), {elapsed * 1000:.0f} ms; "
                                            f"round trips: {trips.per(1)}")
    finally:
        rt.db.dispose()
    return times, trips.per(1), collector_ms
