"""Load from the ecosystem: wrk (Debian's package) driven by ``bench/wrk.lua``, and a small
keep-alive HTTP client for the latency probes (one request at a time, not load)."""

from __future__ import annotations

import http.client
import json
import os
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).with_name("wrk.lua")


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx/3xx answers, socket errors, timeouts
    mean_ms: float = 0.0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def ensure_wrk() -> str:
    """wrk from Debian (``apt-get install -y wrk``), installed on first use."""
    found = shutil.which("wrk")
    if found:
        return found
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is not installed")
    return found


def wrk(url: str, seconds: float, connections: int, *, method: str = "GET", body: bytes | None = None,
        token: str = "", idempotency_prefix: str = "", threads: int = 1, timeout: float = 30.0) -> WrkResult:
    """Closed-loop load: ``connections`` connections kept busy for ``seconds``. With
    ``idempotency_prefix``, every request of every run carries a key of its own: the script numbers
    its requests from 1 in each run, so the prefix is made unique to the run here (the same keys
    again would be replays, not new requests)."""
    if idempotency_prefix:
        idempotency_prefix = f"{idempotency_prefix}-{secrets.token_hex(4)}"
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        if body is not None:
            f.write(body)
            f.flush()
        env = {**os.environ, "BENCH_METHOD": method, "BENCH_BODY": f.name if body is not None else "",
               "BENCH_AUTH": token, "BENCH_IDEM": idempotency_prefix}
        out = subprocess.run(
            [ensure_wrk(), "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
             "--timeout", f"{int(timeout)}s", "-s", str(SCRIPT), url],
            env=env, capture_output=True, text=True, timeout=seconds + timeout + 30,
        )
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("BENCHJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no figures: {out.stdout[-1000:]} {out.stderr[-1000:]}")
    data = json.loads(line.removeprefix("BENCHJSON "))
    errors = sum(data[k] for k in ("status_errors", "connect_errors", "read_errors", "write_errors", "timeouts"))
    return WrkResult(data["requests"], data["duration_us"] / 1e6, data["p50_us"] / 1000, data["p99_us"] / 1000, errors,
                     data["mean_us"] / 1000)


class Client:
    """One keep-alive connection to one web process."""

    def __init__(self, port: int, token: str | None = None) -> None:
        self.port = port
        self.token = token
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def request(self, method: str, path: str, body: Any = None, token: str | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
        hdrs = dict(headers or {})
        tok = token or self.token
        if tok:
            hdrs["Authorization"] = f"Bearer {tok}"
        data = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode()
            hdrs["Content-Type"] = "application/json"
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=data, headers=hdrs)
                resp = self.conn.getresponse()
                raw = resp.read()
                break
            except (http.client.HTTPException, ConnectionError):
                # gunicorn closes idle keep-alive connections: open a new one.
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt == 2:
                    raise
        ctype = resp.getheader("Content-Type") or ""
        parsed: Any = json.loads(raw) if "json" in ctype and raw else raw
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, parsed

    def ok(self, method: str, path: str, body: Any = None, token: str | None = None, expect: tuple[int, ...] = (200, 201)) -> Any:
        status, _headers, data = self.request(method, path, body, token)
        if status not in expect:
            raise RuntimeError(f"{method} {path} → {status}: {str(data)[:500]}")
        return data
