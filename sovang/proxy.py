"""The gateway of ``sovang cluster``: one origin, API.md's path prefixes forwarded to each service's
own web processes (API.md, "Common").

A small WSGI reverse proxy: the routing, health aggregation, OpenAPI and docs of
``sovang.gateway.Gateway``, with each service's app replaced by an ``Upstream`` that forwards the
request over a keep-alive connection held by the serving thread (a per-thread pool, so no lock is
taken on the hot path). Run under gunicorn's threaded worker: ``python -m sovang.proxy --bind
127.0.0.1:8000 --route intake=127.0.0.1:8101 --route council=… --route book=…``.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import quote

from shared.config import SERVICES

log = logging.getLogger("sovang.proxy")

# Headers that describe one hop, never forwarded (RFC 9110, 7.6.1).
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te",
    "trailer", "trailers", "transfer-encoding", "upgrade",
})
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
# A body is at most an evidence file (20 MiB, API.md) plus its multipart envelope; the service
# itself answers the exact 413, this only keeps the gateway from buffering without bound.
MAX_BODY = 21 * 1024 * 1024
# Small answers are read at once and the connection goes back to the pool before the client
# has them; larger ones (certificates, evidence) are streamed.
BUFFER_UP_TO = 256 * 1024
CHUNK = 64 * 1024
# An idle upstream connection older than this is not reused: the upstream may have closed it
# (gunicorn's threaded worker keeps a connection 2 s by default; its sync worker never does).
IDLE_REUSE_SECONDS = 1.5

Address = tuple[str, int]


def parse_address(text: str) -> Address:
    host, _, port = text.strip().rpartition(":")
    return (host or "127.0.0.1", int(port))


def _problem(start_response: Callable, status: int, title: str, detail: str) -> list[bytes]:
    body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail},
                      ensure_ascii=False).encode("utf-8")
    reason = http.client.responses.get(status, "")
    start_response(f"{status} {reason}", [("Content-Type", "application/problem+json"),
                                          ("Content-Length", str(len(body)))])
    return [body]


class _Idle:
    """One thread's idle connection to one upstream address."""

    __slots__ = ("conn", "since")

    def __init__(self, conn: http.client.HTTPConnection, since: float) -> None:
        self.conn = conn
        self.since = since


