"""Fixtures every test may use, and how `pytest -n 2 --dist loadgroup` (make test) shares the tests out.

Tests that share a server or a resource run in one xdist worker, one after another (`xdist_group`): the tests
that use a session-scoped stack of tests/e2e/conftest.py; each other end-to-end module (its module-scoped stack,
or a fixed path such as var/seed-clients-node); the integration tests (fixed Redis databases 11 and 12, the one
PostgreSQL server, RabbitMQ, the RADOS Gateway); the tests on Redis database 13. Everything else runs wherever a
worker is free: each worker has its own SQLite test database and var/ directory (tests/settings.py).
"""

from __future__ import annotations

from collections import defaultdict

import pytest
from django.core.cache import cache

from core import ratelimit
from tests.factories import ApiKeyFactory, UserFactory


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
    }
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    cache.clear()
    if isinstance(ratelimit.get_store(), ratelimit.SqliteStore):  # the burst limiter's counters
        ratelimit.get_store().clear()
    yield
    cache.clear()


@pytest.fixture(scope="module")
def engine_loaded():
    """This process's synchronous OCR engine (ocr.services), loaded before the module's first test: up to 120 s."""
    from ocr import services as ocr_services

    assert ocr_services.wait_until_loaded(timeout=120)


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def me(client, db):
    """A new account, logged in on Django's test client `client` (the dashboard's session)."""
    user = UserFactory()
    client.force_login(user)
    return user


@pytest.fixture
def api_key(user):
    """(ApiKey, plaintext) for `user`."""
    return ApiKeyFactory.create_with_raw(user=user)


@pytest.fixture
def bearer(client, api_key):
    """Django's test client sending the user's key as `Authorization: Bearer` (the /v1/ocr style)."""
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {api_key[1]}"
    return client


@pytest.fixture
def api(api_key):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_X_API_KEY=api_key[1])
    return client


@pytest.fixture
def fake_vllm():
    """A real HTTP fake vLLM server on a free port, fast (capacity 64, 20 ms a request)."""
    from devtools.fake_vllm import FakeVllm

    fake = FakeVllm(capacity=64, latency=0.02).start()
    yield fake
    fake.stop()


# The session-scoped stacks of tests/e2e/conftest.py: every test that uses one runs in the worker that started it.
SHARED_STACKS = frozenset({"service", "vllm_service", "fake_vllm_server"})
# Modules that share a fixed resource outside the test's own directories, by the resource.
SHARED_RESOURCES = {
    "tests/core/test_ratelimit.py": "redis-db-13",
    "tests/accounts/test_burst_limit.py": "redis-db-13",
}


def _xdist_group(path: str, items: list[pytest.Item]) -> str | None:
    """The xdist group of one test module's tests (`path` relative to the checkout, with "/"), or None to let
    them run in any worker."""
    if any(SHARED_STACKS & set(item.fixturenames) for item in items):
        return "e2e-session-stacks"
    if path.startswith("tests/integration/"):
        return "integration"
    if path.startswith("tests/e2e/"):
        return path  # its module-scoped stack is started once, in one worker
    return SHARED_RESOURCES.get(path)


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the marks (--dist loadgroup)
def pytest_collection_modifyitems(config, items):
    modules: dict[str, list[pytest.Item]] = defaultdict(list)
    for item in items:
        modules[item.nodeid.split("::", 1)[0]].append(item)
    for path, module_items in modules.items():
        group = _xdist_group(path, module_items)
        if group is not None:
            for item in module_items:
                item.add_marker(pytest.mark.xdist_group(group))
