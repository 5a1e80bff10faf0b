"""Profiles (pyinstrument) of the slow paths, taken in this process against the run's database
and Redis, with the same code the web and worker processes run: the Flask app through its test
client (no gunicorn in between), the book's inscribe handler through ``consume``."""

from __future__ import annotations

import gc
import json
import time
from pathlib import Path
from typing import Any

from bench.org import People
from bench.throughput import _today, batch_body, deed_body

OUT = Path(__file__).resolve().parent / "profiles"


def _ensure_pyinstrument() -> Any:
    try:
        import pyinstrument
    except ImportError:
        import subprocess
        import sys

        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "pyinstrument"], check=True)
        import pyinstrument
    return pyinstrument


class RoundTrips:
    """Counts what one engine does: statements, connection checkouts (each one a ``pool_pre_ping``
    round trip on PostgreSQL), commits and rollbacks."""

    def __init__(self, engine: Any) -> None:
        import sqlalchemy as sa

        self.counts = {"statements": 0, "checkouts": 0, "commits": 0, "rollbacks": 0}
        sa.event.listen(engine, "before_cursor_execute", self._count("statements"))
        sa.event.listen(engine.pool, "checkout", self._count("checkouts"))
        sa.event.listen(engine, "commit", self._count("commits"))
        sa.event.listen(engine, "rollback", self._count("rollbacks"))

    def _count(self, key: str) -> Any:
        def hook(*_a: Any, **_k: Any) -> None:
            self.counts[key] += 1

        return hook

    def reset(self) -> None:
        for k in self.counts:
            self.counts[k] = 0

    def per(self, n: int) -> dict[str, float]:
        return {k: round(v / n, 2) for k, v in self.counts.items()}