class Upstream:
    """One service's web processes as a WSGI app: each request is forwarded to the next address
    (round robin), over the serving thread's kept-alive connection when it has one."""

    def __init__(self, name: str, addresses: list[Address], timeout: float = 120.0,
                 connect_timeout: float = 5.0, max_body: int = MAX_BODY) -> None:
        if not addresses:
            raise ValueError(f"no address for {name}")
        self.name = name
        self.addresses = list(addresses)
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_body = max_body
        self._turn = itertools.cycle(range(len(self.addresses)))
        self._local = threading.local()

    # -- connections -----------------------------------------------------------------------------
    def _idle(self) -> dict[Address, _Idle]:
        idle = getattr(self._local, "idle", None)
        if idle is None:
            idle = self._local.idle = {}
        return idle

    def _connection(self, address: Address) -> tuple[http.client.HTTPConnection, bool]:
        held = self._idle().pop(address, None)
        if held is not None:
            if time.monotonic() - held.since < IDLE_REUSE_SECONDS:
                return held.conn, True
            held.conn.close()
        conn = http.client.HTTPConnection(address[0], address[1], timeout=self.connect_timeout)
        return conn, False

    def _release(self, address: Address, conn: http.client.HTTPConnection, reusable: bool) -> None:
        if not reusable:
            conn.close()
            return
        idle = self._idle()
        old = idle.get(address)
        if old is not None:
            old.conn.close()
        idle[address] = _Idle(conn, time.monotonic())

    # -- the request -----------------------------------------------------------------------------
    @staticmethod
    def _target(environ: dict[str, Any]) -> str:
        raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
        if raw and raw.startswith("/"):
            return raw
        path = quote(environ.get("PATH_INFO", "/").encode("latin-1"), safe="/:@!$&'()*+,;=-._~%")
        query = environ.get("QUERY_STRING")
        return f"{path}?{query}" if query else path

    @staticmethod
    def _headers(environ: dict[str, Any], length: int | None) -> dict[str, str]:
        headers: dict[str, str] = {}
        for key, value in environ.items():
            if key.startswith("HTTP_"):
                name = key[5:].replace("_", "-").title()
                if name.lower() not in HOP_BY_HOP and name != "Content-Length":
                    headers[name] = value
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        if length is not None:
            headers["Content-Length"] = str(length)
        remote = environ.get("REMOTE_ADDR")
        if remote:
            prior = headers.get("X-Forwarded-For")
            headers["X-Forwarded-For"] = f"{prior}, {remote}" if prior else remote
        headers.setdefault("X-Forwarded-Proto", environ.get("wsgi.url_scheme", "http"))
        return headers

    def _body(self, environ: dict[str, Any]) -> bytes | None:
        """The request body, whole; None when there is none. Raises OverflowError past the limit."""
        stream = environ.get("wsgi.input")
        length = environ.get("CONTENT_LENGTH")
        if length:
            n = int(length)
            if n > self.max_body:
                raise OverflowError(n)
            return stream.read(n) if n and stream is not None else b""
        if stream is not None and "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            data = stream.read(self.max_body + 1)
            if len(data) > self.max_body:
                raise OverflowError(len(data))
            return data
        return None

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        try:
            body = self._body(environ)
        except OverflowError:
            return _problem(start_response, 413, "Nội dung quá lớn",
                            "Nội dung quá lớn: một thân JSON tối đa 1 MiB, một tệp bằng chứng tối đa 20 MiB.")
        except ValueError:
            return _problem(start_response, 400, "Yêu cầu không đọc được", "Content-Length không hợp lệ.")
        target = self._target(environ)
        headers = self._headers(environ, len(body) if body is not None else None)
        tried = 0
        while tried < len(self.addresses):
            address = self.addresses[next(self._turn)]
            tried += 1
            for _ in range(2):  # a second go only when a kept-alive connection had gone stale
                conn, reused = self._connection(address)
                sent = False
                try:
                    conn.request(method, target, body=body, headers=headers)
                    sent = True
                    conn.sock.settimeout(self.timeout)
                    resp = conn.getresponse()
                except ConnectionRefusedError:
                    conn.close()
                    break  # that process is not listening: the next address
                except TimeoutError:
                    conn.close()
                    if not sent:
                        break
                    return _problem(start_response, 504, "Dịch vụ trả lời quá chậm",
                                    f"Dịch vụ {self.name} không trả lời kịp; xin thử lại.")
                except (http.client.HTTPException, OSError):
                    conn.close()
                    # A stale kept-alive connection: the request never reached a live process
                    # (it failed while sending), or it is safe to send again (idempotent).
                    if reused and (not sent or method in IDEMPOTENT):
                        continue
                    if not sent:
                        break
                    return _problem(start_response, 502, "Dịch vụ không trả lời",
                                    f"Dịch vụ {self.name} đã ngắt kết nối; xin thử lại.")
                return self._answer(address, conn, resp, method, start_response)
        return _problem(start_response, 502, "Dịch vụ không trả lời",
                        f"Dịch vụ {self.name} tạm thời không trả lời; xin thử lại.")

    def _answer(self, address: Address, conn: http.client.HTTPConnection, resp: http.client.HTTPResponse,
                method: str, start_response: Callable) -> Iterable[bytes]:
        out = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP_BY_HOP]
        start_response(f"{resp.status} {resp.reason}", out)
        if method == "HEAD" or resp.length is not None and resp.length <= BUFFER_UP_TO:
            try:
                data = resp.read()
            except (http.client.HTTPException, OSError):
                conn.close()
                raise
            self._release(address, conn, not resp.will_close)
            return [data] if data else []
        return _Stream(self, address, conn, resp)


class _Stream:
    """A large answer, passed on chunk by chunk; the connection is pooled only if read to the end."""

    def __init__(self, upstream: Upstream, address: Address, conn: http.client.HTTPConnection,
                 resp: http.client.HTTPResponse) -> None:
        self.upstream = upstream
        self.address = address
        self.conn = conn
        self.resp = resp
        self.done = False

    def __iter__(self) -> Iterator[bytes]:
        while True:
            chunk = self.resp.read(CHUNK)
            if not chunk:
                self.done = True
                return
            yield chunk

    def close(self) -> None:
        self.upstream._release(self.address, self.conn, self.done and not self.resp.will_close)


