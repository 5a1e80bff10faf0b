"""Latencies across services, observed from outside as a user would (HTTP), one sample at a time:

- a deed recorded and introduced in intake → counted as introduced in council's monthly report;
- a round closed by its secretary → the entry in the unit's golden book → the book's Atom feed
  (its ``X-Chain-Entries`` header) shows it.

The probes poll every few milliseconds; a poll costs about as much as one GET, which bounds the
resolution (stated beside the figures).
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from bench import cpu
from bench.load import Client
from bench.org import People
from bench.stack import PORTS
from bench.throughput import deed_body
from shared import clock

# The probes poll: a change is seen up to one interval late. The Celery baseline is told of its
# result at once (the result backend publishes it), so the interval is kept to 2 ms (each poll
# costs the services CPU the measured path shares), and the feed is asked for conditionally, as
# feed readers ask (a 304 while unchanged, answered in front of Flask) to keep that cheap.
POLL_SECONDS = 0.002
TIMEOUT = 60.0


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def summary(values: list[float]) -> dict[str, Any]:
    return {
        "samples": len(values),
        "p50_ms": statistics.median(values) * 1000,
        "p99_ms": percentile(values, 99) * 1000,
        "max_ms": max(values) * 1000,
    }


@dataclass
class Clients:
    intake: Client = field(default_factory=lambda: Client(PORTS["intake"]))
    council: Client = field(default_factory=lambda: Client(PORTS["council"]))
    book: Client = field(default_factory=lambda: Client(PORTS["book"]))


def _wait(probe: Any, what: str, timeout: float = TIMEOUT) -> float:
    """Poll ``probe()`` until true; the monotonic time it first was."""
    deadline = time.monotonic() + timeout
    while True:
        if probe():
            return time.perf_counter()
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(POLL_SECONDS)


# -- deed recorded → an introduction council holds ------------------------------------------------
def introduction_latency(people: People, unit: str, samples: int) -> dict[str, Any]:
    c = Clients()
    org = people.org
    author = next(o for o in people.unit_officers(unit) if ("officer", o) in people.tokens)
    lead = org.subunits[org.officers[author].subunit].lead
    secretary = org.units[unit].secretary
    today = clock.today()
    month = str(clock.Month.of(today))
    report = f"/api/v1/reports/monthly?month={month}"
    sec_token = people.token("unit_secretary", secretary)

    def introduced() -> int:
        rows = c.council.ok("GET", report, token=sec_token)["items"]
        return next(r["introduced"] for r in rows if r["unit"] == unit)

    times = []
    for i in range(samples):
        before = introduced()
        t0 = time.perf_counter()
        deed = c.intake.ok("POST", "/api/v1/deeds", deed_body({"officer": author}, today, i),
                           token=people.token("officer", author))
        c.intake.ok("POST", f"/api/v1/deeds/{deed['id']}/introduce", {}, token=people.token("subunit_lead", lead))
        t1 = _wait(lambda before=before: introduced() > before, "the introduction in council")
        times.append(t1 - t0)
    return summary(times)


# -- round closed → entry in the book → feed ------------------------------------------------------
def month_day(month: clock.Month) -> dt.date:
    today = clock.today()
    day = dt.date(month.year, month.month, 15)
    return min(day, today)


_ETAGS: dict[str, str] = {}


def feed_entries(c: Clients, book: str) -> int:
    """The entries the book's Atom feed says it holds (``X-Chain-Entries``, sent with a 304 too),
    asked with the last ETag seen, as a feed reader asks."""
    path = f"/feeds/{book}.atom"
    status, headers, _ = c.book.request("GET", path, headers={"If-None-Match": _ETAGS.get(path, '""')})
    if status not in (200, 304):
        raise RuntimeError(f"feed of {book}: {status}")
    if status == 200 and headers.get("etag"):
        _ETAGS[path] = headers["etag"]
    return int(headers.get("x-chain-entries") or 0)


# Where a close's time goes, read after each sample from the rows its messages left (each
# stamped by the process that acted, on this machine's one clock): the Inscribe written in the
# closing transaction, sent by council's relay, taken up by the book worker (its inbox row,
# written as the handler starts), the inscription's own message about that deed written (its
# handler's end, just before its commit). The feed showing the entry is the probe's own time.
HOPS = ("inscribe_written", "inscribe_sent", "inscription_started", "inscription_done")
_HOPS_SQL = """
SELECT extract(epoch FROM o.created_at), extract(epoch FROM o.sent_at), extract(epoch FROM i.processed_at),
       (SELECT extract(epoch FROM b.created_at) FROM book.outbox b
        WHERE b.type = 'intake.deed_inscribed'
          AND b.envelope -> 'payload' ->> 'deed_id' = o.envelope -> 'payload' -> 'deed' ->> 'id'
        ORDER BY b.id DESC LIMIT 1)
