"""Faults injected into ``sovang cluster`` (2 gunicorn workers and 2 Celery workers per service, one
beat, the gateway), its broker a Redis of the tests' own behind the fault proxy.

Each test records a history of client operations through the gateway, injects its fault, then
checks that every acknowledged deed, ballot and inscription is present exactly once, and adds
its line to the table printed at the end of the run.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from faults_flow import Check, Unit, check_ballots, check_deeds, check_inscriptions, month_ago
from faults_harness import ROOT, Cluster, Outcome, RedisServer, parallel, poll, record_outcome

from shared import clock
from shared.celery_app import make_celery
from shared.db import utcnow
from shared.messages import Inscribe, envelope
from shared.signing import message_keys, sign
from sovang.faultproxy import FaultProxy

pytestmark = pytest.mark.slow


def test_the_thin_path_on_the_cluster(cluster: Cluster) -> None:
    """Piece 1: one deed from a unit's POST to the unit book's Atom feed, through the gateway,
    with two workers on every queue."""
    assert len(cluster.children("worker")) == 6 and len(cluster.children("beat")) == 1
    unit = Unit.of(cluster, "CAH-DM")
    month, _ = month_ago(0)
    deeds = unit.record(2, label="thin")
    assert [d.status for d in deeds] == [201, 201]
    assert all(i.status == 200 and i.result["status"] == "introduced" for i in unit.introduce(deeds))
    rnd = unit.open_round()
    assert {c["deed_id"] for c in rnd["candidates"]} == {d.result["id"] for d in deeds}
    late = unit.record(1, label="late")[0]
    carried = unit.client.post("introduce", f"/api/v1/deeds/{late.result['id']}/introduce", unit.lead, {})
    assert carried.status == 200 and carried.result["carried_over"] is True, (
        "once its round has opened, the month's late introductions go to the next round (R5a)")
    ballots = unit.vote(rnd, approve=6)
    assert [b.status for b in ballots] == [201] * 7
    result = unit.close(rnd)
    assert result["quota_met"] is True and result["decision"]["number"]
    assert all(c["ratio"] == "6/7" and c["selected"] for c in result["candidates"])

    check = Check()
    check_deeds(unit, deeds + [late], month, check)
    check_ballots(unit, ballots, result, check)
    entries = check_inscriptions(unit, result, check)
    feed = unit.client.get(f"/feeds/{unit.people.unit}.atom")
    assert feed.status == 200
    titles = {el.text for el in ET.fromstring(feed.body).iter() if el.tag.endswith("title")}
    assert {d.result["title"] for d in deeds} <= titles
    assert check.problems == [], check.problems
    # The gateway also serves the merged API description and the health of every service.
    assert set(cluster.state()["web"]) == {"intake", "council", "book"}
    assert unit.client.get("/readyz").json["status"] == "ok"
    assert "/api/v1/deeds" in unit.client.get("/api/v1/openapi.json").json["paths"]
    record_outcome(Outcome("none (thin path, 2 workers/service)", 0, dict(check.acknowledged), check.total_lost,
                           check.total_duplicated, f"{len(entries)} entries; cluster up in {cluster.started_in:.0f}s"))


def unsent(cluster: Cluster, service: str) -> int:
    return cluster.scalar(service, "SELECT count(*) FROM outbox WHERE sent_at IS NULL")


def _logged(cluster: Cluster, pattern: str) -> int:
    """The sum of the counts the relays wrote in their log lines matching ``pattern``."""
    return sum(int(m.group(1)) for m in re.finditer(pattern, cluster.logs("worker-*.log")))


def republished(cluster: Cluster) -> int:
    """Rows the relays sent again because the broker had lost its data."""
    return _logged(cluster, r"lost its data; (\d+) message")


def resent(cluster: Cluster) -> int:
    """Rows the relays sent again because no consumer confirmed them."""
    return _logged(cluster, r"outbox of \w+: (\d+) message\(s\) sent over \d+s ago never reached a consumer")


def test_broker_blackholed_then_reset_during_intake(cluster: Cluster, broker_proxy: FaultProxy) -> None:
    """POSTs still answer 201 while the broker is unreachable; the outbox holds the messages;
    after healing every deed reaches council exactly once."""
    unit = Unit.of(cluster, "CAH-CJ")
    month, _ = month_ago(1)
    resent_before = resent(cluster)
    before = unit.record(3, month_back=1, label="before")
    broker_proxy.blackhole()
    try:
        t0 = time.monotonic()
        dark = unit.record(12, month_back=1, label="blackhole")
        dark_seconds = time.monotonic() - t0
        held = unsent(cluster, "intake")
        broker_proxy.reset()
        reset = unit.record(6, month_back=1, label="reset")
        introduced = unit.introduce(dark[:4])
        ready = unit.client.get("/readyz")
        held_after_reset = unsent(cluster, "intake")
    finally:
        broker_proxy.heal()
    healed = time.monotonic()
    ops = before + dark + reset
    assert [op.status for op in ops] == [201] * len(ops), [op.result for op in ops if op.status != 201]
    assert [op.status for op in introduced] == [200] * 4
    assert held >= len(dark), f"the outbox holds what the broker could not take ({held} unsent)"
    assert held_after_reset >= len(dark) + len(reset) + 4
    assert ready.status == 503, "readiness says the broker is away"

    check = Check()
    check_deeds(unit, ops, month, check, timeout=90)
    drained = poll(lambda: unsent(cluster, "intake"), lambda n: n == 0, timeout=60)
    recovered = time.monotonic() - healed
    assert drained == 0
    assert check.problems == [], check.problems
    record_outcome(Outcome(
        "broker blackholed, then reset (TCP proxy)", 2, dict(check.acknowledged), check.total_lost,
        check.total_duplicated,
        f"{len(dark)} POSTs in {dark_seconds:.1f}s while dark; {held_after_reset} messages held; "
        f"all downstream {recovered:.0f}s after healing; {resent(cluster) - resent_before} lost on the way "
        "to a worker and sent again"))


def test_redis_restarted_empty_mid_flow(cluster: Cluster, fault_redis: RedisServer) -> None:
    """Redis killed and started again without its data twice: while deeds are being recorded, and
    while the inscriptions of a closed round are in flight. Lost 0, duplicates 0."""
    unit = Unit.of(cluster, "CAH-DS")
    month, _ = month_ago(1)
    republished_before = republished(cluster)
    queued: list[int] = []

    def restart_after(seconds: float) -> threading.Thread:
        def go() -> None:
            time.sleep(seconds)
            r = fault_redis.client()
            queued.append(sum(r.llen(q) for q in ("intake", "council", "book")) + r.hlen("unacked"))
            fault_redis.restart_empty()

        t = threading.Thread(target=go)
        t.start()
        return t

    t = restart_after(0.8)
    deeds = unit.record(24, month_back=1, label="restart")
    t.join()
    introduced = unit.introduce(deeds)
    rnd = unit.open_round(month_back=1)
    assert len(rnd["candidates"]) == len([i for i in introduced if i.acknowledged])
    ballots = unit.vote(rnd)
    result = unit.close(rnd)
    # The round's 24 Inscribe and 24 DeedFateDecided are leaving council's outbox right now.
    time.sleep(0.3)
    r = fault_redis.client()
    queued.append(sum(r.llen(q) for q in ("intake", "council", "book")) + r.hlen("unacked"))
    fault_redis.restart_empty()

    check = Check()
    check_deeds(unit, deeds, month, check, timeout=90)
    check_ballots(unit, ballots, result, check)
    entries = check_inscriptions(unit, result, check, timeout=120)
    assert check.problems == [], check.problems
    assert len(entries) == 24
    again = republished(cluster) - republished_before
    assert again > 0, "the relays noticed the broker had lost its data"
    record_outcome(Outcome(
        "Redis restarted empty, twice", 2, dict(check.acknowledged), check.total_lost, check.total_duplicated,
        f"{sum(queued)} messages in Redis when it died; {again} unconfirmed ones sent again by the relays"))


def _pool_children(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _redeliveries(fault_redis: RedisServer, service: str) -> dict[bytes, int]:
    r = fault_redis.client()
    keys = list(r.scan_iter(f"sovang:deliveries:{service}:*", count=1000))
    return {k: int(v) for k, v in zip(keys, r.mget(keys) if keys else [], strict=True) if v is not None}


def _book_busy(fault_redis: RedisServer) -> bool:
    """Whether a worker holds a book message it has not acknowledged (kombu's ``unacked`` hash
    keeps ``[message, exchange, routing key]`` for each)."""
    return any(v.endswith(b'"book"]') for v in fault_redis.client().hvals("unacked"))


def test_book_worker_sigkilled_mid_inscription_five_times(cluster: Cluster, fault_redis: RedisServer) -> None:
    """While four rounds' inscriptions flow, book workers are SIGKILLed five times at random points:
    three times the whole worker (its messages come back after the visibility timeout), twice
    the pool process running the task (requeued at once). Each entry once, chains valid."""
    units = [Unit.of(cluster, code) for code in ("CAH-KN", "CAH-DG", "CAH-TD", "CAH-DRL")]
    prepared = []
    for u in units:
        deeds = u.record(15, month_back=2, label="kill")
        u.introduce(deeds)
        rnd = u.open_round(month_back=2)
        ballots = u.vote(rnd)
        prepared.append((u, deeds, rnd, ballots))
    seen_before = _redeliveries(fault_redis, "book")
    resent_before = resent(cluster)
    results = parallel(lambda p: p[0].close(p[2]), prepared)
    rng = random.Random()
    kills: list[str] = []
    for i in range(5):
        # At a random point while the book is at work: the inscriptions go fast enough that kills
        # at random points of a fixed window could all fall after the last of them.
        poll(lambda: _book_busy(fault_redis), lambda busy: busy, timeout=5, every=0.01)
        time.sleep(rng.uniform(0.0, 0.2))
        target = cluster.children("worker", "book")[rng.randrange(2)]
        pid = target["pid"] or cluster.wait_restarted(target["name"], -1)
        if i in (1, 3) and _pool_children(pid):
            child = rng.choice(_pool_children(pid))
            os.kill(child, signal.SIGKILL)
            kills.append(f"pool process of {target['name']}")
        else:
            for victim in [*_pool_children(pid), pid]:
                os.kill(victim, signal.SIGKILL)
            kills.append(target["name"])
            cluster.wait_restarted(target["name"], pid)

    check = Check()
    entries = 0
    for (u, deeds, _rnd, ballots), result in zip(prepared, results, strict=True):
        check_deeds(u, deeds, month_ago(2)[0], check)
        check_ballots(u, ballots, result, check)
        entries += len(check_inscriptions(u, result, check, timeout=120))
    assert check.problems == [], check.problems
    seen = _redeliveries(fault_redis, "book")
    redelivered = sum(1 for k, n in seen.items() if n > 1 and seen_before.get(k, 0) < n)
    assert redelivered > 0, "no kill hit a message in flight"
    parked = cluster.scalar("book", "SELECT count(*) FROM parked_messages")
    assert parked == 0
    record_outcome(Outcome(
        "book worker SIGKILLed mid-inscription", len(kills), dict(check.acknowledged), check.total_lost,
        check.total_duplicated, f"{redelivered} messages redelivered ({resent(cluster) - resent_before} of them sent "
                                f"again by a relay); {entries} entries in 4 books, chains valid"))


def test_beat_killed_across_deadlines_and_two_beats_at_once(cluster: Cluster) -> None:
    """Five rounds with deadlines 2.5 s apart: the beat is SIGKILLed just before each of the first
    three (the cluster starts it again); a second beat runs beside it for the last two. Every
    round is closed once, by the schedule; the largest lateness is reported."""
    unit = Unit.of(cluster, "P-CSGT")
    months = range(3, 8)
    for k in months:
        unit.introduce(unit.record(1, month_back=k, label=f"beat{k}"))
    first = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=14)
    opened = [unit.open_round(month_back=k, closes_in=(first - dt.datetime.now(dt.UTC)).total_seconds() + 2.5 * i,
                              wait_open=False) for i, k in enumerate(months)]
    rounds = [unit.wait_open(r["id"]) for r in opened]
    ballots = {r["id"]: unit.vote(r) for r in rounds}
    due = [dt.datetime.fromisoformat(r["closes_at"]) for r in rounds]
    assert due[0] > dt.datetime.now(dt.UTC), "the setup took longer than the first deadline allows"
    kills = 0
    second = None
    try:
        for i in range(3):
            time.sleep(max(0.0, (due[i] - dt.datetime.now(dt.UTC)).total_seconds() - 0.4))
            beat = cluster.children("beat")[0]
            pid = beat["pid"] or cluster.wait_restarted(beat["name"], -1)
            os.kill(pid, signal.SIGKILL)
            kills += 1
            cluster.wait_restarted(beat["name"], pid)
        home = cluster.home / "second-beat"
        home.mkdir(exist_ok=True)
        with open(home / "beat.log", "wb") as log:
            second = subprocess.Popen([sys.executable, "-m", "sovang.cli", "beat"], cwd=ROOT,
                                      env={**cluster.env, "SOVANG_HOME": str(home)}, stdin=subprocess.DEVNULL,
                                      stdout=log, stderr=subprocess.STDOUT)
        results = [unit.result(r["id"], timeout=90) for r in rounds]
    finally:
        if second is not None:
            second.terminate()
            second.wait(20)

    check = Check()
    for rnd, result in zip(rounds, results, strict=True):
        check_ballots(unit, ballots[rnd["id"]], result, check)
    ids = [r["id"] for r in rounds]
    tallies = cluster.rows("council", "SELECT t.round_id, t.closed_by, t.closed_at, r.closes_at FROM tallies t "
                                      "JOIN rounds r ON r.id = t.round_id WHERE t.round_id = ANY(:ids)", ids=ids)
    assert len(tallies) == len(rounds) and {t.closed_by for t in tallies} == {"schedule"}
    decisions = cluster.rows("council", "SELECT round_id, count(*) AS n FROM decisions WHERE round_id = ANY(:ids) "
                                        "GROUP BY round_id", ids=ids)
    assert sorted(d.n for d in decisions) == [1] * len(rounds), "one decision per round"
    lateness = [(t.closed_at - t.closes_at).total_seconds() for t in tallies]
    check_inscriptions(unit, {"candidates": [c for r in results for c in r["candidates"]]}, check, timeout=60)
    assert check.problems == [], check.problems
    record_outcome(Outcome(
        "beat SIGKILLed across deadlines; 2 beats", kills + 1, dict(check.acknowledged), check.total_lost,
        check.total_duplicated,
        f"{len(rounds)} rounds closed once each by the schedule; lateness max {max(lateness):.1f}s, "
        f"mean {sum(lateness) / len(lateness):.1f}s"))


RELAY_THEN_DIE = """
import json, os, signal, sys
from services.intake import schemas, services
from services.intake.app import build_runtime
from services.intake.domain.scope import Actor
from shared.celery_app import make_celery, make_relay
from shared.config import Settings

