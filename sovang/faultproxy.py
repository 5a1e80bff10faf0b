"""A TCP proxy on loopback that injects network faults between clients and a server.

Put it between the processes and Redis (``SOVANG_BROKER_URL`` on the proxy's port) and switch it:

- ``pass``: bytes flow both ways;
- ``blackhole``: nothing flows; open connections stall (what a lost route looks like to TCP: the
  bytes wait, nothing is refused), new connections are accepted and wait too; ``heal`` lets the
  held bytes through, as a network does when the route comes back within TCP's patience;
- ``reset``: every open connection is reset (RST) and new ones are reset at once, as when the
  server's host restarts or a firewall drops the state;
- ``delay``: every chunk waits that many seconds before it is passed on.

Used in-process by the fault tests (``FaultProxy(...).start()``), or as a command with a line
protocol on a control port: ``python -m sovang.faultproxy --listen 127.0.0.1:7000 --target
127.0.0.1:6379 --control 127.0.0.1:7001``, then ``echo blackhole | nc 127.0.0.1 7001``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

PASS, BLACKHOLE, RESET = "pass", "blackhole", "reset"
CHUNK = 64 * 1024


@dataclass
class ProxyStats:
    connections: int = 0
    resets: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    blackholes: int = 0


def _rst(writer: asyncio.StreamWriter) -> None:
    """Close with RST instead of FIN (SO_LINGER 0)."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class _Link:
    """One client connection and its connection to the target."""

    def __init__(self, client: asyncio.StreamWriter) -> None:
        self.client = client
        self.upstream: asyncio.StreamWriter | None = None
        self.tasks: list[asyncio.Task] = []

    def reset(self) -> None:
        for w in (self.client, self.upstream):
            if w is not None:
                _rst(w)
        for t in self.tasks:
            t.cancel()


class FaultProxy:
    """Forwards ``listen`` → ``target``; ``blackhole()``, ``reset()``, ``delay(s)``, ``heal()``."""

    def __init__(self, target: tuple[str, int], host: str = "127.0.0.1", port: int = 0) -> None:
        self.target = target
        self.host = host
        self.port = port
        self.mode = PASS
        self.delay_seconds = 0.0
        self.stats = ProxyStats()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._links: set[_Link] = set()
        self._open: asyncio.Event | None = None

    # -- control (any thread) ----------------------------------------------------------------------
    def start(self) -> FaultProxy:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            self._open = asyncio.Event()
            self._open.set()
            self._server = loop.run_until_complete(asyncio.start_server(self._serve, self.host, self.port))
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, name=f"faultproxy-{self.target[1]}", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fault proxy did not start")
        return self

    def _call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        assert self._loop is not None, "start() first"
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    def blackhole(self) -> None:
        self._call(self._set(BLACKHOLE))

    def reset(self) -> None:
        """Reset every open connection; new ones are reset too until ``heal()``."""
        self._call(self._set(RESET))

    def heal(self) -> None:
        self._call(self._set(PASS))

    def delay(self, seconds: float) -> None:
        self.delay_seconds = max(0.0, seconds)

    def stop(self) -> None:
        if self._loop is None:
            return

        async def close() -> None:
            assert self._server is not None
            self._server.close()
            for link in list(self._links):
                link.reset()
            self._links.clear()

        with contextlib.suppress(Exception):
            self._call(close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)
        self._loop = None

    # -- the loop ----------------------------------------------------------------------------------
    async def _set(self, mode: str) -> None:
        assert self._open is not None
        self.mode = mode
        if mode == PASS:
            self._open.set()
            return
        self._open.clear()
        if mode == BLACKHOLE:
            self.stats.blackholes += 1
        if mode == RESET:
            for link in list(self._links):
                link.reset()
                self.stats.resets += 1
            self._links.clear()

    async def _gate(self) -> None:
        """Wait while the proxy holds traffic; a reset during the wait ends the link."""
        assert self._open is not None
        await self._open.wait()
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stats.connections += 1
        if self.mode == RESET:
            self.stats.resets += 1
            _rst(writer)
            return
        link = _Link(writer)
        self._links.add(link)
        try:
            await self._gate()
            if link not in self._links:  # reset while it waited
                return
            up_reader, up_writer = await asyncio.open_connection(*self.target)
            link.upstream = up_writer
            if link not in self._links:
                _rst(up_writer)
                return
            up = asyncio.ensure_future(self._pipe(reader, up_writer, "up"))
            down = asyncio.ensure_future(self._pipe(up_reader, writer, "down"))
            link.tasks = [up, down]
            await asyncio.wait(link.tasks, return_when=asyncio.FIRST_COMPLETED)
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            self._links.discard(link)
            for t in link.tasks:
                t.cancel()
            for w in (writer, link.upstream):
                if w is not None and not w.transport.is_closing():
                    w.close()

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, direction: str) -> None:
        while True:
            data = await src.read(CHUNK)
            if not data:
                return
            await self._gate()
            dst.write(data)
            await dst.drain()
            if direction == "up":
                self.stats.bytes_up += len(data)
            else:
                self.stats.bytes_down += len(data)


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


async def _control(proxy: FaultProxy, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """One command per line: pass|heal, blackhole, reset, delay SECONDS, stats."""
    while line := (await reader.readline()).decode().strip():
        cmd, _, arg = line.partition(" ")
        if cmd in ("pass", "heal"):
            await proxy._set(PASS)
        elif cmd == "blackhole":
            await proxy._set(BLACKHOLE)
        elif cmd == "reset":
            await proxy._set(RESET)
        elif cmd == "delay":
            proxy.delay(float(arg or 0))
        elif cmd != "stats":
            writer.write(f"? {cmd}\n".encode())
            continue
        writer.write(f"{proxy.mode} delay={proxy.delay_seconds} {proxy.stats}\n".encode())
        await writer.drain()
    writer.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sovang.faultproxy", description=__doc__.split("\n")[0])
    parser.add_argument("--listen", default="127.0.0.1:0")
    parser.add_argument("--target", required=True)
    parser.add_argument("--control", default="127.0.0.1:0")
    args = parser.parse_args(argv)
    host, port = _address(args.listen)
    proxy = FaultProxy(_address(args.target), host, port).start()
    assert proxy._loop is not None
    chost, cport = _address(args.control)
    server = asyncio.run_coroutine_threadsafe(
        asyncio.start_server(lambda r, w: _control(proxy, r, w), chost, cport), proxy._loop).result(10)
    print(f"listening {proxy.host}:{proxy.port} → {args.target}; control {server.sockets[0].getsockname()}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    proxy.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
