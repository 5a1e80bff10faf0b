"""The per-process metrics folders (``PROMETHEUS_MULTIPROC_DIR``) that ``sovang web`` and
``sovang worker`` make: gone when their process ends, and a killed process's swept by the next."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sovang.cli import _forget_dead_metrics


def test_a_process_removes_its_metrics_folder_when_it_ends(tmp_path: Path) -> None:
    code = ("import os, sovang.cli as c; c._metrics_dir('web'); "
            "print(os.environ['PROMETHEUS_MULTIPROC_DIR']); "
            "assert os.path.isdir(os.environ['PROMETHEUS_MULTIPROC_DIR'])")
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    made = Path(out.stdout.strip())
    assert made.parent == tmp_path and made.name.startswith("sovang-metrics-web-")
    assert not made.exists()


def test_the_folders_of_dead_processes_are_swept_and_the_living_kept(tmp_path: Path) -> None:
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    dead = tmp_path / f"sovang-metrics-worker-{ended.pid}"
    alive = tmp_path / f"sovang-metrics-web-{os.getpid()}"
    other = tmp_path / "sovang-metrics-web-notapid"
    for folder in (dead, alive, other):
        folder.mkdir()
        (folder / "counter_1.db").write_bytes(b"x")
    _forget_dead_metrics(tmp_path)
    assert not dead.exists() and alive.exists() and other.exists()
