"""What the figures were measured on: the machine, the versions, the load around the run."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from importlib import metadata
from typing import Any

import psycopg
import redis

from bench.stack import PG_ADMIN_DSN, REDIS_URL

PACKAGES = ("flask", "gunicorn", "celery", "kombu", "redis", "sqlalchemy", "psycopg", "marshmallow", "pyinstrument")


def _run(*argv: str) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def cpu_model() -> str:
    for line in _run("lscpu").splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def describe() -> dict[str, Any]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "-"
    with psycopg.connect(PG_ADMIN_DSN) as conn:
        pg = conn.execute("SHOW server_version").fetchone()[0]
        pg_settings = {k: conn.execute(f"SHOW {k}").fetchone()[0]
                       for k in ("shared_buffers", "synchronous_commit", "max_connections")}
    wrk_version = _run("wrk", "--version").splitlines()[0] if _run("wrk", "--version") else "?"
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "memory": _run("free", "-h"),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": pg,
        "postgresql_settings": pg_settings,
        "redis": redis.Redis.from_url(REDIS_URL).info("server").get("redis_version"),
        "wrk": wrk_version,
        "packages": versions,
    }


def commit_latency(dsn: str, n: int = 200) -> dict[str, float]:
    """ms per one-row INSERT committed on its own: flushed to disk (synchronous_commit on, what
    the services run) and not (off). Every service transaction pays the first."""
    out = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        # A logged table: a temporary one writes no WAL, so its commits never wait for the disk.
        conn.execute("CREATE TABLE bench_commit (x int)")
        for mode in ("on", "off"):
            conn.execute(f"SET synchronous_commit TO {mode}")
            t0 = time.perf_counter()
            for _ in range(n):
                conn.execute("INSERT INTO bench_commit VALUES (1)")
            out[f"commit_ms_sync_{mode}"] = (time.perf_counter() - t0) / n * 1000
        t0 = time.perf_counter()
        for _ in range(n):
            conn.execute("SELECT 1")
        out["select1_ms"] = (time.perf_counter() - t0) / n * 1000
        conn.execute("DROP TABLE bench_commit")
    return out


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())
