"""``sovang cluster``: the distributed topology as real processes on one machine.

Against a running PostgreSQL and Redis (``SOVANG_DATABASE_URL``, ``SOVANG_BROKER_URL``): for each
service its gunicorn web process (``sovang web``, N workers), M Celery worker processes
(``sovang worker``), exactly one ``sovang beat``, and the gateway (``sovang.proxy``) on one port
routing API.md's path prefixes. The same processes as ``docker-compose.yml``, without Docker.

The command supervises its children like an init system: one that dies is started again (after
a back-off when it keeps dying), so a worker killed by the OOM killer or by a fault test comes
back. Ctrl-C (or SIGTERM) stops everything; every child also dies with the command
(``sovang.processes``). ``$SOVANG_HOME/cluster.json`` names each child's pid, for operators and
for the fault tests.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.config import SERVICES, Settings
from sovang import processes

log = logging.getLogger("sovang.cluster")

STATE_FILE = "cluster.json"


class ClusterError(Exception):
    """The cluster cannot start; the message is for the operator."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def per_service(text: str | int, default: int) -> dict[str, int]:
    """``"2"`` → 2 for every service; ``"intake=1,book=3"`` → those, the others ``default``."""
    counts = dict.fromkeys(SERVICES, default)
    text = str(text).strip()
    if "=" not in text:
        return dict.fromkeys(SERVICES, int(text))
    for part in text.split(","):
        name, _, n = part.partition("=")
        name = name.strip()
        if name not in SERVICES:
            raise ClusterError(f"dịch vụ không có: {name!r} (một trong {', '.join(SERVICES)})")
        counts[name] = int(n)
    return counts


@dataclass
class Child:
    """One supervised process and how to start it again."""

    role: str  # web | worker | beat | gateway
    service: str | None
    index: int
    argv: list[str]
    log: Path
    proc: subprocess.Popen | None = None
    started: float = 0.0
    restarts: int = 0
    backoff: float = 0.0
    due: float = 0.0  # when a dead child is started again

    @property
    def name(self) -> str:
        return "-".join(str(p) for p in (self.role, self.service, self.index) if p is not None)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "service": self.service, "index": self.index,
                "pid": self.proc.pid if self.proc and self.proc.poll() is None else None,
                "restarts": self.restarts, "log": str(self.log)}


