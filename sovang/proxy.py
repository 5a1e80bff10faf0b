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
import socket
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


class _Conn:
    """One connection to an upstream process, with the bytes read past what was consumed."""

    __slots__ = ("sock", "buf", "since")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.since = 0.0

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def _fill(self) -> bool:
        data = self.sock.recv(CHUNK)
        if not data:
            return False
        self.buf += data
        return True

    def head(self) -> bytes:
        """Up to the blank line ending a response head; EOFError when the upstream closed first."""
        while True:
            i = self.buf.find(b"\r\n\r\n")
            if i >= 0:
                head = bytes(self.buf[:i])
                del self.buf[:i + 4]
                return head
            if len(self.buf) > 65536:
                raise http.client.HTTPException("response head too long")
            if not self._fill():
                raise EOFError(bool(self.buf))

    def line(self) -> bytes:
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return line
            if len(self.buf) > 8192 or not self._fill():
                raise http.client.HTTPException("bad chunked body")

    def exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise http.client.IncompleteRead(bytes(self.buf), n - len(self.buf))
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def some(self, n: int) -> bytes:
        """At most n bytes: what is buffered, else one read; b"" at the end of the stream."""
        if not self.buf and not self._fill():
            return b""
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data


class _Response:
    """A response head from upstream, and how its body is delimited."""

    __slots__ = ("status", "reason", "headers", "length", "chunked", "keep")

    def __init__(self, head: bytes, method: str) -> None:
        lines = head.decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        code, _, self.reason = rest.partition(" ")
        self.status = int(code)
        self.headers: list[tuple[str, str]] = []
        length = connection = encoding = None
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name, value = name.strip(), value.strip()
            low = name.lower()
            if low == "content-length":
                length = int(value)
            elif low == "connection":
                connection = value.lower()
            elif low == "transfer-encoding":
                encoding = value.lower()
            if low not in HOP_BY_HOP:
                self.headers.append((name, value))
        self.chunked = encoding is not None and "chunked" in encoding
        if method == "HEAD" or self.status in (204, 304) or 100 <= self.status < 200:
            self.length: int | None = 0
        else:
            self.length = None if self.chunked else length
        delimited = self.length is not None or self.chunked
        self.keep = delimited and version == "HTTP/1.1" and (connection is None or "close" not in connection)


