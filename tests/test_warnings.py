"""The project's pytest configuration (pyproject.toml, filterwarnings) fails a test that leaves a
file open to the garbage collector, as it fails one on any other warning."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

LEAKS = '''
import gc


def test_leaves_a_file_open():
    kept = open(__file__)  # noqa: SIM115
    del kept
    gc.collect()


def test_closes_its_file():
    with open(__file__) as f:
        assert f.read()
'''


def test_a_file_left_open_fails_its_test_under_the_project_configuration(tmp_path: Path) -> None:
    (tmp_path / "test_leaks.py").write_text(LEAKS, "utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", str(ROOT / "pyproject.toml"),
         "--rootdir", str(tmp_path), str(tmp_path / "test_leaks.py")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 failed, 1 passed" in run.stdout, run.stdout
    assert "FAILED test_leaks.py::test_leaves_a_file_open" in run.stdout and "ResourceWarning" in run.stdout, run.stdout