@dataclass
class Cluster:
    settings: Settings
    host: str = "127.0.0.1"
    port: int = 8000
    web: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SERVICES, 2))
    workers: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SERVICES, 2))
    concurrency: int = 2
    pool: str = "prefork"
    gateway_workers: int = 2
    gateway_threads: int = 16
    beat: bool = True
    children: list[Child] = field(default_factory=list)
    web_addresses: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def state_path(self) -> Path:
        return self.settings.home / STATE_FILE

    # -- the plan --------------------------------------------------------------------------------
    def check(self) -> None:
        """Refuse the embedded default: the cluster is the distributed path only."""
        s = self.settings
        urls = [s.database_url_for(name) for name in SERVICES]
        if not s.broker_url or any(u.startswith("sqlite") for u in urls):
            raise ClusterError(
                "sovang cluster chạy trên PostgreSQL và Redis: đặt SOVANG_DATABASE_URL (ví dụ "
                "postgresql+psycopg://postgres@127.0.0.1:5432/sovang) và SOVANG_BROKER_URL (ví dụ "
                "redis://127.0.0.1:6379/0); chạy một máy không cần chúng thì dùng `sovang up`."
            )

    def plan(self) -> list[Child]:
        logs = self.settings.home / "logs"
        children: list[Child] = []
        for name in SERVICES:
            address = f"127.0.0.1:{free_port()}"
            self.web_addresses[name] = address
            children.append(Child("web", name, 0, processes.python_argv(
                "web", name, "--bind", address, "--workers", str(self.web[name])), logs / f"web-{name}.log"))
        for name in SERVICES:
            for i in range(self.workers[name]):
                children.append(Child("worker", name, i, processes.python_argv(
                    "worker", name, "--pool", self.pool, "--concurrency", str(self.concurrency)),
                    logs / f"worker-{name}-{i}.log"))
        if self.beat:
            children.append(Child("beat", None, 0, processes.python_argv("beat"), logs / "beat.log"))
        if self.settings.edge == "nginx":
            children.append(Child("gateway", None, 0, self.nginx_argv(), logs / "edge.log"))
            return children
        routes = [f"--route={name}={address}" for name, address in self.web_addresses.items()]
        children.append(Child("gateway", None, 0, [
            sys.executable, "-m", "sovang.proxy", "--bind", f"{self.host}:{self.port}",
            "--workers", str(self.gateway_workers), "--threads", str(self.gateway_threads), *routes,
        ], logs / "gateway.log"))
        return children

    def nginx_argv(self) -> list[str]:
        """nginx at the edge (``SOVANG_EDGE=nginx``), from the same generator as deploy/nginx.conf,
        routing to this cluster's web processes."""
        import shutil

        from sovang.edge import nginx_config

        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(binary).exists():
            raise ClusterError("SOVANG_EDGE=nginx: không tìm thấy nginx (apt-get install nginx)")
        run = self.settings.home / "nginx"
        run.mkdir(parents=True, exist_ok=True)
        conf = run / "nginx.conf"
        # Run by root, nginx's workers would switch to an account that cannot reach SOVANG_HOME.
        user = "root" if os.geteuid() == 0 else None
        conf.write_text(nginx_config({n: [a] for n, a in self.web_addresses.items()}, self.port, str(run),
                                     host=self.host, user=user, workers="2"), "utf-8")
        return [binary, "-e", "stderr", "-p", str(run), "-c", str(conf), "-g", "daemon off;"]

    # -- running ---------------------------------------------------------------------------------
    def migrate(self) -> None:
        from sovang.cli import _runtimes

        for rt in _runtimes(self.settings).values():
            rt.db.dispose()

    def start(self) -> None:
        self.check()
        home = self.settings.home
        (home / "logs").mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        self.migrate()
        log.info("databases migrated in %.1fs", time.monotonic() - t0)
        self.children = self.plan()
        for child in self.children:
            self._spawn(child)
        self.write_state(ready=False)

    def _spawn(self, child: Child) -> None:
        env = dict(os.environ, SOVANG_HOME=str(self.settings.home))
        child.proc = processes.spawn(child.argv, child.log, env)
        child.started = time.monotonic()

    def supervise_once(self) -> list[Child]:
        """Start again every child that died; returns those restarted now."""
        now = time.monotonic()
        restarted = []
        for child in self.children:
            if child.proc is None or child.proc.poll() is None:
                continue
            if child.due == 0.0:
                # A child that ran a while starts again at once; quick deaths in a row back off
                # (0.5 s, 1 s, 2 s … 10 s), so a broken child does not spin the machine.
                lived = now - child.started
                if lived > 10:
                    child.backoff = 0.0
                child.due = now + child.backoff
                child.backoff = min(max(child.backoff * 2, 0.5), 10.0)
                log.warning("%s (pid %d) exited with %s; starting it again in %.1fs",
                            child.name, child.proc.pid, child.proc.returncode, child.due - now)
            if now >= child.due:
                child.due = 0.0
                child.restarts += 1
                self._spawn(child)
                restarted.append(child)
        if restarted:
            self.write_state(ready=True)
        return restarted

    def write_state(self, ready: bool) -> None:
        state = {
            "pid": os.getpid(), "url": self.url, "ready": ready, "web": self.web_addresses,
            "children": [c.describe() for c in self.children],
        }
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2), "utf-8")
        tmp.replace(self.state_path)

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Until the gateway answers /readyz (every service's database and the broker) and every
        Celery worker answers a ping."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        while not self._gateway_ready():
            self._fail_if_dead()
            if time.monotonic() > deadline:
                raise ClusterError(f"cổng {self.url} chưa sẵn sàng sau {timeout:.0f} giây; xem {self.settings.home / 'logs'}")
            time.sleep(0.25)
        log.info("gateway and web processes ready in %.1fs", time.monotonic() - t0)
        expected = sum(self.workers.values())
        while True:
            self._fail_if_dead()
            seen = self.ping_workers()
            if seen >= expected:
                log.info("%d Celery workers answer, %.1fs after start", seen, time.monotonic() - t0)
                return
            if time.monotonic() > deadline:
                raise ClusterError(f"chỉ {seen}/{expected} worker trả lời sau {timeout:.0f} giây; "
                                   f"xem {self.settings.home / 'logs'}")
            time.sleep(0.5)

    def _fail_if_dead(self) -> None:
        for child in self.children:
            if child.proc is not None and child.proc.poll() is not None:
                tail = child.log.read_text("utf-8", "replace").splitlines()[-15:] if child.log.exists() else []
                raise ClusterError(f"{child.name} dừng khi khởi động (mã {child.proc.returncode}):\n" + "\n".join(tail))

    def _gateway_ready(self) -> bool:
        try:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=5)
            conn.request("GET", "/readyz")
            ok = conn.getresponse().status == 200
            conn.close()
            return ok
        except OSError:
            return False

    def ping_workers(self) -> int:
        """How many Celery workers of this cluster answer a broadcast ping."""
        from shared.celery_app import make_celery

        app = make_celery("council", self.settings)
        try:
            replies = app.control.ping(timeout=1.0) or []
        except Exception:  # the broker not reachable yet
            return 0
        finally:
            app.close()
        prefixes = tuple(f"{name}-" for name in SERVICES)
        pids = {c.proc.pid for c in self.children if c.role == "worker" and c.proc}
        seen = 0
        for reply in replies:
            for node in reply:
                head = node.split("@", 1)[0]
                if head.startswith(prefixes) and head.rsplit("-", 1)[-1].isdigit() and int(head.rsplit("-", 1)[-1]) in pids:
                    seen += 1
        return seen

    def stop(self, grace: float = 15.0) -> None:
        """Stop every child: gunicorn quickly (SIGINT, as Ctrl-C would: in-flight requests are
        answered, idle ones are not waited for), Celery warmly (SIGTERM: the tasks running finish,
        the prefetched ones go back to the queue); SIGKILL for what is left after ``grace``."""
        live = [c for c in self.children if c.proc is not None and c.proc.poll() is None]
        for child in live:
            assert child.proc is not None
            try:
                child.proc.send_signal(signal.SIGINT if child.role in ("web", "gateway") else signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        for child in live:
            assert child.proc is not None
            try:
                child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in %.0fs: killed", child.name, grace)
                child.proc.kill()
                child.proc.wait()
        try:
            self.state_path.unlink()
        except FileNotFoundError:
            pass


class _Stop(Exception):
    pass


def _raise_stop(signum: int, frame: object) -> None:
    raise _Stop()


def run_cluster(cluster: Cluster) -> int:
    """Start, supervise until Ctrl-C or SIGTERM, stop everything; the exit status."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_stop)
    try:
        cluster.check()
        cluster.start()
        cluster.wait_ready()
        cluster.write_state(ready=True)
        n_workers = sum(cluster.workers.values())
        print(f"Sổ vàng (cụm phân tán) đang chạy tại {cluster.url}: web {cluster.web_addresses}, "
              f"{n_workers} worker, {1 if cluster.beat else 0} beat (SOVANG_HOME={cluster.settings.home}; "
              "Ctrl-C để dừng)", flush=True)
        while True:
            cluster.supervise_once()
            time.sleep(0.2)
    except (_Stop, KeyboardInterrupt):
        return_code = 0
    except ClusterError as exc:
        print(f"sovang cluster: {exc}", file=sys.stderr, flush=True)
        return_code = 2
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        cluster.stop()
    print("Sổ vàng (cụm) đã dừng.", flush=True)
    return return_code