class Upstream:
    """One service's web processes as a WSGI app: each request is forwarded to the next address
    (round robin), over the serving thread's kept-alive connection when it has one.

    The HTTP/1.1 client is a lean one of its own (a few string operations per response instead
    of ``http.client``'s e-mail header parser): the gateway is on every request's path."""

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
    def _idle(self) -> dict[Address, _Conn]:
        idle = getattr(self._local, "idle", None)
        if idle is None:
            idle = self._local.idle = {}
        return idle

    def _connection(self, address: Address) -> tuple[_Conn, bool]:
        held = self._idle().pop(address, None)
        if held is not None:
            if time.monotonic() - held.since < IDLE_REUSE_SECONDS and not held.buf:
                return held, True
            held.close()
        sock = socket.create_connection(address, timeout=self.connect_timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(self.timeout)
        return _Conn(sock), False

    def close(self) -> None:
        """Close the kept-alive connections the calling thread holds (each serving thread keeps
        its own), rather than leaving their sockets to the garbage collector."""
        idle = self._idle()
        for conn in idle.values():
            conn.close()
        idle.clear()

    def _release(self, address: Address, conn: _Conn, reusable: bool) -> None:
        if not reusable:
            conn.close()
            return
        idle = self._idle()
        old = idle.get(address)
        if old is not None:
            old.close()
        conn.since = time.monotonic()
        idle[address] = conn

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
    def _head(method: str, target: str, environ: dict[str, Any], length: int | None) -> bytes:
        lines = [f"{method} {target} HTTP/1.1"]
        forwarded = None
        for key, value in environ.items():
            if key.startswith("HTTP_"):
                name = key[5:].replace("_", "-").title()
                low = name.lower()
                if low in HOP_BY_HOP or low == "content-length" or low == "expect":
                    continue
                if low == "x-forwarded-for":
                    forwarded = value
                    continue
                lines.append(f"{name}: {value}")
        if environ.get("CONTENT_TYPE"):
            lines.append(f"Content-Type: {environ['CONTENT_TYPE']}")
        if length is not None:
            lines.append(f"Content-Length: {length}")
        remote = environ.get("REMOTE_ADDR")
        if remote:
            lines.append(f"X-Forwarded-For: {forwarded}, {remote}" if forwarded else f"X-Forwarded-For: {remote}")
        elif forwarded:
            lines.append(f"X-Forwarded-For: {forwarded}")
        if "HTTP_X_FORWARDED_PROTO" not in environ:
            lines.append(f"X-Forwarded-Proto: {environ.get('wsgi.url_scheme', 'http')}")
        lines.append("Connection: keep-alive")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

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
        if body is None and method in ("POST", "PUT", "PATCH"):
            body = b""
        request = self._head(method, self._target(environ), environ, None if body is None else len(body))
        if body:
            request += body
        safe_again = "HTTP_IDEMPOTENCY_KEY" in environ
        tried = 0
        while tried < len(self.addresses):
            address = self.addresses[next(self._turn)]
            tried += 1
            for _ in range(2):  # a second go only when a kept-alive connection had gone stale
                try:
                    conn, reused = self._connection(address)
                except ConnectionRefusedError:
                    break  # that process is not listening: the next address
                except OSError:
                    break
                sent = False
                try:
                    conn.sock.sendall(request)
                    sent = True
                    while True:
                        resp = _Response(conn.head(), method)
                        if not 100 <= resp.status < 200:
                            break  # an interim answer (100 Continue) is not the response
                except EOFError as exc:
                    conn.close()
                    # Closed without a byte of answer on a kept-alive connection: most likely the
                    # upstream had let it go idle. Sent again when that is safe (as Go's HTTP
                    # client does): an idempotent method, or a POST with an Idempotency-Key.
                    if reused and not exc.args[0] and (method in IDEMPOTENT or safe_again):
                        continue
                    return _problem(start_response, 502, "Dịch vụ không trả lời",
                                    f"Dịch vụ {self.name} đã ngắt kết nối; xin thử lại.")
                except TimeoutError:
                    conn.close()
                    return _problem(start_response, 504, "Dịch vụ trả lời quá chậm",
                                    f"Dịch vụ {self.name} không trả lời kịp; xin thử lại.")
                except (http.client.HTTPException, OSError, ValueError):
                    conn.close()
                    if reused and (not sent or method in IDEMPOTENT or safe_again):
                        continue
                    return _problem(start_response, 502, "Dịch vụ không trả lời",
                                    f"Dịch vụ {self.name} đã ngắt kết nối; xin thử lại.")
                return self._answer(address, conn, resp, start_response)
        return _problem(start_response, 502, "Dịch vụ không trả lời",
                        f"Dịch vụ {self.name} tạm thời không trả lời; xin thử lại.")

    def _answer(self, address: Address, conn: _Conn, resp: _Response, start_response: Callable) -> Iterable[bytes]:
        start_response(f"{resp.status} {resp.reason}", resp.headers)
        if resp.length is not None and resp.length <= BUFFER_UP_TO:
            try:
                data = conn.exactly(resp.length)
            except (http.client.HTTPException, OSError):
                conn.close()
                raise
            self._release(address, conn, resp.keep)
            return [data] if data else []
        return _Stream(self, address, conn, resp)


class _Stream:
    """A large or chunked answer, passed on piece by piece; the connection is pooled only if the
    body was read to its end."""

    def __init__(self, upstream: Upstream, address: Address, conn: _Conn, resp: _Response) -> None:
        self.upstream = upstream
        self.address = address
        self.conn = conn
        self.resp = resp
        self.done = False

    def __iter__(self) -> Iterator[bytes]:
        conn = self.conn
        if self.resp.chunked:
            while True:
                size = int(conn.line().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while conn.line():  # trailers, up to the blank line
                        pass
                    self.done = True
                    return
                yield conn.exactly(size)
                conn.line()
        left = self.resp.length
        while left is None or left > 0:
            data = conn.some(CHUNK if left is None else min(CHUNK, left))
            if not data:
                if left:
                    raise http.client.IncompleteRead(b"", left)
                self.done = True
                return
            if left is not None:
                left -= len(data)
            yield data
        self.done = True

    def close(self) -> None:
        self.upstream._release(self.address, self.conn, self.done and self.resp.keep)


def create_proxy(routes: dict[str, list[Address]]) -> Any:
    """The gateway: every service of ``routes`` behind its path prefixes (each package's PREFIXES)."""
    from services import REGISTRY
    from sovang.gateway import Gateway, _merged_openapi

    missing = [name for name in SERVICES if name not in routes]
    if missing:
        raise ValueError(f"no route for {', '.join(missing)}")
    apps = {name: Upstream(name, routes[name]) for name in SERVICES}
    prefixes = {name: REGISTRY[name].prefixes for name in SERVICES}
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
    """The same routing for nginx (``sovang.edge``, which writes deploy/nginx.conf)."""
    from sovang.edge import nginx_config as edge_config

    return edge_config({name: [f"{h}:{p}" for h, p in addresses] for name, addresses in routes.items()}, listen)


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
