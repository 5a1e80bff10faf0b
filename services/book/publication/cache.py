"""Stored publications kept in the web process, so that a feed or a page read again costs no
database round trip; every process forgets them all when any process commits a change to them.

Correctness rests on the invalidation channel, so the cache answers only while this process is
subscribed to it and has heard from Redis lately: without the broker (or before subscribing,
or while reconnecting) every request goes to the database as if there were no cache, and
subscribing again starts from an empty cache, since messages sent meanwhile were lost.

A request that misses takes a token (the generation) before reading the database and stores
what it read only if no invalidation came in between: a read that raced a commit never outlives
it. An entry is also never served older than ``MAX_AGE`` (the feeds already tell clients that
they may keep them that long), a last guard should a message ever be missed.

Who changed what is seen on the book's sessions: a commit that wrote to a table publications
are made from (whichever use case, whether or not it emitted a message: loading the organisation
emits none) clears this process's cache at once and publishes on ``CHANNEL`` (suffixed with the
broker's database) for the others.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.orm import ORMExecuteState, Session

from shared.config import Settings
from shared.db import Database

log = logging.getLogger(__name__)

CHANNEL = "sovang:book:changed"
MAX_ENTRIES = 512  # a publication and its whole response (``responses``) are two
MAX_BYTES = 64 * 1024 * 1024
MAX_AGE = 5.0  # seconds; the feeds' own Cache-Control max-age
# The subscriber pings this often; silence for DEAD_AFTER (a connection that died without a
# word, a stalled thread) turns the cache off until Redis is heard again.
PING_EVERY = 1.0
DEAD_AFTER = 3.0
POLL = 0.25
RETRY_FIRST, RETRY_MAX = 0.2, 2.0

# The tables publications are made from: a commit that wrote any of them invalidates.
WATCHED = frozenset({"books", "entries", "artifacts"})
_CHANGED = "sovang.book.publications_changed"


def channel_of(client: Any) -> str:
    """``CHANNEL`` in the broker's database: channels span a Redis server's databases; the
    processes of one deployment share their database (their queues are there), while another
    deployment on the same server (a test run, the benchmark) has its own."""
    return f"{CHANNEL}:{client.connection_pool.connection_kwargs.get('db', 0)}"


class ArtifactCache:
    """A bounded LRU of stored publications by path, shared by a process's request threads."""

    def __init__(
        self,
        settings: Settings,
        max_entries: int = MAX_ENTRIES,
        max_bytes: int = MAX_BYTES,
        max_age: float = MAX_AGE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.max_age = max_age
        self.clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[float, int, Any]] = OrderedDict()
        self._bytes = 0
        self.generation = 0
        self._subscribed = False
        self._heard = 0.0  # when Redis last said anything on the subscription
        self._pid: int | None = None  # the process whose thread listens
        self._publisher: Any = None

    # -- reading and storing ------------------------------------------------------------------
    def usable(self) -> bool:
        return (
            self._subscribed
            and self._pid == os.getpid()
            and self.clock() - self._heard < DEAD_AFTER
        )

    def token(self) -> int | None:
        """The generation to hand back to ``put``; None when the cache must not be used."""
        return self.generation if self.usable() else None

    def get(self, key: str) -> Any | None:
        if not self.usable():
            return None
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            stored_at, size, value = found
            if self.clock() - stored_at > self.max_age:
                del self._entries[key]
                self._bytes -= size
                return None
            self._entries.move_to_end(key)
            return value

    def put(self, token: int | None, key: str, value: Any, size: int) -> bool:
        """Keep ``value`` unless something was invalidated since ``token`` was taken."""
        if token is None or size > self.max_bytes:
            return False
        with self._lock:
            if token != self.generation or not self.usable():
                return False
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._entries[key] = (self.clock(), size, value)
            self._bytes += size
            while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
                _, (_, dropped, _) = self._entries.popitem(last=False)
                self._bytes -= dropped
            return True

    def __len__(self) -> int:
        return len(self._entries)

    # -- invalidation ---------------------------------------------------------------------------
    def invalidate(self) -> None:
        with self._lock:
            self.generation += 1
            self._entries.clear()
            self._bytes = 0

    def changed(self) -> None:
        """A commit of this process changed publications: forget them here, tell the others."""
        self.invalidate()
        try:
            if self._publisher is None:
                from shared.celery_app import redis_client

                # Short and without retries, as the relay's wake-up: a broker away must not hold
                # up a committed use case (and the other processes' caches are off meanwhile).
                self._publisher = redis_client(self.settings, timeout=0.2, retries=0)
            self._publisher.publish(channel_of(self._publisher), b"1")
        except Exception:
            log.debug("publishing a publications change failed", exc_info=True)

    def _subscribed_now(self) -> None:
        with self._lock:
            self.generation += 1
            self._entries.clear()
            self._bytes = 0
            self._heard = self.clock()
            self._subscribed = True

    def _heard_now(self) -> None:
        self._heard = self.clock()

    def _unsubscribed(self) -> None:
        with self._lock:
            self._subscribed = False
            self.generation += 1
            self._entries.clear()
            self._bytes = 0

    # -- the listening thread --------------------------------------------------------------------
    def listen(self) -> None:
        """Start this process's subscriber unless it runs (a forked child starts its own)."""
        pid = os.getpid()
        if self._pid == pid:
            return
        with self._lock:
            if self._pid == pid:
                return
            # Whatever a parent process held or heard is not this process's.
            self._subscribed = False
            self.generation += 1
            self._entries.clear()
            self._bytes = 0
            self._pid = pid
        thread = threading.Thread(
            target=_Subscriber(weakref.ref(self), self.settings).run, name="book-publications-changed", daemon=True
        )
        thread.start()


