"""The burst limiter's fixed-window counter (issue 11 item 4): exactly `limit` allowed per window under concurrent
threads and processes, on the embedded SQLite store and on Redis (DB 13 of 127.0.0.1:6379); windows of exactly one
minute by an injected clock; a window's expiry is never re-set by later hits."""

from __future__ import annotations

import multiprocessing
import threading

import pytest

from core import ratelimit

T0 = 1_800_000_000.0  # a multiple of 60: the start of a window
REDIS = "redis://127.0.0.1:6379/13"


def _redis_store() -> ratelimit.RedisStore:
    import redis

    try:
        redis.Redis.from_url(REDIS, socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    store = ratelimit.RedisStore(REDIS)
    store.clear()
    return store


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request, tmp_path):
    if request.param == "redis":
        _redis_store()
        yield REDIS
        ratelimit.RedisStore(REDIS).clear()
    else:
        yield str(tmp_path / "ratelimit.sqlite3")


def _hits(url: str, key: str, n: int, limit: int, now: float, barrier) -> list[bool]:
    store = ratelimit.get_store(url)
    barrier.wait()
    return [ratelimit.hit(key=key, limit=limit, window_s=60, now=now, store=store).allowed for _ in range(n)]


def _process(url, key, n, limit, now, barrier, results) -> None:
    results.put(sum(_hits(url, key, n, limit, now, barrier)))


def test_concurrent_threads_get_exactly_the_limit(store_url):
    clients, each, limit = 8, 40, 100
    barrier = threading.Barrier(clients)
    allowed: list[int] = []

    def client():
        allowed.append(sum(_hits(store_url, "threads", each, limit, T0 + 1, barrier)))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(allowed) == clients
    assert sum(allowed) == limit
    store = ratelimit.get_store(store_url)
    assert ratelimit.hit(key="threads", limit=limit, window_s=60, now=T0 + 2, store=store).count == clients * each + 1


def test_concurrent_processes_get_exactly_the_limit(store_url):
    clients, each, limit = 8, 40, 100
    context = multiprocessing.get_context("spawn")  # fresh processes, each with its own connection
    barrier, results = context.Barrier(clients), context.Queue()
    procs = [
        context.Process(target=_process, args=(store_url, "procs", each, limit, T0 + 1, barrier, results))
        for _ in range(clients)
    ]
    for proc in procs:
        proc.start()
    allowed = [results.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    assert sum(allowed) == limit


def test_the_window_is_one_clock_minute(store_url):
    store = ratelimit.get_store(store_url)

    def hit(now):
        return ratelimit.hit(key="minute", limit=3, window_s=60, now=now, store=store)

    assert [hit(T0 + 10).allowed for _ in range(3)] == [True, True, True]
    refused = hit(T0 + 10)
    assert (refused.allowed, refused.count, refused.remaining) == (False, 4, 0)
    assert refused.reset_at == T0 + 60
    assert refused.retry_after(T0 + 10) == 50
    late = hit(T0 + 59.5)
    assert not late.allowed
    assert late.retry_after(T0 + 59.5) == 1
    fresh = hit(T0 + 60)  # the next minute starts afresh, however busy the last one was
    assert (fresh.allowed, fresh.count, fresh.remaining) == (True, 1, 2)
    assert hit(T0 + 119.9).count == 2
    assert hit(T0 + 120).count == 1
    assert hit(T0 + 30).count == 6  # the first window's count, untouched (a clock that steps back)


def test_keys_are_counted_apart(store_url):
    store = ratelimit.get_store(store_url)
    for _ in range(3):
        ratelimit.hit(key="a", limit=2, window_s=60, now=T0, store=store)
    assert ratelimit.hit(key="b", limit=2, window_s=60, now=T0, store=store).allowed


def test_redis_sets_the_expiry_once_per_window_and_never_re_sets_it():
    store = _redis_store()
    ratelimit.hit(key="ttl", limit=5, window_s=60, now=T0, store=store)
    name = f"{store.PREFIX}ttl:{int(T0 // 60)}"
    assert 0 < store.client.ttl(name) <= 120
    store.client.expire(name, 7)  # as if 113 s had gone by
    for _ in range(10):
        ratelimit.hit(key="ttl", limit=5, window_s=60, now=T0, store=store)
    assert 0 < store.client.ttl(name) <= 7
    assert int(store.client.get(name)) == 11
    store.clear()


def test_the_sqlite_store_is_shared_by_path(tmp_path):
    path = tmp_path / "shared.sqlite3"
    one, two = ratelimit.SqliteStore(path), ratelimit.SqliteStore(path)
    assert ratelimit.hit(key="k", limit=1, window_s=60, now=T0, store=one).allowed
    assert not ratelimit.hit(key="k", limit=1, window_s=60, now=T0, store=two).allowed
