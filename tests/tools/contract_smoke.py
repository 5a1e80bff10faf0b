#!/usr/bin/env python3
# ruff: noqa: B904, B905, E731, B023 - kept as close as can be to the contract's own smoke script
"""Contract smoke test of Sổ vàng lập công (`sovang`): the thin happy path, end to end.

A smoke test of the contract's thin path, not the full contract: passing it says that the main
flow works end to end, and nothing about the rest of the API and the rules. It drives a live
system only through API.md (the HTTP paths and the `sovang` command line) and walks one unit,
CAH-DM of shared/data/dak-nong.json, through one month:

  00-setup           `sovang up` (unless BASE_URL is set), `sovang org load`, `sovang token issue`
                     for an officer X of a sub-unit S of CAH-DM, S's lead, CAH-DM's secretary
                     and its 7 council members (every token's subject is an officer code)
  01-health          GET /healthz and GET /readyz answer 200
  02-record          X records two deeds dated today (Asia/Ho_Chi_Minh): 201, "recorded" and
                     month = the current month
  03-introduce       S's lead introduces both: 200, "introduced"
  04-monthly-round   the secretary opens this month's monthly round: 201; once it is no longer
                     "opening", both deeds are candidates and 7 members are entitled
  05-ballots-close   deed 1: 6 approve + 1 reject, deed 2: 5 approve + 2 reject, each ballot 201
                     with a receipt; close: 200, deed 1 passed and selected at "6/7", deed 2 not
                     passed (R7), the decision has a number
  06-unit-book-feed  within 30 s: deed 1 is in CAH-DM's book, which verifies; the Atom feed is
                     well-formed XML with deed 1's title; deed 1 "recognised", deed 2 "not_selected"

Run it from the project root, with SOVANG pointing at the project's CLI (Python 3.11+, standard
library only, so any virtual environment will do):
    SOVANG=".venv/bin/sovang" python tests/tools/contract_smoke.py
    python tests/tools/contract_smoke.py --list      print the configuration; start nothing
It prints PASS or FAIL for each check with the reasons ("not run" when a prerequisite failed),
then "N passed, M failed"; the exit status is 0 when every check passed, else 1.

  SOVANG    the command that runs the CLI (default "sovang"; split like a shell line, so
            "uv run sovang" works too)
  BASE_URL  unset (the default): make a temp dir, set SOVANG_HOME to it, start `sovang up
            --port P` on a free port in its own process group, wait up to 60 s for /healthz,
            stop that group at the end (log: <tmp>/sovang-up.log, kept when a check failed).
            Set: a system already running; the CLI then uses your environment, which must
            point it at that same system.
  ORG_FILE  the organisation file (default: the repository's shared/data/dak-nong.json)

It needs a fresh SOVANG_HOME, hence its own `sovang up` in a temp dir by default: CAH-DM's
round of a month opens only once, so a second run against the same data in the same month
fails by design. Titles carry a random suffix so that runs never mix. The month is fixed when
the script starts: avoid starting it in the last minutes of a month.
"""
import argparse
import datetime as dt
import html
import json
import os
import random
import shlex
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
import traceback
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections import namedtuple
from pathlib import Path
from types import SimpleNamespace

# ---------------------------------------------------------------- configuration
HERE = Path(__file__).resolve().parent
SOVANG = shlex.split(os.environ.get("SOVANG", "")) or ["sovang"]
BASE = os.environ.get("BASE_URL", "").rstrip("/")
ORG_FILE = Path(os.environ.get("ORG_FILE") or HERE / ".." / ".." / "shared" / "data" / "dak-nong.json").resolve()
UNIT = "CAH-DM"
CLI_ENV = dict(os.environ)
TZ = dt.timezone(dt.timedelta(hours=7), "Asia/Ho_Chi_Minh")     # R21; UTC+7 all year, no DST
TODAY = dt.datetime.now(TZ).date()
MONTH = TODAY.strftime("%Y-%m")
RUN = "".join(random.choices(string.ascii_lowercase + string.digits, k=6))
TITLES = [unicodedata.normalize("NFC", f"{t} [{RUN}-{n}]") for n, t in enumerate((
    "Dẫn đường cho đoàn khách lạc trong rừng cao su",
    "Sửa mái nhà cho cụ ông neo đơn sau trận lốc"), 1)]
