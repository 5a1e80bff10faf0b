"""Ctrl-C stops ``sovang up`` while it is serving: the signal may arrive while the web server is
closing a connection it has just served, and must stop it there as anywhere else."""

from __future__ import annotations

import http.client
import threading
import time

import pytest

from tests.e2e.harness import System

pytestmark = pytest.mark.slow


def test_ctrl_c_in_the_middle_of_requests_stops_sovang_up_at_once(tmp_path) -> None:
    system = System(tmp_path / "home", {"SOVANG_DATABASE_URL": "", "SOVANG_BROKER_URL": ""})
    system.start()
    served: list[int] = []
    stop_asking = threading.Event()

    def ask() -> None:
        while not stop_asking.is_set():
            try:
                served.append(system.http("GET", "/healthz", timeout=5).status)
            except (OSError, http.client.HTTPException):
                return  # the server has gone, mid-answer perhaps

    askers = [threading.Thread(target=ask) for _ in range(4)]
    try:
        for t in askers:
            t.start()
        while len(served) < 200:
            time.sleep(0.01)
        started = time.monotonic()
        code = system.stop()  # Ctrl-C to its process group, SIGKILL only after 20 s
        took = time.monotonic() - started
    finally:
        stop_asking.set()
        for t in askers:
            t.join(10)
    assert set(served) == {200}
    assert code == 0, f"sovang up did not stop cleanly (exit {code}):\n{system.tail()}"
    assert took < 15, f"sovang up took {took:.1f} s to stop:\n{system.tail()}"
    assert "uncaptured python exception" not in system.tail(200)
    assert "Sổ vàng đã dừng." in system.tail(5)
