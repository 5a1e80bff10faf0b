"""nginx at the edge (README, "Deployment"): deploy/nginx.conf is what the generator makes from
the services' PREFIXES, nginx accepts it (with TLS too), and the contract's smoke test passes
through nginx in front of ``sovang cluster`` (SOVANG_EDGE=nginx) on PostgreSQL and Redis."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services import REGISTRY
from sovang.edge import nginx_config, parse_routes

ROOT = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


def need_nginx() -> str:
    if NGINX is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is missing: .ci/run installs Debian's nginx package", pytrace=False)
        pytest.skip("nginx is missing (apt-get install nginx): NOT CHECKED")
    return NGINX


def test_the_committed_nginx_conf_is_the_generated_one():
    assert (ROOT / "deploy" / "nginx.conf").read_text("utf-8") == nginx_config(), \
        "run: python -m sovang.edge > deploy/nginx.conf"


def test_every_prefix_of_every_service_is_routed_to_it():
    conf = nginx_config()
    for name, service in REGISTRY.items():
        for prefix in service.prefixes:
            where = "= /" if prefix == "/" else prefix
            routed = [line for line in conf.splitlines() if line.strip().startswith(f"location {where} {{")]
            assert len(routed) == 1 and routed[0].endswith(f"proxy_pass http://{name}; }}"), prefix
            # R24: only the sessions' owner and public pages go without the owner vouching.
            public = name == "intake" or prefix in service.public
            assert ("auth_request /_sovang_session;" in routed[0]) is not public, prefix
        assert f"location = /readyz/{name} {{ proxy_pass http://{name}/readyz; }}" in conf
    for needed in ("location = /api/v1/openapi.json", "location /api/v1/docs", "client_max_body_size 1m;",
                   "client_max_body_size 21m;", "X-Forwarded-For", "X-Forwarded-Proto", "X-Request-Id"):
        assert needed in conf
    # A phone's photo sent with the officer's form passes the edge as the API's evidence does.
    assert "location = /deeds/new { client_max_body_size 21m; proxy_pass http://intake; }" in conf


def test_nginx_accepts_the_configuration_with_and_without_tls(tmp_path):
    nginx = need_nginx()
    key, cert = tmp_path / "edge.key", tmp_path / "edge.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "365", "-subj",
                    "/CN=sovang.local", "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    routes = parse_routes(["intake=127.0.0.1:1", "council=127.0.0.1:2", "book=127.0.0.1:3"])
    for name, conf in (("plain", nginx_config(routes, 18000, str(tmp_path))),
                       ("tls", nginx_config(routes, 18000, str(tmp_path), str(cert), str(key)))):
        path = tmp_path / f"{name}.conf"
        path.write_text(conf)
        result = subprocess.run([nginx, "-t", "-e", "stderr", "-p", str(tmp_path), "-c", str(path)],
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stderr


def _get(port: int, path: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST" if body is not None else "GET", path, body=body, headers=headers or {})
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data


@pytest.mark.distributed
@pytest.mark.slow
def test_the_contract_smoke_passes_through_nginx_in_front_of_the_cluster(pg_settings, tmp_path):
    need_nginx()
    from tests.ops.test_signing import free_port

    port = free_port()
    env = {**os.environ, "SOVANG_HOME": str(pg_settings.home), "SOVANG_DATABASE_URL": pg_settings.database_url,
           "SOVANG_BROKER_URL": pg_settings.broker_url, "SOVANG_EDGE": "nginx"}
    pg_settings.home.mkdir(parents=True, exist_ok=True)
    log = open(tmp_path / "cluster.log", "wb")  # noqa: SIM115
    cluster = subprocess.Popen([sys.executable, "-m", "sovang.cli", "cluster", "--port", str(port), "--web", "1",
                                "--workers", "1", "--concurrency", "2", "--gateway-workers", "1"],
                               cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        state = pg_settings.home / "cluster.json"
        deadline = time.monotonic() + 120
        while not (state.exists() and json.loads(state.read_text() or "{}").get("ready")):
            assert cluster.poll() is None and time.monotonic() < deadline, (tmp_path / "cluster.log").read_text()
            time.sleep(0.5)
        edge = [c for c in json.loads(state.read_text())["children"] if c["role"] == "gateway"]
        assert [c["log"].rsplit("/", 1)[-1] for c in edge] == ["edge.log"]  # nginx, not sovang.proxy
        # The edge's own answers: health per service, readiness of all, the docs, the limits.
        for path in ("/healthz", "/readyz", "/healthz/intake", "/readyz/council", "/readyz/book",
                     "/api/v1/openapi.json", "/api/v1/docs"):
            status, _, _ = _get(port, path)
            assert status == 200, path
        status, headers, body = _get(port, "/healthz/book", headers={"X-Request-Id": "req-at-the-edge"})
        assert headers.get("x-request-id") == "req-at-the-edge"
        paths = json.loads(_get(port, "/api/v1/openapi.json")[2])["paths"]
        assert any(p.startswith("/api/v1/deeds") for p in paths) and any(p.startswith("/api/v1/books") for p in paths)
        status, headers, body = _get(port, "/api/v1/deeds", body=b"{" + b" " * (1024 * 1024 + 10) + b"}",
                                     headers={"Content-Type": "application/json"})
        assert status == 413 and headers["content-type"] == "application/problem+json"
        assert json.loads(body)["status"] == 413
        photo = b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.jpg\"\r\n\r\n" + \
            b"\xff" * (3 * 1024 * 1024) + b"\r\n--b--\r\n"
        status, _, _ = _get(port, "/deeds/new", body=photo, headers={"Content-Type": "multipart/form-data; boundary=b"})
        assert status != 413, "the edge refused a 3 MiB photo sent with the officer's form"
        assert _get(port, "/metrics")[0] == 404  # for the operator's Prometheus, not the public
        status, headers, body = _get(port, "/no-such-thing")
        assert status == 404 and headers["content-type"] == "application/problem+json"

        smoke = subprocess.run([sys.executable, str(ROOT / "tests" / "tools" / "contract_smoke.py")], cwd=ROOT,
                               env={**env, "BASE_URL": f"http://127.0.0.1:{port}",
                                    "SOVANG": f"{sys.executable} -m sovang.cli"},
                               capture_output=True, text=True, timeout=240)
        assert smoke.returncode == 0, smoke.stdout + smoke.stderr
        assert "0 failed" in smoke.stdout
    finally:
        os.killpg(cluster.pid, signal.SIGTERM)
        try:
            cluster.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(cluster.pid, signal.SIGKILL)
            cluster.wait()
        log.close()