APPROVALS = (6, 5)          # of the 7 members, for deed 1 and deed 2; the others reject
WHO = None                  # the people of the scenario, from configure()
ST = SimpleNamespace()      # what one check hands to the next
SERVER = LOG = TMP = None

# ---------------------------------------------------------------- check registry
CHECKS, ERRORS = [], []

class Fail(Exception):
    """A check failed; stop that check."""

class NotRun(Exception):
    """A check cannot run because an earlier one did not produce what it needs."""

def check(name):
    def deco(fn):
        CHECKS.append((name, fn))
        return fn
    return deco

def soft(cond, msg):
    """Record a failure and go on with the check."""
    if not cond:
        ERRORS.append(msg)
    return bool(cond)

def hard(cond, msg):
    """Fail the check now."""
    if not cond:
        raise Fail(msg)

def want(r, code, what):
    hard(r.status == code, f"{what}: expected HTTP {code}, got {r.status} {snippet(r.body)}")

def need(*attrs):
    if missing := [a for a in attrs if not hasattr(ST, a)]:
        raise NotRun(f"needs {', '.join(missing)} from an earlier check")

def snippet(body, n=240):
    text = " ".join((body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)).split())
    return text[:n] + ("…" if len(text) > n else "")

def poll(fn, ok, timeout=30, every=0.5):
    """Call fn() until ok(value) or timeout seconds pass; return (last value, ok?)."""
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if ok(v) or time.monotonic() >= end:
            return v, ok(v)
        time.sleep(every)

# ---------------------------------------------------------------- HTTP
Resp = namedtuple("Resp", "status headers body json")
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

def http(method, path, token=None, body=None, timeout=60):
    """One request to BASE+path with an optional JSON body. Never raises on an HTTP status; 429
    is retried honouring Retry-After. Returns Resp(status, headers, body, parsed JSON or None)."""
    hdrs, data = {}, None
    if body is not None:
        data, hdrs["Content-Type"] = json.dumps(body, ensure_ascii=False).encode("utf-8"), "application/json"
    if token:
        hdrs["Authorization"] = f"Bearer {token}"
    for attempt in range(6):
        req = urllib.request.Request(BASE + path, data=data, method=method, headers=hdrs)
        try:
            with _OPENER.open(req, timeout=timeout) as f:
                status, h, raw = f.status, f.headers, f.read()
        except urllib.error.HTTPError as e:
            status, h, raw = e.code, e.headers, e.read()
        if status != 429 or attempt == 5:
            break
        try:
            time.sleep(min(max(float(h.get("Retry-After") or 1), 0.2), 10))
        except ValueError:
            time.sleep(1)
    try:
        parsed = json.loads(raw) if "json" in (h.get("Content-Type") or "") else None
    except ValueError:
        parsed = None
    return Resp(status, h, raw, parsed)

def obj(r):
    """The response's JSON object, or {} when it is not one."""
    return r.json if isinstance(r.json, dict) else {}

def list_items(path, token=None):
    """GET a list, following `next` cursors; returns (items, last HTTP status)."""
    items, params = [], {"limit": 500}
    for _ in range(50):
        r = http("GET", f"{path}?{urllib.parse.urlencode(params)}", token)
        if r.status != 200:
            return items, r.status
        items += obj(r).get("items") or []
        if not obj(r).get("next"):
            break
        params["cursor"] = obj(r)["next"]
    return items, 200