FROM council.outbox o JOIN book.inbox i ON i.message_id = o.message_id
WHERE o.type = 'book.inscribe' ORDER BY o.id DESC LIMIT 1
"""


def hops(db: Any, since: float) -> dict[str, float] | None:
    """Milliseconds from ``since`` (a wall-clock time) to each of ``HOPS`` of the latest Inscribe;
    None when that Inscribe is older than ``since`` (not this sample's)."""
    with db.connect() as conn:
        row = conn.execute(_HOPS_SQL).fetchone()
    if row is None or any(v is None for v in row) or float(row[0]) < since:
        return None
    return {name: (float(v) - since) * 1000 for name, v in zip(HOPS, row, strict=True)}


def close_to_feed_sample(people: People, c: Clients, unit: str, month: clock.Month, deeds: int = 1,
                         db: Any = None) -> dict[str, Any]:
    """One monthly round of ``unit`` over ``month`` with ``deeds`` candidates all approved; the
    seconds from the close request to the feed showing every new entry, and the handshake."""
    org = people.org
    u = org.units[unit]
    council = org.councils[u.council]
    authors = [o for o in people.unit_officers(unit)][: max(deeds, 1)]
    day = month_day(month)
    ids = []
    sec = people.token("unit_secretary", u.secretary)
    for i in range(deeds):
        author = authors[i % len(authors)]
        lead = org.subunits[org.officers[author].subunit].lead
        deed = c.intake.ok("POST", "/api/v1/deeds", deed_body({"officer": author}, day, i), token=sec)
        c.intake.ok("POST", f"/api/v1/deeds/{deed['id']}/introduce", {}, token=people.token("subunit_lead", lead))
        ids.append(deed["id"])
    t_open = time.perf_counter()
    rnd = c.council.ok("POST", "/api/v1/rounds", {"council": council.code, "kind": "monthly", "period": str(month)},
                       token=sec)
    state: dict[str, Any] = {}

    def is_open() -> bool:
        state["round"] = c.council.ok("GET", f"/api/v1/rounds/{rnd['id']}", token=sec)
        return state["round"]["status"] == "open"

    t_opened = _wait(is_open, "the round to open")
    cands = {cand["id"] for cand in state["round"]["candidates"]}
    for member in council.members:
        c.council.ok("POST", f"/api/v1/rounds/{rnd['id']}/ballots", {"choices": {cid: "approve" for cid in cands}},
                     token=people.token("council_member", member))
    # As every measured run here: on a quiet machine, not under the tail of the previous sample
    # (its pages, intake's bookkeeping) or of the phase before.
    waited = cpu.wait_idle(window=0.2, timeout=10.0)
    before = feed_entries(c, unit)
    wall0 = time.time()
    t0 = time.perf_counter()
    c.council.ok("POST", f"/api/v1/rounds/{rnd['id']}/close", {}, token=sec)
    t_closed = time.perf_counter()
    t1 = _wait(lambda: feed_entries(c, unit) >= before + len(cands), "the feed to show the entry")
    return {"close_to_feed": t1 - t0, "close_request": t_closed - t0, "opening_to_open": t_opened - t_open,
            "book_entries": before + len(cands), "waited": waited,
            "hops": hops(db, wall0) if db is not None and deeds == 1 else None}


def close_to_feed(people: People, units: list[str], months: list[clock.Month], db: Any = None) -> dict[str, Any]:
    """One sample per (unit, month), in turn; with ``db`` (the run's database), where each
    sample's time went (``HOPS``, medians)."""
    c = Clients()
    samples = [close_to_feed_sample(people, c, unit, month, db=db) for month in months for unit in units]
    traced = [s["hops"] for s in samples if s.get("hops")]
    return {
        "hops_p50_ms": {name: statistics.median(h[name] for h in traced) for name in HOPS} if traced else None,
        "hops_samples": len(traced),
        "close_to_feed": summary([s["close_to_feed"] for s in samples]),
        "close_request": summary([s["close_request"] for s in samples]),
        "opening_to_open": summary([s["opening_to_open"] for s in samples]),
        "book_entries_max": max(s["book_entries"] for s in samples),
        "idle_wait_s": round(sum(s["waited"] for s in samples), 1),
    }


def months_from(start: str, count: int) -> list[clock.Month]:
    m = clock.Month.parse(start)
    out = []
    for _ in range(count):
        out.append(m)
        m = m.next()
    return out
