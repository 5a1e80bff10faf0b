"""CPU seconds spent by each group of processes between two moments, per request: where a
CPU-bound path's time goes, beside its baseline's.

On a machine with few cores the path and its baseline are both CPU-bound, so the ratio of their
rates is roughly the inverse ratio of the CPU each request costs *all* the processes involved
(web processes, the Celery workers doing the path's follow-up work, PostgreSQL, Redis, and wrk
itself, which shares the cores). The counters are the kernel's (utime + stime in
``/proc/<pid>/stat``), read before and after a run; nothing is instrumented.

Groups:

- each role of the stack (``Stack.pids()``: ``web-intake``, ``worker-council`` …, children
  included), listed afresh at each snapshot since gunicorn and Celery may replace children;
- ``postgres``: every PostgreSQL process (the server, its background processes, the backends),
  listed afresh at each snapshot since there is one backend per connection. A backend that exits
  between two snapshots loses its time (the pools keep their connections, so little is lost).
  Other users may share this server: given ``database``, backends of other databases are left out;
- ``redis``: ``redis-server`` (shared with whatever else uses the server: cannot be split);
- ``wrk``: the load generator. It runs and is reaped between the two snapshots, so its
  ``/proc`` entry is never seen: its time is taken from this process's reaped children
  (``os.times()``), which during a run is wrk alone;
- ``rest-of-machine``: every CPU's busy time (``/proc/stat``) minus the groups above: other
  programs' work, the harness, the kernel's interrupts. Not the path's cost, but what took cores
  from it.

A process started between two snapshots counts from 0 (its whole life), which is right.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
REST = "rest-of-machine"


@dataclass(frozen=True)
class Snapshot:
    procs: dict[str, dict[tuple[int, int], float]]  # group → (pid, start time) → CPU s
    wrk: float  # CPU s of this process's reaped children
    machine: float  # busy CPU s of every core


def proc_cpu(pid: int) -> tuple[int, float] | None:
    """(start time, utime + stime in s) of a process, None when it is gone. The start time tells
    a reused pid from the process it replaced."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # the command name may hold spaces and parentheses
    return int(fields[19]), (int(fields[11]) + int(fields[12])) / TICK


def machine_busy() -> float:
    """Busy time of every core (user, nice, system, irq, softirq, steal) in s."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values[:3]) + sum(values[5:8])) / TICK


def _servers(database: str | None) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {"postgres": [], "redis": []}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cmdline.startswith("postgres") or cmdline.split(" ", 1)[0].endswith("/postgres"):
            # A backend reads "postgres: 15/main: <user> <database> <host>(<port>) <state>".
            words = cmdline.split(": ", 2)[-1].split()
            backend = len(words) >= 3 and ("(" in words[2] or words[2] == "[local]")
            if not (database and backend and words[1] != database):
                out["postgres"].append(int(entry.name))
        elif "redis-server" in cmdline:
            out["redis"].append(int(entry.name))
    return out


def snapshot(stack_pids: Callable[[], dict[str, list[int]]], database: str | None = None) -> Snapshot:
    procs: dict[str, dict[tuple[int, int], float]] = {}
    for group, pids in {**stack_pids(), **_servers(database)}.items():
        seen = procs.setdefault(group, {})
        for pid in pids:
            got = proc_cpu(pid)
            if got:
                seen[(pid, got[0])] = got[1]
    t = os.times()
    return Snapshot(procs, t.children_user + t.children_system, machine_busy())


def sampler(stack_pids: Callable[[], dict[str, list[int]]], database: str | None = None) -> Callable[[], Snapshot]:
    """A callable taking snapshots of the stack (``Stack.pids``) and of the servers."""
    return lambda: snapshot(stack_pids, database)


def per_request_ms(before: Snapshot, after: Snapshot, requests: int) -> dict[str, float]:
    """CPU ms per request of each group between two snapshots. Per process, so that a process
    gone meanwhile loses its time rather than making a group's sum go down."""
    n = max(requests, 1)
    out = {}
    for group, procs in after.procs.items():
        old = before.procs.get(group, {})
        out[group] = sum(s - old.get(key, 0.0) for key, s in procs.items()) * 1000 / n
    out["wrk"] = (after.wrk - before.wrk) * 1000 / n
    out[REST] = max(0.0, (after.machine - before.machine) * 1000 / n - sum(out.values()))
    return out


def wait_idle(max_cores: float = 0.25, window: float = 0.5, timeout: float = 30.0) -> float:
    """Wait until the whole machine keeps below ``max_cores`` busy over ``window`` seconds (the
    work a previous phase or run left behind, a vacuum, another program), at most ``timeout``
    seconds; returns the seconds waited. A run that starts while the machine is busy with
    something else measures that too: single runs of the same phase moved by 2–3× before."""
    started = time.monotonic()
    while True:
        before = machine_busy()
        time.sleep(window)
        if (machine_busy() - before) / window <= max_cores or time.monotonic() - started > timeout:
            return time.monotonic() - started
