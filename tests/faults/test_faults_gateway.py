"""The gateway of ``sovang cluster`` (sovang.proxy) against small upstreams of the tests' own: what
reaches a service is what the client sent, what comes back is what the service answered, kept-
alive connections are reused, and a service that is down is a 502 problem, never a hang."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from faults_harness import free_port
from werkzeug.test import Client

from services import REGISTRY
from sovang.proxy import create_proxy, nginx_config, parse_routes

SEEN: list[dict[str, Any]] = []


class Upstream(BaseHTTPRequestHandler):
    """A service's web process as HTTP/1.1 with keep-alive: echoes what it received; a few paths
    answer in particular ways."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes = b"", length: bool = True) -> None:
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self) -> None:
        path, _, query = self.path.partition("?")
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        SEEN.append({"path": path, "port": self.client_address[1], "method": self.command})
        if path.endswith("/big"):
            return self._send(200, [("Content-Type", "application/octet-stream")], bytes(range(256)) * 4096)
        if path.endswith("/stream"):
            self._send(200, [("Content-Type", "text/plain; charset=utf-8"), ("Transfer-Encoding", "chunked")],
                       length=False)
            for i in range(5000):
                piece = f"dòng {i}\n".encode()
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
            return None
        if path.endswith("/not-modified"):
            return self._send(304, [("ETag", '"v1"')], length=False)
        if path in ("/healthz", "/readyz"):
            return self._send(200, [("Content-Type", "application/json")], b'{"status": "ok"}')
        h = self.headers
        echo = {"method": self.command, "path": path, "query": query, "body": body.decode("utf-8"),
                "authorization": h.get("Authorization"), "idempotency": h.get("Idempotency-Key"),
                "forwarded_for": h.get("X-Forwarded-For"), "content_type": h.get("Content-Type"), "host": h.get("Host")}
        data = json.dumps(echo, ensure_ascii=False).encode("utf-8")
        return self._send(201 if self.command == "POST" else 200,
                          [("Content-Type", "application/json"), ("X-Service", path)], data)

    do_GET = do_POST = do_HEAD = _handle


def serve(port: int = 0) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", port), Upstream)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def upstreams() -> Iterator[dict[str, Any]]:
    """One kept-alive (HTTP/1.1) upstream per service."""
    servers = {}
    for name in ("intake", "council", "book"):
        server = serve()
        servers[name] = (server, server.server_address[1])
    SEEN.clear()
    yield servers
    for server, _ in servers.values():
        server.shutdown()
        server.server_close()


@pytest.fixture
def gateway(upstreams: dict[str, Any]) -> Iterator[Client]:
    routes = parse_routes([f"{name}=127.0.0.1:{port}" for name, (_, port) in upstreams.items()])
    proxy = create_proxy(routes)
    yield Client(proxy)
    for upstream in proxy.apps.values():
        upstream.close()


def test_requests_reach_the_owner_of_their_prefix_as_sent(gateway: Client) -> None:
    r = gateway.post("/api/v1/deeds?unit=CAH-DM&q=vi%E1%BB%87c+t%E1%BB%91t", json={"title": "Việc tốt"},
                     headers={"Authorization": "Bearer abc", "Idempotency-Key": "k1"},
                     environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert r.status_code == 201
    echo = r.get_json()
    assert echo["path"] == "/api/v1/deeds" and echo["method"] == "POST"
    assert echo["query"] == "unit=CAH-DM&q=vi%E1%BB%87c+t%E1%BB%91t"
    assert json.loads(echo["body"]) == {"title": "Việc tốt"}
    assert (echo["authorization"], echo["idempotency"], echo["forwarded_for"]) == ("Bearer abc", "k1", "10.0.0.9")
    assert echo["content_type"] == "application/json" and echo["host"] == "localhost"
    assert r.headers["X-Service"] == "/api/v1/deeds"
    assert gateway.get("/api/v1/rounds/x").get_json()["path"] == "/api/v1/rounds/x"
    assert gateway.get("/feeds/CAH-DM.atom").get_json()["path"] == "/feeds/CAH-DM.atom"
    r = gateway.get("/api/v1/nowhere")
    assert r.status_code == 404 and r.headers["Content-Type"] == "application/problem+json"


def test_large_streamed_head_and_not_modified_answers_pass_intact(gateway: Client) -> None:
    # Passed on piece by piece: closing the answer gives its connection back, as a server does.
    with gateway.get("/api/v1/books/x/big") as big:
        assert big.status_code == 200 and big.data == bytes(range(256)) * 4096
    with gateway.get("/api/v1/books/x/stream") as stream:
        assert stream.data.decode() == "".join(f"dòng {i}\n" for i in range(5000))
    head = gateway.head("/api/v1/books/x")
    assert head.status_code == 200 and head.data == b""
    nm = gateway.get("/feeds/x/not-modified")
    assert nm.status_code == 304 and nm.headers["ETag"] == '"v1"'
    assert gateway.get("/api/v1/books/y").status_code == 200, "and the connection is still good"


def test_kept_alive_connections_are_reused_and_a_stale_one_is_replaced(gateway: Client, upstreams: dict) -> None:
    for _ in range(3):
        assert gateway.get("/api/v1/books/a").status_code == 200
    ports = [s["port"] for s in SEEN if s["path"] == "/api/v1/books/a"]
    assert len(set(ports)) == 1, "one connection for the three requests"
    # The upstream restarts: the pooled connection is dead; the next request still gets through.
    server, port = upstreams["book"]
    server.shutdown()
    server.server_close()
    replacement = serve(port)
    try:
        r = gateway.post("/api/v1/books/CAH-DM/revocations", json={"seq": 1}, headers={"Idempotency-Key": "k"})
        assert r.status_code == 201
        assert gateway.get("/api/v1/books/b").status_code == 200
    finally:
        replacement.shutdown()
        replacement.server_close()


def test_a_service_down_is_a_502_problem_and_oversize_is_413(upstreams: dict, request: pytest.FixtureRequest) -> None:
    dead = free_port()
    routes = parse_routes([f"intake=127.0.0.1:{dead}", f"council=127.0.0.1:{upstreams['council'][1]}",
                           f"book=127.0.0.1:{upstreams['book'][1]}"])
    proxy = create_proxy(routes)
    request.addfinalizer(lambda: [upstream.close() for upstream in proxy.apps.values()])
    client = Client(proxy)
    r = client.get("/api/v1/deeds")
    assert r.status_code == 502 and r.headers["Content-Type"] == "application/problem+json"
    assert "intake" in r.get_json()["detail"]
    assert client.get("/readyz").status_code == 503, "ready only when every service is"
    assert client.get("/api/v1/books").status_code == 200
    r = client.post("/api/v1/books", data=b"x", environ_overrides={"CONTENT_LENGTH": str(30 * 1024 * 1024)})
    assert r.status_code == 413


def test_health_is_every_service_s(gateway: Client) -> None:
    r = gateway.get("/readyz")
    assert r.status_code == 200 and set(r.get_json()["services"]) == {"intake", "council", "book"}


def test_the_nginx_routing_comes_from_the_same_prefixes() -> None:
    conf = nginx_config(parse_routes(["intake=a:1", "council=b:2", "book=c:3"]))
    for name in ("intake", "council", "book"):
        for prefix in REGISTRY[name].prefixes:
            where = "= /" if prefix == "/" else prefix
            routed = [line for line in conf.splitlines() if line.strip().startswith(f"location {where} {{")]
            assert len(routed) == 1 and routed[0].endswith(f"proxy_pass http://{name}; }}"), prefix