class CollectorTime:
    """The time the cyclic garbage collector ran (``gc.callbacks``) while entered: a close that
    makes tens of thousands of objects in a process holding the organisation pays for full
    collections, which a profile charges to whatever allocated last."""

    def __init__(self) -> None:
        self.ms = 0.0
        self._t0 = 0.0

    def _hook(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            self.ms += (time.perf_counter() - self._t0) * 1000

    def __enter__(self) -> CollectorTime:
        self.ms = 0.0
        gc.callbacks.append(self._hook)
        return self

    def __exit__(self, *exc: Any) -> None:
        gc.callbacks.remove(self._hook)


def _save(name: str, profiler: Any, note: str) -> str:
    OUT.mkdir(exist_ok=True)
    text = profiler.output_text(unicode=False, color=False, show_all=False, short_mode=False)
    text = text.replace(f"{OUT.parent.parent}/", "")  # paths relative to the repository
    path = OUT / f"{name}.txt"
    path.write_text(f"# {note}\n{text}", "utf-8")
    return str(path.relative_to(OUT.parent.parent))


def post_deeds(settings: Any, people: People, unit: str, requests: int = 200) -> dict[str, Any]:
    pyinstrument = _ensure_pyinstrument()
    from services.intake.app import create_app

    app = create_app(settings)
    client = app.test_client()
    author = next(o for o in people.unit_officers(unit) if ("officer", o) in people.tokens)
    headers = {"Authorization": f"Bearer {people.token('officer', author)}"}
    body = deed_body({"officer": author}, _today())
    trips = RoundTrips(app.extensions["sovang"].db.engine)
    for i in range(10):
        client.post("/api/v1/deeds", json=body, headers={**headers, "Idempotency-Key": f"warm-{time.time()}-{i}"})
    trips.reset()
    profiler = pyinstrument.Profiler(interval=0.0005)
    t0 = time.perf_counter()
    with profiler:
        for i in range(requests):
            r = client.post("/api/v1/deeds", json=body, headers={**headers, "Idempotency-Key": f"p-{time.time()}-{i}"})
            assert r.status_code == 201, r.data
    per_request = (time.perf_counter() - t0) / requests
    per = trips.per(requests)
    # The same without Idempotency-Key, unprofiled: what the key's two transactions cost.
    trips.reset()
    t0 = time.perf_counter()
    for _ in range(requests // 2):
        assert client.post("/api/v1/deeds", json=body, headers=headers).status_code == 201
    without = (time.perf_counter() - t0) / (requests // 2)
    per_without = trips.per(requests // 2)
    path = _save("post_deeds", profiler, f"POST /api/v1/deeds x{requests}, in-process, {per_request * 1000:.1f} ms each; "
                                        f"per request: {per}; without Idempotency-Key (not profiled): "
                                        f"{without * 1000:.1f} ms each, {per_without}")
    app.extensions["sovang"].db.dispose()
    return {"file": path, "ms_per_request": per_request * 1000, "per_request": per,
            "ms_per_request_without_key": without * 1000, "per_request_without_key": per_without}


# Where a profiled call waits for PostgreSQL or Redis rather than computing: socket calls, and
# psycopg's calls that block until the server answers.
_BLOCKING = ("recv", "sendall", "_send_query_prepared", "_exec_command", "'poll'")


def _owner(filename: str, name: str) -> str:
    """The library (or module of ours, or stdlib) a profiled function belongs to."""
    if any(b in name for b in _BLOCKING) or (filename.endswith("psycopg/connection.py") and name == "wait"):
        return "(waiting for PostgreSQL or Redis)"
    if "site-packages/" in filename:
        return filename.split("site-packages/")[1].split("/")[0].removesuffix(".py")
    root = str(OUT.parent.parent) + "/"
    if filename.startswith(root):
        return filename.removeprefix(root).split("/")[0] + " (this repository)"
    if filename == "~":
        return "builtins (C)"
    return "stdlib"


def post_deeds_cpu(settings: Any, people: People, unit: str, requests: int = 1000) -> dict[str, Any]:
    """``POST /api/v1/deeds`` under cProfile: the time each library spends itself (its own
    functions, not those it calls), per request, apart from the waits for the servers. cProfile
    slows calls down, fine-grained code more than coarse, so the shares are what to read."""
    import cProfile
    import pstats

    from services.intake.app import create_app

    app = create_app(settings)
    client = app.test_client()
    author = next(o for o in people.unit_officers(unit) if ("officer", o) in people.tokens)
    headers = {"Authorization": f"Bearer {people.token('officer', author)}"}
    raw = json.dumps(deed_body({"officer": author}, _today()), ensure_ascii=False)

    def post(i: int) -> None:
        r = client.post("/api/v1/deeds", data=raw, content_type="application/json",
                        headers={**headers, "Idempotency-Key": f"cpu-{time.time()}-{i}"})
        assert r.status_code == 201, r.data

    for i in range(20):
        post(i)
    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(requests):
        post(i)
    profiler.disable()
    owners: dict[str, float] = {}
    for (filename, _line, name), (_cc, _nc, own, _cum, _callers) in pstats.Stats(profiler).stats.items():
        key = _owner(filename, name)
        owners[key] = owners.get(key, 0.0) + own
    waiting = owners.pop("(waiting for PostgreSQL or Redis)", 0.0)
    computing = sum(owners.values())
    rows = sorted(owners.items(), key=lambda kv: -kv[1])
    lines = [f"# POST /api/v1/deeds x{requests}, in-process (Flask test client), under cProfile: each library's "
             f"own time per request; {waiting / requests * 1e6:.0f} us per request waiting for the servers "
             "is left out", "", "| library | us per request (profiled) | share of the computing |", "|---|---|---|"]
    lines += [f"| {k} | {v / requests * 1e6:.0f} | {v / computing:.1%} |" for k, v in rows if v / computing >= 0.005]
    OUT.mkdir(exist_ok=True)
    path = OUT / "post_deeds_cpu.txt"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    app.extensions["sovang"].db.dispose()
    return {"file": str(path.relative_to(OUT.parent.parent)),
            "shares": {k: round(v / computing, 3) for k, v in rows[:12]},
            "computing_us": computing / requests * 1e6, "waiting_us": waiting / requests * 1e6}


def post_batch(settings: Any, people: People, unit: str, requests: int = 2) -> dict[str, Any]:
    pyinstrument = _ensure_pyinstrument()
    from services.intake.app import create_app

    org = people.org
    sub = next(s for s in org.subunits.values() if s.unit == unit)
    authors = [o.code for o in org.officers.values() if o.subunit == sub.code]
    app = create_app(settings)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {people.token('subunit_lead', sub.lead)}"}
    raw = json.dumps(batch_body(authors, _today()), ensure_ascii=False)
    client.post("/api/v1/deeds/batch", data=raw, content_type="application/json", headers=headers)
    profiler = pyinstrument.Profiler(interval=0.001)
    t0 = time.perf_counter()
    with profiler:
        for _ in range(requests):
            r = client.post("/api/v1/deeds/batch", data=raw, content_type="application/json", headers=headers)
            assert r.status_code == 201, r.data[:300]
    per_request = (time.perf_counter() - t0) / requests
    path = _save("post_batch", profiler, f"POST /api/v1/deeds/batch (1000 deeds) x{requests}, in-process, "
                                        f"{per_request * 1000:.0f} ms each")
    app.extensions["sovang"].db.dispose()
    return {"file": path, "ms_per_request": per_request * 1000}


def inscribe(settings: Any, people: People, book: str, times: int = 3) -> dict[str, Any]:
    """The book's inscribe handler (what the worker runs for ``book.inscribe``) on a full book."""
    pyinstrument = _ensure_pyinstrument()
    from bench.books import _inscribe_message
    from services.book import repository as repo
    from services.book import services as book_services
    from services.book.app import build_runtime, context
    from shared import clock
    from shared.db import utcnow
    from shared.messages import envelope
    from shared.outbox import consume

    rt = build_runtime(settings)
    trips = RoundTrips(rt.db.engine)
    with rt.db.reading() as s:
        have = repo.get_book(s, book).entries
    trips.reset()
    profiler = pyinstrument.Profiler(interval=0.001)
    t0 = time.perf_counter()
    with profiler:
        for n in range(have, have + times):
            consume(rt.db, envelope(_inscribe_message(people, book, n), clock.isoformat(utcnow())),
                    lambda uow, msg: book_services.inscribe(uow, context(rt, uow), msg))
    each = (time.perf_counter() - t0) / times
    per = trips.per(times)
    path = _save("inscribe", profiler, f"book.inscribe on a book of {have} entries x{times}, in-process, "
                                      f"{each * 1000:.0f} ms each; per inscription: {per}")
    rt.db.dispose()
    return {"file": path, "ms_per_inscription": each * 1000, "book_entries": have, "per_inscription": per}


def deed_recorded(settings: Any, unit: str, times: int = 30, per_message: int = 1000) -> dict[str, Any]:
    """council's handler of ``council.deeds_recorded`` through ``consume`` (inbox, R10 counts): the
    message a batch of ``per_message`` deeds causes, what bounds the sustained rate of recording."""
    pyinstrument = _ensure_pyinstrument()
    from services.council import services as council_services
    from services.council.app import build_runtime
    from shared.ids import new_id
    from shared.messages import DeedsRecorded, envelope
    from shared.outbox import consume

    rt = build_runtime(settings)
    trips = RoundTrips(rt.db.engine)
    envs = [envelope(DeedsRecorded(unit=unit, month="2021-09", deed_ids=[new_id() for _ in range(per_message)]),
                     "2021-09-30T12:00:00+07:00") for _ in range(times)]
    for env in envs[:3]:
        consume(rt.db, env, council_services.deeds_recorded)
    trips.reset()
    profiler = pyinstrument.Profiler(interval=0.0005)
    t0 = time.perf_counter()
    with profiler:
        for env in envs[3:]:
            consume(rt.db, env, council_services.deeds_recorded)
    each = (time.perf_counter() - t0) / (times - 3)
    per = trips.per(times - 3)
    path = _save("deed_recorded", profiler, f"council.deeds_recorded ({per_message} deeds) x{times - 3} through "
                                           f"consume, in-process, {each * 1000:.1f} ms each; per message: {per}")
    rt.db.dispose()
    return {"file": path, "ms_per_message": each * 1000, "deeds_per_message": per_message,
            "deeds_per_s": per_message / each, "per_message": per}


def feed(settings: Any, book: str, requests: int = 300) -> dict[str, Any]:
    """``GET /feeds/{book}.atom`` through the book app (the stored artifact served)."""
    pyinstrument = _ensure_pyinstrument()
    from services.book.app import create_app

    app = create_app(settings)
    client = app.test_client()
    trips = RoundTrips(app.extensions["sovang"].db.engine)
    size = len(client.get(f"/feeds/{book}.atom").data)
    # The first request starts the cache's Redis subscriber: profile what a running process does
    # once it listens (the cache serving), not the start.
    from services.book.publication.serving import CACHE

    cache = app.extensions.get(CACHE)
    deadline = time.monotonic() + 10
    while cache is not None and not cache.usable() and time.monotonic() < deadline:
        time.sleep(0.05)
    client.get(f"/feeds/{book}.atom")
    trips.reset()
    profiler = pyinstrument.Profiler(interval=0.0002)
    t0 = time.perf_counter()
    with profiler:
        for _ in range(requests):
            r = client.get(f"/feeds/{book}.atom")
            assert r.status_code == 200
    each = (time.perf_counter() - t0) / requests
    per = trips.per(requests)
    path = _save("feed", profiler, f"GET /feeds/{book}.atom x{requests} ({size} bytes), in-process, "
                                  f"{each * 1000:.2f} ms each; per request: {per}")
    app.extensions["sovang"].db.dispose()
    return {"file": path, "ms_per_request": each * 1000, "bytes": size, "per_request": per}


# -- py-spy: the Celery worker of a service while it works off a backlog --------------------------
SKIP = ("_run_module_as_main", "_run_code", "<module>", "main ", "cmd_worker", "Celery.", "Command.", "Group.",
        "Context.", "pass_context", "handle_preload", "worker worker", "WorkController", "Blueprint",
        "StartStop", "BasePool", "TaskPool", "AsynPool", "Pool.", "BaseProcess", "ForkProcess", "Popen",
        "Worker.", "worker (", "Thread._bootstrap", "Thread.run")


def _ensure_py_spy() -> str:
    import shutil
    import subprocess
    import sys

    exe = Path(sys.executable).with_name("py-spy")
    if not exe.exists() and not shutil.which("py-spy"):
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "py-spy"], check=True)
    return str(exe) if exe.exists() else "py-spy"


def spy_start(pids: dict[str, int], seconds: float) -> list[Any]:
    """Start py-spy (wall-clock, idle included) on each process for ``seconds``."""
    import subprocess

    exe = _ensure_py_spy()
    procs = []
    for name, pid in pids.items():
        out = Path(f"/tmp/bench-spy-{pid}.raw")
        procs.append((name, out, subprocess.Popen(
            [exe, "record", "-d", str(max(1, int(seconds))), "-r", "200", "--idle", "--nonblocking", "-p", str(pid),
             "-f", "raw", "-o", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
    return procs


def spy_finish(procs: list[Any], name: str, note: str) -> str:
    """Wait for py-spy and write the inclusive share of the top frames of each process."""
    lines = [f"# {note}", "# py-spy, wall clock (idle included): share of samples in which each frame is on the stack", ""]
    for label, out, proc in procs:
        proc.wait(timeout=120)
        totals: dict[str, int] = {}
        n = 0
        try:
            text = out.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            c = int(count)
            n += c
            seen = set()
            for frame in stack.split(";"):
                fn, _, where = frame.partition(" (")
                key = f"{fn} ({where.split(':')[0].split('/')[-1]}" + ")" if where else fn
                if key not in seen:
                    seen.add(key)
                    totals[key] = totals.get(key, 0) + c
        out.unlink(missing_ok=True)
        lines.append(f"## {label}: {n} samples")
        shown = [(k, v) for k, v in sorted(totals.items(), key=lambda kv: -kv[1]) if not k.startswith(SKIP)]
        lines += [f"{v * 100 / n:5.1f}%  {k}" for k, v in shown[:40]] if n else ["(no samples)"]
        lines.append("")
    OUT.mkdir(exist_ok=True)
    path = OUT / f"{name}.txt"
    path.write_text("\n".join(lines), "utf-8")
    return str(path.relative_to(OUT.parent.parent))


# -- py-spy: one gunicorn worker of intake under wrk's load --------------------------------------
def _library(where: str) -> str:
    """The library (or package of ours, or stdlib) of a py-spy frame's file, which py-spy names
    relative to the import path (``psycopg/connection.py``, ``shared/endpoint.py``, ``selectors.py``)."""
    where = where.split("site-packages/")[-1]
    top = where.split("/")[0].removesuffix(".py") if "/" in where else ""
    if top in ("shared", "services", "sovang", "bench"):
        return f"{top} (this repository)"
    return top or ("stdlib" if where else "(native)")


def web_worker_spy(pid: int, load: Any, seconds: float, name: str, note: str) -> dict[str, Any]:
    """py-spy on one web worker process (its CPU only: threads waiting on a socket are not
    sampled: only the thread holding the interpreter's lock, ``--gil``) while ``load()`` runs: each frame's inclusive share of the samples, and each
    library's own share (the innermost frame's), so that the CPU of a request can be split."""
    import subprocess

    exe = _ensure_py_spy()
    out = Path(f"/tmp/bench-spy-web-{pid}.txt")
    spy = subprocess.Popen([exe, "record", "-d", str(max(1, int(seconds))), "-r", "250", "--nonblocking", "--gil",
                            "-p", str(pid), "-f", "raw", "-o", str(out)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    result = load()
    spy.wait(timeout=120)
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    own_fn: dict[str, int] = {}
    n = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        c = int(count)
        n += c
        frames = stack.split(";")
        seen = set()
        for frame in frames:
            fn, _, where = frame.partition(" (")
            key = f"{fn} ({where.split(':')[0].replace(str(OUT.parent.parent) + '/', '').split('site-packages/')[-1]})"
            if key not in seen:
                seen.add(key)
                inclusive[key] = inclusive.get(key, 0) + c
        fn, _, where = frames[-1].partition(" (")
        lib = _library(where.split(":")[0])
        own[lib] = own.get(lib, 0) + c
        leaf = f"{fn} ({where.split(':')[0].split('site-packages/')[-1]})"
        own_fn[leaf] = own_fn.get(leaf, 0) + c
    out.unlink(missing_ok=True)
    lines = [f"# {note}", f"# py-spy --gil on one gunicorn worker (pid {pid}): {n} samples of the thread running Python",
             f"# load: {result}", "",
             "## own time by library (the innermost frame's)", ""]
    lines += [f"{v * 100 / n:5.1f}%  {k}" for k, v in sorted(own.items(), key=lambda kv: -kv[1])] if n else []
    lines += ["", "## own time by function (top 40)", ""]
    lines += [f"{v * 100 / n:5.1f}%  {k}" for k, v in sorted(own_fn.items(), key=lambda kv: -kv[1])[:40]] if n else []
    lines += ["", "## inclusive share by frame (top 80)", ""]
    shown = [(k, v) for k, v in sorted(inclusive.items(), key=lambda kv: -kv[1]) if not k.startswith(SKIP)]
    lines += [f"{v * 100 / n:5.1f}%  {k}" for k, v in shown[:80]] if n else []
    OUT.mkdir(exist_ok=True)
    path = OUT / f"{name}.txt"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return {"file": str(path.relative_to(OUT.parent.parent)), "samples": n, "load": result,
            "own": {k: round(v / n, 3) for k, v in sorted(own.items(), key=lambda kv: -kv[1])} if n else {}}
