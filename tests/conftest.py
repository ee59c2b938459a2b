"""Fixtures every test may use, and how `pytest -n 2 --dist loadgroup` (make test) shares the tests out.

Tests that share a server or a resource run in one pytest-xdist worker, one after another (`xdist_group` below):
each end-to-end module (its module-scoped stack, or a fixed path such as var/seed-clients-node); the integration
tests (fixed Redis databases 11 and 12, PostgreSQL, RabbitMQ, the RADOS Gateway); the tests on Redis database 13.
Everything else runs wherever a worker is free: each worker has its own SQLite test database, var/ directory
(tests/settings.py) and temporary directories, and starts the session-scoped stacks of tests/e2e/conftest.py
itself if its tests use them (on free ports).
"""

from __future__ import annotations

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


# Modules that share a fixed resource outside their own temporary directories, by the resource.
SHARED_RESOURCES = {
    "tests/core/test_ratelimit.py": "redis-db-13",
    "tests/accounts/test_burst_limit.py": "redis-db-13",
}


def xdist_group(nodeid: str) -> str:
    """The work unit of a test under `--dist loadgroup`: tests with the same one run in one worker, in order.

    The integration tests share fixed Redis databases (11, 12) and the services; an end-to-end module shares its
    module-scoped stack (or a fixed path such as var/seed-clients-node); a few modules share Redis database 13.
    Any other test is a unit of its own. Worked out from the node id alone (the controller does not collect)."""
    path = nodeid.split("::", 1)[0]
    if path in SHARED_RESOURCES:
        return SHARED_RESOURCES[path]
    if path.startswith("tests/integration/"):
        return "tests/integration"
    if path.startswith("tests/e2e/"):
        return path
    return nodeid


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config, log):
    """`--dist loadgroup` with the groups of `xdist_group` (pytest 9 ignores the node-id suffix by which
    pytest-xdist 3.8 passes `xdist_group` marks to its scheduler, so the groups are given to it here)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_group(nodeid)

    return GroupScheduling(config, log)
