"""``sovang cluster`` as a supervisor, without the services: it refuses the embedded default, starts
again a child that dies (backing off when it keeps dying), stops every child on Ctrl-C, and its
children die with it when it is killed (sovang.processes)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from faults_harness import ROOT, poll

from shared.config import Settings
from sovang.cluster import Child, Cluster, ClusterError, per_service


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie of ours is not alive
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def sleepers(tmp_path: Path, n: int) -> Cluster:
    cluster = Cluster(Settings(home=tmp_path, database_url="postgresql://x/y", broker_url="redis://x"))
    (tmp_path / "logs").mkdir(parents=True, exist_ok=True)
    cluster.children = [Child("worker", "book", i, ["sleep", "600"], tmp_path / "logs" / f"s{i}.log") for i in range(n)]
    for child in cluster.children:
        cluster._spawn(child)
    return cluster


def test_without_postgres_and_redis_it_refuses(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOVANG_")}
    p = subprocess.run([sys.executable, "-m", "sovang.cli", "cluster"], cwd=ROOT, capture_output=True, text=True,
                       env={**env, "SOVANG_HOME": str(tmp_path)}, timeout=60)
    assert p.returncode == 2
    assert "SOVANG_DATABASE_URL" in p.stderr and "SOVANG_BROKER_URL" in p.stderr
    with pytest.raises(ClusterError):
        Cluster(Settings(home=tmp_path, broker_url="redis://127.0.0.1:6379/0")).check()  # SQLite: refused too


def test_counts_per_service() -> None:
    assert per_service("3", 2) == {"intake": 3, "council": 3, "book": 3}
    assert per_service("intake=0,book=4", 2) == {"intake": 0, "council": 2, "book": 4}
    with pytest.raises(ClusterError):
        per_service("nobody=1", 2)


def test_a_dead_child_is_started_again_with_back_off(tmp_path: Path) -> None:
    cluster = sleepers(tmp_path, 2)
    try:
        first = cluster.children[0].proc
        assert first is not None
        first.kill()
        first.wait()
        assert [c.name for c in cluster.supervise_once()] == ["worker-book-0"]
        second = cluster.children[0].proc
        assert second is not None and second.pid != first.pid and alive(second.pid)
        state = json.loads((tmp_path / "cluster.json").read_text())
        assert [c["pid"] for c in state["children"]] == [second.pid, cluster.children[1].proc.pid]
        second.kill()
        second.wait()
        assert cluster.supervise_once() == [], "a quick second death waits a little"
        third = poll(lambda: cluster.supervise_once(), lambda r: bool(r), timeout=5, every=0.05)
        assert [c.name for c in third] == ["worker-book-0"] and cluster.children[0].restarts == 2
    finally:
        cluster.stop(grace=5)
    assert not any(alive(c.proc.pid) for c in cluster.children if c.proc)
    assert not (tmp_path / "cluster.json").exists()


def test_children_die_with_a_killed_cluster(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_faults_supervisor import sleepers
        c = sleepers(Path({str(tmp_path)!r}), 3)
        print(" ".join(str(ch.proc.pid) for ch in c.children), flush=True)
        time.sleep(600)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    pids = [int(p) for p in parent.stdout.readline().split()]
    assert len(pids) == 3 and all(alive(p) for p in pids)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    parent.stdout.close()
    deadline = time.monotonic() + 10
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [p for p in pids if alive(p)]
    for p in left:
        os.kill(p, signal.SIGKILL)
    assert not left, "children outlived the SIGKILLed cluster"
