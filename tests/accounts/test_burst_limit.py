"""The per-key burst limit through the API (issue 11 item 4): exactly the limit per clock minute under concurrent
clients, on both stores, with 429 + Retry-After (the time left in the minute) in each API's format, and the
monthly X-RateLimit-* headers unchanged by refused calls."""

from __future__ import annotations

import threading

import pytest
from rest_framework.test import APIClient

from accounts.throttling import ApiKeyBurstThrottle
from core import ratelimit
from tests.core.test_ratelimit import REDIS, T0, _redis_store
from tests.factories import ApiKeyFactory, UserFactory


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", "redis"])
def store(request, settings, tmp_path):
    if request.param == "redis":
        _redis_store()
        settings.DEEPREAD_RATELIMIT_STORE = REDIS
        yield "redis"
        ratelimit.RedisStore(REDIS).clear()
    else:
        settings.DEEPREAD_RATELIMIT_STORE = str(tmp_path / "ratelimit.sqlite3")
        yield "sqlite"


@pytest.fixture
def clock(monkeypatch):
    clock = Clock(T0 + 15)
    monkeypatch.setattr(ApiKeyBurstThrottle, "timer", staticmethod(clock))
    return clock


@pytest.mark.parametrize(
    ("path", "error_is"),
    [
        (
            "/api/v1/ocr-modes",
            lambda body: body["detail"].endswith("Expected available in 45 seconds."),
        ),
        ("/v1/models", lambda body: body["error"]["code"] == "rate_limit_exceeded"),
    ],
)
def test_a_minute_holds_exactly_the_limit_then_429_with_the_time_left(store, clock, api, settings, path, error_is):
    settings.DEEPREAD_BURST_PER_MINUTE = 3
    first = api.get(path)
    assert first.status_code == 200
    quota_headers = {name: first[name] for name in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")}
    assert [api.get(path).status_code for _ in range(2)] == [200, 200]
    refused = api.get(path)
    assert refused.status_code == 429
    assert refused["Retry-After"] == "45"
    assert error_is(refused.json()), refused.json()
    assert {name: refused[name] for name in quota_headers} == quota_headers  # the monthly quota is untouched
    clock.now = T0 + 59.2
    late = api.get(path)
    assert (late.status_code, late["Retry-After"]) == (429, "1")
    clock.now = T0 + 60  # the window is one minute, not five
    assert [api.get(path).status_code for _ in range(4)] == [200, 200, 200, 429]


def test_each_key_has_its_own_window(store, clock, api, settings, db):
    settings.DEEPREAD_BURST_PER_MINUTE = 1
    assert api.get("/api/v1/ocr-modes").status_code == 200
    assert api.get("/api/v1/ocr-modes").status_code == 429
    other = APIClient()
    other.credentials(HTTP_X_API_KEY=ApiKeyFactory.create_with_raw(user=UserFactory())[1])
    assert other.get("/api/v1/ocr-modes").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_concurrent_clients_get_exactly_the_limit(store, clock, settings):
    settings.DEEPREAD_BURST_PER_MINUTE = 30
    raw = ApiKeyFactory.create_with_raw(user=UserFactory())[1]
    clients, each = 8, 10
    barrier = threading.Barrier(clients)
    statuses: list[int] = []
    lock = threading.Lock()

    def client():
        from django.db import connection

        api = APIClient()
        api.credentials(HTTP_X_API_KEY=raw)
        barrier.wait()
        try:
            for _ in range(each):
                code = api.get("/v1/models").status_code
                with lock:
                    statuses.append(code)
        finally:
            connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(statuses) == clients * each
    assert statuses.count(200) == 30
    assert statuses.count(429) == clients * each - 30