settings = Settings.from_env()
runtime = build_runtime(settings)
lead, body = sys.argv[1], json.loads(sys.argv[2])
relay = make_relay(make_celery("intake", settings), runtime.db, settings)
# Ready before the deed exists, so that it takes the row before the cluster's relays (they poll
# every 0.5 s): the broker's run known, no look at confirmations on the way.
relay.check_broker()
relay._confirm_at = float("inf")
deed = runtime.run(services.record_deed, Actor("subunit_lead", lead), schemas.DeedIn().load(body))
publish = relay.publish

def publish_then_die(name, queue, env, message_id):
    publish(name, queue, env, message_id)  # the broker has it ...
    print(json.dumps({"deed": deed["id"], "message": message_id}), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # ... and the row is never marked sent

relay.publish = publish_then_die
relay.relay_once()
print(json.dumps({"deed": deed["id"], "message": None}), flush=True)
"""


def test_relay_killed_between_publish_and_mark_sent(cluster: Cluster, fault_redis: RedisServer) -> None:
    """A relay process publishes a message and is SIGKILLed before its transaction marks the row
    sent: another relay sends it again, and council takes it once."""
    unit = Unit.of(cluster, "P-TM")
    month, day = month_ago(1)
    hits = []
    for attempt in range(10):
        body = {"author": {"officer": unit.people.officers[0]}, "occurred_on": day.isoformat(), "kind": "feat",
                "relation": "indirect", "title": f"Phá chuyên án ma tuý xuyên biên giới #{attempt}",
                "description": "Triệt phá đường dây vận chuyển ma tuý qua cửa khẩu Bu Prăng."}
        p = subprocess.run([sys.executable, "-c", RELAY_THEN_DIE, unit.people.lead, json.dumps(body, ensure_ascii=False)],
                           cwd=ROOT, env=cluster.env, capture_output=True, text=True, timeout=120)
        out = json.loads(p.stdout.strip().splitlines()[-1])
        assert p.returncode in (0, -signal.SIGKILL), p.stderr
        if out["message"]:
            assert p.returncode == -signal.SIGKILL
            hits.append(out)
            break
        # The cluster's own relays took the row first (they poll every 0.5 s): try again.
    assert hits, "the dying relay never got to publish"
    hit = hits[0]
    mid = hit["message"]
    sent = poll(lambda: cluster.scalar("intake", "SELECT sent_at FROM outbox WHERE message_id = :m", m=mid),
                lambda v: v is not None, timeout=30)
    assert sent is not None, "a live relay sent the row the dead one had left unmarked"
    key = f"sovang:deliveries:council:{mid}"
    deliveries = poll(lambda: int(fault_redis.client().get(key) or 0), lambda n: n >= 2, timeout=30)
    assert deliveries == 2, "council received the message twice"
    assert cluster.scalar("council", "SELECT count(*) FROM inbox WHERE message_id = :m", m=mid) == 1
    assert cluster.scalar("council", "SELECT count(*) FROM tracked_deeds WHERE deed_id = :d", d=hit["deed"]) == 1
    check = Check()
    check.add("deeds", 1, 0, 0)
    check.add("deeds@council", 1, 0, max(0, cluster.scalar(
        "council", "SELECT count(*) FROM tracked_deeds WHERE deed_id = :d", d=hit["deed"]) - 1))
    record_outcome(Outcome("relay SIGKILLed between publish and mark-sent", 1, dict(check.acknowledged),
                           check.total_lost, check.total_duplicated,
                           f"message delivered {deliveries}x, applied once (inbox)"))


def test_a_poison_message_is_parked_after_n_deliveries(cluster: Cluster, fault_redis: RedisServer) -> None:
    """An Inscribe for a book that does not exist fails every time: it is parked after
    SOVANG_MAX_DELIVERIES deliveries (4 here), not looped forever; an unreadable one is parked at once."""
    max_deliveries = int(cluster.env["SOVANG_MAX_DELIVERIES"])
    deed = {"id": "poison-deed", "title": "Không có sổ", "description": "…", "kind": "good_deed",
            "relation": "direct", "occurred_on": "2026-01-15", "month": "2026-01",
            "author": {"officer": "CAH-DM-0010", "name": "?"}, "unit": "NO-SUCH-UNIT"}
    failing = envelope(Inscribe(book="NO-SUCH-BOOK", source="poison:1", deed=deed,
                                decision={"number": "1/QĐ-X", "date": "2026-01-20", "issuer": "X"},
                                tally={"approve": 7, "reject": 0, "abstain": 0, "entitled": 7, "ratio": "7/7",
                                       "round": "r", "round_kind": "monthly", "period": "2026-01"}),
                       clock.isoformat(utcnow()))
    unreadable = {"id": "0190aaaa-0000-7000-8000-00000000dead", "type": "book.inscribe", "payload": {"book": 42}}
    app = make_celery("council", cluster.settings)
    t0 = time.monotonic()
    keys = message_keys(cluster.settings)  # signed as a relay would: these test what is not forged
    for env in (failing, unreadable):
        app.send_task(env["type"], args=[sign(env, keys)], queue="book", task_id=env["id"])
    app.close()

    def parked() -> dict[str, int]:
        return {r.message_id: r.deliveries for r in cluster.rows(
            "book", "SELECT message_id, deliveries FROM parked_messages WHERE message_id = ANY(:ids)",
            ids=[failing["id"], unreadable["id"]])}

    got = poll(parked, lambda p: len(p) == 2, timeout=90, every=0.5)
    took = time.monotonic() - t0
    assert got.get(unreadable["id"]) == 1
    assert got.get(failing["id"], 0) >= max_deliveries
    counter = f"sovang:deliveries:book:{failing['id']}"
    settled = int(fault_redis.client().get(counter) or 0)
    time.sleep(4)  # longer than the next retry would have waited
    assert int(fault_redis.client().get(counter) or 0) == settled, "parked means no more deliveries"
    assert cluster.scalar("book", "SELECT count(*) FROM entries WHERE source = 'poison:1'") == 0
    record_outcome(Outcome(
        "poison messages", 2, {}, 0, 0,
        f"failing one parked after {got[failing['id']]} deliveries ({took:.0f}s), unreadable one after 1"))
