"""Drive a live ``sovang up`` through API.md only: the command line and HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Reply:
    status: int
    headers: Any
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class System:
    """A ``sovang up`` in its own process group, stopped with Ctrl-C at the end."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home = home
        self.env = {**os.environ, **env, "SOVANG_HOME": str(home)}
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log = home / "up.log"

    def cli(self, *args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:  # noqa: A002
        p = subprocess.run(
            [sys.executable, "-m", "sovang.cli", *args], env=self.env, capture_output=True, text=True,
            timeout=180, cwd=ROOT, input=input,
        )
        if check and p.returncode != 0:
            raise AssertionError(f"sovang {' '.join(args)} exited {p.returncode}: {p.stderr}")
        return p

    def token(self, role: str, subject: str) -> str:
        return self.cli("token", "issue", "--role", role, "--subject", subject).stdout.strip().splitlines()[-1]

    def tokens(self, role: str, subjects: list[str]) -> list[str]:
        """One ``sovang token issue`` per subject, run side by side."""
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=4) as pool:
            return list(pool.map(lambda subject: self.token(role, subject), subjects))

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.log, "wb") as out:  # the child keeps its own copy
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "sovang.cli", "up", "--port", str(self.port)], env=self.env, cwd=ROOT,
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"sovang up exited early:\n{self.tail()}"
            try:
                if self.http("GET", "/readyz", timeout=2).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"sovang up not ready in 90 s:\n{self.tail()}")

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        for sig, grace in ((signal.SIGINT, 20), (signal.SIGKILL, 5)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue
        return self.proc.returncode

    def tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text("utf-8", "replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def http(self, method: str, path: str, token: str | None = None, body: Any = None,
             headers: dict[str, str] | None = None, timeout: float = 30) -> Reply:
        hdrs = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            hdrs.setdefault("Content-Type", "application/json")
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=hdrs)
        try:
            with _OPENER.open(req, timeout=timeout) as f:
                return Reply(f.status, f.headers, f.read())
        except urllib.error.HTTPError as e:
            with e:  # the error is the response: its connection closed here, not by the collector
                return Reply(e.code, e.headers, e.read())


def poll(fn, ok, timeout: float = 30.0, every: float = 0.25):  # noqa: ANN001
    """Call fn() until ok(value) or the timeout; return the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if ok(value) or time.monotonic() > deadline:
            return value
        time.sleep(every)
