"""A service process sets apart what it holds once started (``shared.heap``): its later full
collections visit only what came after, and what came after is still collected."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest
from gunicorn.config import Config

from shared import heap
from sovang import web


@pytest.fixture
def thawed() -> Iterator[None]:
    yield
    gc.unfreeze()  # the test process must go on collecting what it holds


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


def test_settling_sets_apart_what_is_alive_and_still_collects_what_comes_after(thawed: None) -> None:
    before = Node()
    heap.settle()
    frozen = gc.get_freeze_count()
    assert frozen > 0
    kept = weakref.ref(before)
    del before
    gc.collect()
    assert kept() is not None  # set apart: a full collection does not visit it

    after = Node()
    gone = weakref.ref(after)
    del after
    gc.collect()
    assert gone() is None
    assert gc.get_freeze_count() <= frozen  # nothing set apart since (what was may have been freed)


def test_each_gunicorn_worker_settles_once_its_app_is_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    settled: list[bool] = []
    monkeypatch.setattr(heap, "settle", lambda: settled.append(True))
    cfg = Config()
    for key, value in web.gunicorn_settings("127.0.0.1:0", 2, 4).items():
        cfg.set(key, value)  # gunicorn checks the hook's signature here
    cfg.post_worker_init(object())
    assert settled == [True]