class _Subscriber:
    """The loop of the listening thread. It holds its cache weakly: a cache no one uses any more
    (an app built and dropped) ends its thread."""

    def __init__(self, cache: weakref.ref[ArtifactCache], settings: Settings) -> None:
        self.cache = cache
        self.settings = settings

    def run(self) -> None:
        delay = RETRY_FIRST
        while self.cache() is not None:
            try:
                if self._session():
                    return
                delay = RETRY_FIRST
            except Exception as exc:  # noqa: BLE001 - any failure means: not subscribed
                log.debug("book publications subscription lost: %s", exc)
            cache = self.cache()
            if cache is None:
                return
            cache._unsubscribed()
            del cache
            time.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)

    def _session(self) -> bool:
        """One subscription, until it fails; True when the cache is gone."""
        from shared.celery_app import redis_client

        client = redis_client(self.settings, timeout=DEAD_AFTER, retries=0)
        pubsub = client.pubsub()
        try:
            pubsub.subscribe(channel_of(client))
            pinged = time.monotonic()
            heard = pinged
            while True:
                message = pubsub.get_message(timeout=POLL)
                now = time.monotonic()
                cache = self.cache()
                if cache is None:
                    return True
                if message is not None:
                    heard = now
                    kind = message.get("type")
                    if kind == "subscribe":
                        cache._subscribed_now()
                    elif kind == "message":
                        cache.invalidate()
                    cache._heard_now()
                del cache
                if now - heard > DEAD_AFTER:
                    raise ConnectionError("no answer from the broker")
                if now - pinged >= PING_EVERY:
                    pubsub.ping()
                    pinged = now
        finally:
            # Each closed whatever the other does: a socket left to the garbage collector is a
            # ResourceWarning in whichever test runs then.
            for closing in (pubsub.close, client.close):
                try:
                    closing()
                except Exception:  # noqa: BLE001 - closing a dead connection
                    pass


# -- who changed publications ---------------------------------------------------------------------
_caches: weakref.WeakKeyDictionary[Engine, ArtifactCache] = weakref.WeakKeyDictionary()
_installed = threading.Lock()


def _on_execute(state: ORMExecuteState) -> None:
    if state.is_select or not (state.is_insert or state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    if table is None or getattr(table, "name", None) in WATCHED:
        state.session.info[_CHANGED] = True


def _on_commit(session: Session) -> None:
    # Also called when a savepoint is released: only the outermost commit makes writes visible.
    if session.in_nested_transaction() or not session.info.pop(_CHANGED, False):
        return
    cache = _caches.get(session.bind) if isinstance(session.bind, Engine) else None
    if cache is not None:
        cache.changed()


def install(db: Database) -> ArtifactCache:
    """The cache of ``db``'s publications in this process; commits through ``db``'s sessions
    invalidate it (and, through Redis, every other process's)."""
    with _installed:
        cache = _caches.get(db.engine)
        if cache is None:
            cache = _caches[db.engine] = ArtifactCache(db.settings)
            # On the book's writing sessions only: the other services' sessions in the same
            # process (``sovang up``) pay nothing on their hot paths.
            db.listen_to_writers("do_orm_execute", _on_execute)
            db.listen_to_writers("after_commit", _on_commit)
    return cache
