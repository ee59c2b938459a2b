import pytest

from inference.registry import get_engine


@pytest.fixture
def vllm(settings, fake_vllm):
    """The vLLM engine against the fake vLLM server (`fake_vllm`, returned), retrying after 10 ms."""
    settings.DEEPREAD_ENGINE = "vllm"
    settings.VLLM_BASE_URLS = [fake_vllm.base_url]
    settings.DEEPREAD_VLLM_BACKOFF_S = 0.01
    get_engine.cache_clear()
    yield fake_vllm
    get_engine.cache_clear()