def create_proxy(routes: dict[str, list[Address]]) -> Any:
    """The gateway: every service of ``routes`` behind its path prefixes (each package's PREFIXES)."""
    import importlib

    from sovang.gateway import Gateway, _merged_openapi

    missing = [name for name in SERVICES if name not in routes]
    if missing:
        raise ValueError(f"no route for {', '.join(missing)}")
    apps = {name: Upstream(name, routes[name]) for name in SERVICES}
    prefixes = {name: importlib.import_module(f"services.{name}").PREFIXES for name in SERVICES}
    gateway = Gateway(apps, prefixes)
    gateway.openapi = _merged_openapi
    return gateway


def parse_routes(specs: list[str]) -> dict[str, list[Address]]:
    """``["intake=127.0.0.1:8101,127.0.0.1:8102", …]`` → {service: [addresses]}."""
    routes: dict[str, list[Address]] = {}
    for spec in specs:
        name, _, addresses = spec.partition("=")
        if name not in SERVICES or not addresses:
            raise ValueError(f"route {spec!r}: expected SERVICE=HOST:PORT[,HOST:PORT]")
        routes.setdefault(name, []).extend(parse_address(a) for a in addresses.split(","))
    return routes


def nginx_config(routes: dict[str, list[Address]], listen: int = 8000) -> str:
    """The same routing for nginx, from the same PREFIXES (a faster front where one is wanted;
    the merged OpenAPI document and the docs page stay with the Python gateway)."""
    import importlib

    lines = ["# Generated by `python -m sovang.proxy --print-nginx`: each service's PREFIXES.", "events {}",
             "http {", "  client_max_body_size 21m;"]
    for name in SERVICES:
        servers = " ".join(f"server {h}:{p};" for h, p in routes[name])
        lines.append(f"  upstream {name} {{ {servers} keepalive 16; }}")
    lines += ["  server {", f"    listen {listen};", "    proxy_http_version 1.1;",
              '    proxy_set_header Connection "";', "    proxy_set_header Host $host;",
              "    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;"]
    for name in SERVICES:
        for prefix in importlib.import_module(f"services.{name}").PREFIXES:
            lines.append(f"    location {prefix} {{ proxy_pass http://{name}; }}")
    lines += ["    location = /healthz { proxy_pass http://intake; }",
              "    location = /readyz  { proxy_pass http://intake; }", "  }", "}"]
    return "\n".join(lines) + "\n"


def serve(bind: str, routes: dict[str, list[Address]], workers: int = 2, threads: int = 16,
          access_log: bool = False) -> None:
    """The gateway under gunicorn's threaded worker: client keep-alive, one pool per thread."""
    from gunicorn.app.base import BaseApplication

    class _App(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", bind)
            self.cfg.set("workers", workers)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", threads)
            self.cfg.set("keepalive", 5)
            self.cfg.set("timeout", 120)
            self.cfg.set("graceful_timeout", 10)
            self.cfg.set("accesslog", "-" if access_log else None)
            self.cfg.set("proc_name", "sovang-gateway")
            if "control_socket_disable" in self.cfg.settings:
                # gunicorn ≥ 24 opens a control socket at one fixed path per user by default:
                # several gunicorns on one machine would take it from each other.
                self.cfg.set("control_socket_disable", True)

        def load(self) -> Any:
            return create_proxy(routes)

    _App().run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sovang.proxy", description="the gateway of sovang cluster")
    parser.add_argument("--bind", default="127.0.0.1:8000")
    parser.add_argument("--route", action="append", default=[], help="SERVICE=HOST:PORT[,HOST:PORT…]")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--access-log", action="store_true")
    parser.add_argument("--print-nginx", action="store_true", help="print the same routing as an nginx.conf")
    args = parser.parse_args(argv)
    if args.print_nginx:
        print(nginx_config(parse_routes(args.route), parse_address(args.bind)[1]), end="")
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    serve(args.bind, parse_routes(args.route), args.workers, args.threads, args.access_log)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