# ---------------------------------------------------------------- command line, tokens, people
def cli(*args, timeout=120):
    try:
        return subprocess.run(SOVANG + list(args), env=CLI_ENV, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise Fail(f"`sovang {' '.join(args)}` did not finish within {timeout} s")

def issue(role, subject):
    """`sovang token issue`: the token is the line it prints on stdout."""
    p = cli("token", "issue", "--role", role, "--subject", subject)
    lines = [ln.strip() for ln in p.stdout.splitlines() if ln.strip()]
    hard(p.returncode == 0 and lines, f"`sovang token issue --role {role} --subject {subject}` exited "
                                      f"{p.returncode}: {snippet(p.stderr or p.stdout)}")
    return lines[-1]

def configure():
    """Pick the people of the scenario in CAH-DM from the organisation file."""
    org = json.loads(ORG_FILE.read_text("utf-8"))
    u = next((x for x in org["units"] if x["code"] == UNIT), None)
    if u is None:
        raise ValueError(f"no unit {UNIT} in {ORG_FILE.name}")
    members = list(u["council"]["members"])
    for s in sorted(u["subunits"], key=lambda s: s["kind"] != "commune"):      # a commune first
        # X: an officer of S who is neither its lead, the unit's secretary nor a council member
        plain = [o["code"] for o in org["officers"] if o.get("subunit") == s["code"]
                 and o["code"] not in {*members, s["lead"], u["secretary"]}]
        if plain:
            return SimpleNamespace(council=u["council"]["code"], members=members, secretary=u["secretary"],
                                   S=s["code"], lead=s["lead"], X=plain[0])
    raise ValueError(f"{UNIT} has no sub-unit with an officer who is neither lead, secretary nor member")

# ---------------------------------------------------------------- server lifecycle
def log_tail(n=40):
    try:
        return "\n".join(Path(TMP, "sovang-up.log").read_text("utf-8", "replace").splitlines()[-n:]) or "(empty)"
    except (OSError, TypeError):
        return "(no log)"

def start_server():
    global BASE, SERVER, LOG, TMP
    TMP = tempfile.mkdtemp(prefix="sovang-smoke-")
    CLI_ENV["SOVANG_HOME"] = TMP
    with socket.socket() as s:                      # a free port
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    BASE = f"http://127.0.0.1:{port}"
    LOG = open(os.path.join(TMP, "sovang-up.log"), "wb")
    SERVER = subprocess.Popen(SOVANG + ["up", "--port", str(port)], env=CLI_ENV, stdout=LOG,
                              stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    end = time.monotonic() + 60
    while time.monotonic() < end:
        if SERVER.poll() is not None:
            raise Fail(f"`{shlex.join(SOVANG)} up --port {port}` exited with {SERVER.returncode} before "
                       f"GET /healthz answered (is SOVANG the project's CLI? its log is below)")
        try:
            if http("GET", "/healthz", timeout=2).status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise Fail("GET /healthz did not answer 200 within 60 s (the server's log is below)")

def stop_server():
    """Stop the process group we started, by its id: SIGINT (Ctrl-C), then SIGTERM, then SIGKILL."""
    if SERVER is not None:
        pgid = SERVER.pid                           # start_new_session: the group id is its pid
        for sig, grace in ((signal.SIGINT, 10), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            try:
                os.killpg(pgid, sig)
                end = time.monotonic() + grace
                while time.monotonic() < end:
                    SERVER.poll()                   # reap the leader so the group can vanish
                    os.killpg(pgid, 0)
                    time.sleep(0.2)
            except ProcessLookupError:              # the whole group is gone
                break
    if LOG:
        LOG.close()

# ================================================================ the checks, in running order
@check("00-setup")
def c_setup():
    global WHO
    hard(shutil.which(SOVANG[0]), f"SOVANG={shlex.join(SOVANG)!r}: {SOVANG[0]!r} is not an executable "
                                  f"command (point SOVANG at the project's CLI, e.g. SOVANG=.venv/bin/sovang)")
    hard(ORG_FILE.is_file(), f"organisation file not found: {ORG_FILE} (set ORG_FILE)")
    WHO = configure()
    hard(len(WHO.members) == 7, f"the scenario assumes a council of 7; {WHO.council} has {len(WHO.members)}")
    if not BASE:
        start_server()
    p = cli("org", "load", str(ORG_FILE), timeout=300)
    hard(p.returncode == 0, f"`sovang org load` exited {p.returncode}: {snippet(p.stderr or p.stdout, 600)}")
    ST.x, ST.lead, ST.sec = (issue("officer", WHO.X), issue("subunit_lead", WHO.lead),
                             issue("unit_secretary", WHO.secretary))
    ST.members = [issue("council_member", m) for m in WHO.members]
    r, ok = poll(lambda: http("GET", f"/api/v1/deeds?unit={UNIT}&limit=1", ST.sec), lambda r: r.status == 200)
    hard(ok, f"{UNIT}'s secretary cannot list its deeds 30 s after `sovang org load`: "
             f"{r.status} {snippet(r.body)}")
    ST.ready = True

@check("01-health")
def c_health():
    r = http("GET", "/healthz")
    soft(r.status == 200, f"GET /healthz: expected 200, got {r.status} {snippet(r.body)}")
    r, ok = poll(lambda: http("GET", "/readyz"), lambda r: r.status == 200)
    soft(ok, f"GET /readyz: expected 200 within 30 s, got {r.status} {snippet(r.body)}")

@check("02-record")
def c_record():
    deeds = []
    for n, t in enumerate(TITLES, 1):
        body = {"author": {"officer": WHO.X}, "occurred_on": TODAY.isoformat(), "kind": "good_deed",
                "relation": "direct", "title": t, "place": "huyện Đắk Mil",
                "description": f"{t}. Cán bộ đã kịp thời giúp đỡ, được bà con địa phương ghi nhận."}
        r = http("POST", "/api/v1/deeds", ST.x, body)
        want(r, 201, f"officer {WHO.X} records deed {n}")
        d = obj(r)
        hard(d.get("id"), f"deed {n}: no id in {snippet(r.body)}")
        for field, exp in (("status", "recorded"), ("month", MONTH)):
            soft(d.get(field) == exp, f"deed {n}: {field} is {d.get(field)!r}, expected {exp!r}")
        deeds.append(d)
    ST.deeds = deeds

@check("03-introduce")
def c_introduce():
    need("deeds")
    for n, d in enumerate(ST.deeds, 1):
        r = http("POST", f"/api/v1/deeds/{d['id']}/introduce", ST.lead, {})
        want(r, 200, f"the lead of {WHO.S} introduces deed {n}")
        soft(obj(r).get("status") == "introduced", f"deed {n} after introduce: status {obj(r).get('status')!r}")
    ST.introduced = True

@check("04-monthly-round")
def c_monthly_round():
    need("introduced")
    r = http("POST", "/api/v1/rounds", ST.sec, {"council": WHO.council, "kind": "monthly", "period": MONTH})
    hard(r.status != 409, f"opening the monthly round of {WHO.council} for {MONTH}: 409 {snippet(r.body)} "
                          "(is SOVANG_HOME fresh? the round of a month opens only once)")
    want(r, 201, f"{UNIT}'s secretary opens the monthly round of {WHO.council} for {MONTH}")
    rid = obj(r).get("id")
    hard(rid, f"the new round has no id: {snippet(r.body)}")
    got, ok = poll(lambda: http("GET", f"/api/v1/rounds/{rid}", ST.sec),
                   lambda g: g.status == 200 and obj(g).get("status") != "opening")
    hard(ok, f"GET round {rid}: still 'opening' (or not 200) after 30 s: {got.status} {snippet(got.body)}")
    rnd = obj(got)
    soft(rnd.get("status") == "open", f"round {rid}: status {rnd.get('status')!r}, expected 'open'")
    cands = {c.get("deed_id") for c in rnd.get("candidates") or []}
    hard({d["id"] for d in ST.deeds} <= cands,
         f"round {rid}: candidates {sorted(map(str, cands))} lack deed 1 or 2 {[d['id'] for d in ST.deeds]}")
    soft(rnd.get("entitled") == 7, f"round {rid}: entitled is {rnd.get('entitled')!r}, expected 7")
    ST.round = rnd

def expect(c, label, **exp):
    """Compare one candidate of a Result with the expected fields."""
    if soft(c is not None, f"{label}: missing from the result"):
        bad = {k: c.get(k) for k, v in exp.items() if c.get(k) != v}
        soft(not bad, f"{label}: expected {exp}; got {bad}")

@check("05-ballots-close")
def c_ballots_close():
    need("round")
    rid, approvals = ST.round["id"], {d["id"]: n for d, n in zip(ST.deeds, APPROVALS)}
    for i, (code, tok) in enumerate(zip(WHO.members, ST.members)):
        choices = {str(c["id"]): "approve" if i < approvals.get(c.get("deed_id"), 0) else "reject"
                   for c in ST.round["candidates"]}
        r = http("POST", f"/api/v1/rounds/{rid}/ballots", tok, {"choices": choices})
        want(r, 201, f"ballot of member {code}")
        hard(obj(r).get("receipt"), f"ballot of member {code}: no receipt in {snippet(r.body)}")
    r = http("POST", f"/api/v1/rounds/{rid}/close", ST.sec, {})
    want(r, 200, f"{UNIT}'s secretary closes round {rid}")
    res = obj(r)
    got = {c.get("deed_id"): c for c in res.get("candidates") or []}
    d1, d2 = (got.get(d["id"]) for d in ST.deeds)
    expect(d1, "deed 1", approve=6, reject=1, entitled=7, ratio="6/7", passed=True, selected=True)
    expect(d2, "deed 2", approve=5, reject=2, entitled=7, ratio="5/7", passed=False)
    soft(isinstance(res.get("decision"), dict) and res["decision"].get("number"),
         f"the result's decision has no number: {res.get('decision')!r}")
    ST.closed = True

@check("06-unit-book-feed")
def c_unit_book_feed():
    need("closed")
    d1, d2 = (d["id"] for d in ST.deeds)
    in_book = lambda got: d1 in {(e.get("deed") or {}).get("id") for e in got[0] if isinstance(e, dict)}
    (entries, status), ok = poll(lambda: list_items(f"/api/v1/books/{UNIT}/entries"), in_book)
    hard(ok, f"deed 1 is not in {UNIT}'s book within 30 s (GET entries: {status}, {len(entries)} entries)")
    r = http("GET", f"/api/v1/books/{UNIT}/verify")
    soft(r.status == 200 and obj(r).get("valid") is True,
         f"GET /api/v1/books/{UNIT}/verify: {r.status} {snippet(r.body)}")
    r = http("GET", f"/feeds/{UNIT}.atom")
    if soft(r.status == 200, f"GET /feeds/{UNIT}.atom: {r.status} {snippet(r.body)}"):
        try:        # Atom text may be type="html": compare the decoded text
            texts = [unicodedata.normalize("NFC", html.unescape(el.text or "")) for el in ET.fromstring(r.body).iter()]
            soft(any(TITLES[0] in t for t in texts), f"the Atom feed lacks deed 1's title {TITLES[0]!r}")
        except ET.ParseError as e:
            soft(False, f"GET /feeds/{UNIT}.atom: not well-formed XML ({e})")
    for n, deed_id, exp in ((1, d1, "recognised"), (2, d2, "not_selected")):
        s, ok = poll(lambda: obj(http("GET", f"/api/v1/deeds/{deed_id}", ST.x)).get("status"), lambda s: s == exp)
        soft(ok, f"deed {n}: status {s!r}, expected {exp!r} within 30 s")

# ---------------------------------------------------------------- runner
def run_checks():
    results = []
    for name, fn in CHECKS:
        ERRORS.clear()
        t0, msgs = time.monotonic(), []
        try:
            if name != "00-setup" and not hasattr(ST, "ready"):
                raise NotRun("setup failed")
            fn()
        except NotRun as e:
            msgs.append(f"not run: {e}")
        except Fail as e:
            msgs.append(str(e))
        except Exception as e:                       # a crash in a check is that check's failure
            mine = [f for f in traceback.extract_tb(e.__traceback__) if f.filename == __file__]
            msgs.append(f"{type(e).__name__}: {e} (contract_smoke.py line {mine[-1].lineno if mine else '?'})")
        msgs = ERRORS + msgs
        results.append((name, not msgs))
        print(f"{'PASS' if not msgs else 'FAIL'} {name} ({time.monotonic() - t0:.1f} s)", flush=True)
        for m in msgs:
            print(f"     - {m}", flush=True)
    return results

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--list", action="store_true", help="print the configuration and the checks, start nothing")
    if ap.parse_args().list:
        print(f"SOVANG   = {SOVANG}")
        print(f"BASE_URL = {BASE or '(unset: start `sovang up` on a free port, SOVANG_HOME in a temp dir)'}")
        print(f"ORG_FILE = {ORG_FILE}{'' if ORG_FILE.is_file() else '  (MISSING)'}")
        print(f"today {TODAY} (Asia/Ho_Chi_Minh), month {MONTH}, run suffix {RUN}")
        try:
            w = configure()
        except (OSError, ValueError, KeyError, TypeError) as e:
            print(f"cannot read the organisation file: {e!r}")
        else:
            print(f"unit {UNIT}: council {w.council} {w.members}, secretary {w.secretary}, "
                  f"sub-unit {w.S} lead {w.lead}, officer X {w.X}")
        print("checks, in running order:\n" + "\n".join(f"  {name}" for name, _ in CHECKS))
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        results = run_checks()
    finally:
        stop_server()
    failed = [name for name, ok in results if not ok]
    if failed and TMP:
        print(f"\nserver log {TMP}/sovang-up.log, last lines:\n{log_tail()}\n")
    elif TMP:
        shutil.rmtree(TMP, ignore_errors=True)
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0

if __name__ == "__main__":
    sys.exit(main())
