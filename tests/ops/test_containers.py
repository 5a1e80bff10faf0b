"""The container topology, run for real (README, "Deployment"): the base images built offline from
Debian's packages (deploy/offline-images), ``docker-compose up`` of docker-compose.yml as it is,
the contract smoke through nginx at the edge, a worker container killed while it works and
nothing lost, everything torn down.

Needs Docker (Debian's docker.io, docker-compose v1, mmdebstrap; .ci/run installs them). A
``dockerd`` already answering is used; otherwise one is started for the test (its data in a
temporary directory) and stopped after it. Skipped, loudly, only where Docker cannot start.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.containers, pytest.mark.slow, pytest.mark.timeout(2400)]


def _loud_skip(why: str) -> None:
    message = f"THE CONTAINER TOPOLOGY WAS NOT TESTED: {why}"
    print(f"\n{'!' * 20} {message} {'!' * 20}", file=sys.stderr)
    pytest.skip(message)


def _run(argv: list[str], env: dict[str, str], timeout: float = 600, check: bool = True,
         **kw: object) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout, **kw)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def _docker_answers(env: dict[str, str]) -> bool:
    try:
        return subprocess.run(["docker", "info"], env=env, capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="module")
def docker_env() -> Iterator[dict[str, str]]:
    """An environment whose ``docker`` reaches a daemon: one that runs, or one started here."""
    for tool in ("docker", "docker-compose", "mmdebstrap"):
        if shutil.which(tool) is None:
            _loud_skip(f"{tool} is not installed (apt-get install docker.io docker-compose mmdebstrap)")
    env = dict(os.environ)
    if _docker_answers(env):
        yield env
        return
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        _loud_skip("dockerd is not installed")
    root = Path(tempfile.mkdtemp(prefix="sovang-docker-"))
    env["DOCKER_HOST"] = f"unix://{root}/docker.sock"
    log = open(root / "dockerd.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([dockerd, "--data-root", str(root / "data"), "--exec-root", str(root / "exec"),
                             "--pidfile", str(root / "dockerd.pid"), "-H", env["DOCKER_HOST"],
                             "--storage-driver", "overlay2"], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not _docker_answers(env):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = (root / "dockerd.log").read_text("utf-8", "replace")[-2000:]
                _loud_skip(f"dockerd could not start here (exit {proc.poll()}):\n{tail}")
            time.sleep(1)
        yield env
    finally:
        proc.send_signal(signal.SIGTERM)  # only the daemon this fixture started
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(root, ignore_errors=True)


def _http(port: int, method: str, path: str, body: dict | None = None, token: str | None = None,
          timeout: float = 30) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:  # closed also when the edge is not answering yet (_wait asks again)
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        r = conn.getresponse()
        data = r.read()
    finally:
        conn.close()
    return r.status, data


def _wait(predicate, timeout: float, every: float = 2.0):  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except (OSError, http.client.HTTPException, subprocess.SubprocessError):
            value = None
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every)


def test_the_compose_topology_runs_the_contract_through_nginx_and_loses_nothing(docker_env):
    env = dict(docker_env)
    project = f"sovangtest{secrets.token_hex(3)}"
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env.update(SOVANG_PORT=str(port), COMPOSE_PROJECT_NAME=project)
    compose = ["docker-compose", "-p", project]
    t0 = time.monotonic()
    _run([str(ROOT / "deploy" / "offline-images")], env, timeout=1500)
    images = time.monotonic() - t0
    _run([str(ROOT / "deploy" / "make-secrets")], env)
    try:
        t1 = time.monotonic()
        _run([*compose, "up", "-d", "--build"], env, timeout=900)
        up = time.monotonic() - t1
        ready = _wait(lambda: _http(port, "GET", "/readyz")[0] == 200, timeout=240)
        assert ready, _run([*compose, "logs", "--no-color", "--tail", "30"], env, check=False).stdout[-6000:]
        ready_after = time.monotonic() - t1

        # The contract's thin path through nginx; its CLI calls are `sovang` in a container of the
        # image with the migrate service's settings and secrets, and the organisation file.
        data = str(ROOT / "shared" / "data")
        box = _run([*compose, "run", "-d", "--rm", "-v", f"{data}:{data}:ro", "migrate", "sleep", "3600"],
                   env).stdout.strip().splitlines()[-1]
        cli = f"docker exec -i {box} sovang"
        t2 = time.monotonic()
        smoke = subprocess.run([sys.executable, str(ROOT / "tests" / "tools" / "contract_smoke.py")], cwd=ROOT,
                               env={**env, "BASE_URL": f"http://127.0.0.1:{port}", "SOVANG": cli},
                               capture_output=True, text=True, timeout=900)
        if smoke.returncode != 0 or "0 failed" not in smoke.stdout:
            logs = _run([*compose, "logs", "--no-color", "--tail", "40", "book-worker", "council-worker",
                         "book-web"], env, check=False).stdout
            raise AssertionError(smoke.stdout + smoke.stderr + "\n" + logs[-8000:])
        smoke_seconds = time.monotonic() - t2

        # A worker container killed while the deeds it should count are on their way: none lost.
        token = _run(["docker", "exec", box, "sovang", "token", "issue", "--role", "officer",
                      "--subject", "CAH-DM-0023"], env).stdout.strip().splitlines()[-1]
        ids = []
        for n in range(20):
            status, body = _http(port, "POST", "/api/v1/deeds", {
                "author": {"officer": "CAH-DM-0023"}, "occurred_on": time.strftime("%Y-%m-%d"),
                "kind": "good_deed", "relation": "direct", "title": f"Việc tốt trong lúc worker chết {n}",
                "description": "Đếm đủ dù một worker bị giết."}, token)
            assert status == 201, body
            ids.append(json.loads(body)["id"])
            if n == 5:
                _run(["docker", "kill", f"{project}_council-worker_1", f"{project}_intake-worker_1"], env)
        listed = "','".join(ids)

        def counted() -> bool:
            out = _run([*compose, "exec", "-T", "postgres", "psql", "-U", "postgres", "-d", "sovang", "-tA", "-c",
                        f"SELECT count(*) FROM council.tracked_deeds WHERE deed_id IN ('{listed}')"], env).stdout
            return out.strip() == "20"

        # A message a dead worker had taken comes back (visibility timeout, or the relay's
        # confirmation check): allow for both.
        assert _wait(counted, timeout=420, every=5), "council did not count every deed recorded"
        for deed_id in ids:
            assert _http(port, "GET", f"/api/v1/deeds/{deed_id}", token=token)[0] == 200
        health = _run(["docker", "ps", "--filter", f"name={project}_", "--format", "{{.Names}} {{.Status}}"],
                      env).stdout
        print(f"\nimages {images:.0f}s, compose up {up:.0f}s, /readyz {ready_after:.0f}s after up, "
              f"contract smoke {smoke_seconds:.0f}s\n{health}", file=sys.stderr)
    finally:
        _run([*compose, "down", "-v", "--remove-orphans"], env, timeout=300, check=False)
