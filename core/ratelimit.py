"""Fixed-window counters that hold under concurrency, across every process of a deployment.

A window is `[k·window_s, (k+1)·window_s)` of the clock the caller passes (`now`, epoch seconds), so a test moves
time by passing another `now`; the counter's key carries `k`, so a window can never be stretched by a timeout that
is set again (the bug of `cache.incr`, which re-sets a key's timeout to the cache default on the file and Redis
caches). Every hit counts, allowed or not; a hit is allowed while the count is at most the limit, so N concurrent
clients get exactly `limit` allowed per window.

Two stores, the same semantics:
- Redis (when `REDIS_URL` is set): one Lua script, `INCR` then `EXPIRE` on the first hit of a window, run
  atomically by the server;
- SQLite (the embedded default, `var/ratelimit.sqlite3`): one `INSERT … ON CONFLICT DO UPDATE … RETURNING`
  statement, which SQLite runs under its database write lock, so it is atomic across threads and processes.

Why not a library: `limits` and `django-ratelimit` have no store that is atomic across processes without a
server (their file/"memory" stores are per process or use `cache.incr`), and `limits`' Redis store starts a window at
a key's first hit with the server's clock, which cannot be driven by an injected one. This is ~100 lines.
"""

from __future__ import annotations

import math
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from django.conf import settings


@dataclass(frozen=True)
class Hit:
    """One counted hit: `count` hits so far in the window (this one included), `limit`, and the window's end
    (`reset_at`, epoch seconds)."""

    count: int
    limit: int
    reset_at: float

    @property
    def allowed(self) -> bool:
        """True while the count in this window is within the limit."""
        return self.count <= self.limit

    @property
    def remaining(self) -> int:
        """Requests left in this window, never negative."""
        return max(0, self.limit - self.count)

    def retry_after(self, now: float) -> int:
        """Whole seconds until the window ends (at least 1): the `Retry-After` of a refused hit."""
        return max(1, math.ceil(self.reset_at - now))


class Store(Protocol):
    """A counter store for fixed-window rate limits (SQLite on one machine, Redis for several)."""

    def incr(self, key: str, window: int, ttl_s: int) -> int:
        """Add one to `key`'s count for window number `window` and return the new count (1 for a new window)."""

    def clear(self) -> None:
        """Forget every counter (tests)."""


class SqliteStore:
    """A counter table in its own SQLite file (WAL), shared by every process that opens the same path."""

    SCHEMA = (
        "CREATE TABLE IF NOT EXISTS counters (key TEXT NOT NULL, window INTEGER NOT NULL, "
        "count INTEGER NOT NULL, expires REAL NOT NULL, PRIMARY KEY (key, window)) WITHOUT ROWID"
    )
    UPSERT = (
        "INSERT INTO counters (key, window, count, expires) VALUES (?, ?, 1, ?) "
        "ON CONFLICT (key, window) DO UPDATE SET count = counters.count + 1 RETURNING count"
    )

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._local = threading.local()
        self._new_windows = 0

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():  # a forked child opens its own
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout=30000")
            self._set_up(conn)
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def _set_up(self, conn: sqlite3.Connection, patience_s: float = 30.0) -> None:
        """WAL mode and the table on a new connection. Switching to WAL answers "database is locked" at once, without
        waiting for the busy timeout, while other connections are opening the same new file: retried for up to
        `patience_s` seconds, then the error is raised (sqlite3.OperationalError)."""
        give_up = time.monotonic() + patience_s
        while True:
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=OFF")  # a counter lost to a power cut is harmless
                conn.execute(self.SCHEMA)
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > give_up:
                    raise
                time.sleep(0.01)

    def incr(self, key: str, window: int, ttl_s: int) -> int:
        """Add one to `key`'s count in `window` (an index of fixed windows) and return the new count.

        The row expires `ttl_s` seconds from now; expired rows are deleted every 100 new windows.
        """
        conn = self._connection()
        (count,) = conn.execute(self.UPSERT, (key, window, time.time() + ttl_s)).fetchone()
        if count == 1:
            self._new_windows += 1
        if count == 1 and self._new_windows % 100 == 0:  # now and then, forget windows long past
            conn.execute("DELETE FROM counters WHERE expires < ?", (time.time(),))
        return int(count)

    def clear(self) -> None:
        """Forget every counter (tests)."""
        self._connection().execute("DELETE FROM counters")


class RedisStore:
    """`INCR` and, on a window's first hit, `EXPIRE`, in one Lua script (atomic on the server)."""

    SCRIPT = "local n = redis.call('INCR', KEYS[1]) if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end return n"

    PREFIX = "deepread:rl:"

    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url)
        self._script = self.client.register_script(self.SCRIPT)

    def incr(self, key: str, window: int, ttl_s: int) -> int:
        """Add one to `key`'s count in `window` in Redis (expiring after `ttl_s` seconds) and return the new count."""
        return int(self._script(keys=[f"{self.PREFIX}{key}:{window}"], args=[ttl_s]))

    def clear(self) -> None:
        """Forget every counter (tests)."""
        for name in self.client.scan_iter(match=f"{self.PREFIX}*", count=1000):
            self.client.delete(name)


_stores: dict[str, Store] = {}
_stores_lock = threading.Lock()


def store_url() -> str:
    """Where the counters live: DEEPREAD_RATELIMIT_STORE, else REDIS_URL, else `var/ratelimit.sqlite3`."""
    return settings.DEEPREAD_RATELIMIT_STORE or settings.REDIS_URL or str(settings.VAR_DIR / "ratelimit.sqlite3")


def get_store(url: str | None = None) -> Store:
    """The store for `url` (a `redis://`/`rediss://`/`unix://` URL or a SQLite file path), one per process."""
    url = url or store_url()
    with _stores_lock:
        if url not in _stores:
            _stores[url] = RedisStore(url) if url.startswith(("redis://", "rediss://", "unix://")) else SqliteStore(url)
        return _stores[url]


def hit(*, key: str, limit: int, window_s: int, now: float, store: Store | None = None) -> Hit:
    """Count one hit of `key` in the fixed window of `window_s` seconds that holds `now` (epoch seconds).

    Returns the Hit (allowed while its count is at most `limit`). Raises the store's errors (sqlite3.Error,
    redis.RedisError); callers decide whether to fail open."""
    window = int(now // window_s)
    count = (store or get_store()).incr(key, window, ttl_s=2 * window_s)
    return Hit(count=count, limit=limit, reset_at=(window + 1) * window_s)
