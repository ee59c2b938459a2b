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
