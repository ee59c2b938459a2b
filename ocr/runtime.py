"""The engine runtime of a worker process: the one engine it loads, with the options settings give it, and
whether pages fan out as tasks of their own (the vLLM engine) or run inside the job's task (the CPU engine)."""

from __future__ import annotations

import logging
import os

from django.conf import settings

from core.errors import InvalidInput
from inference.base import ModeSpec
from inference.registry import engine_supports, get_engine

logger = logging.getLogger(__name__)


def worker_engine():
    """This process's engine (`inference.registry`): `DEEPREAD_ENGINE` with `engine_options()`, loaded on first use
    and kept for the life of the process. Raises EngineError when the engine cannot be built (vLLM not set up)."""
    return get_engine(settings.DEEPREAD_ENGINE, **engine_options())


def engine_options() -> dict[str, object]:
    """Keyword options for `inference.registry.get_engine`, from the settings: for the CPU engine its ONNX threads
    (cores / `DEEPREAD_WORKER_CONCURRENCY`, at least 1), for vLLM `vllm_engine_options()`."""
    if settings.DEEPREAD_ENGINE == "rapidocr":
        cores = os.cpu_count() or 1
        return {"threads": max(1, cores // settings.DEEPREAD_WORKER_CONCURRENCY)}
    return vllm_engine_options()


def vllm_engine_options() -> dict[str, object]:
    """The vLLM engine's options from the settings, whichever engine this process runs."""
    return {
        "base_urls": tuple(settings.VLLM_BASE_URLS),
        "model": settings.VLLM_MODEL,
        "api_key": settings.VLLM_API_KEY,
        "max_inflight": settings.DEEPREAD_VLLM_MAX_INFLIGHT,
        "max_tokens": settings.DEEPREAD_VLLM_MAX_TOKENS,
        "connect_timeout_s": settings.DEEPREAD_VLLM_CONNECT_TIMEOUT_S,
        "read_timeout_s": settings.DEEPREAD_VLLM_READ_TIMEOUT_S,
        "retries": settings.DEEPREAD_VLLM_RETRIES,
        "backoff_s": settings.DEEPREAD_VLLM_BACKOFF_S,
        "cooldown_s": settings.DEEPREAD_VLLM_COOLDOWN_S,
        "page_format": settings.DEEPREAD_VLLM_PAGE_FORMAT,
        "cpu_fallback": settings.DEEPREAD_LADDER_CPU,
    }


def pages_fan_out() -> bool:
    """PDF pages become tasks of their own on the gpu queue, so they reach the server together. The CPU engine
    gains nothing from it: its pool already has one process per core."""
    return settings.DEEPREAD_ENGINE == "vllm"


def check_mode_servable(mode: ModeSpec) -> None:
    """Refuse a mode this deployment's engine cannot run, before anything is spent.

    Raises InvalidInput (400, `param="mode"`): a figure or chart mode on the CPU engine (`DEEPREAD_ENGINE`)."""
    if not engine_supports(settings.DEEPREAD_ENGINE, mode.output_kind):
        raise InvalidInput(
            f"Mode {mode.name!r} ({mode.output_kind}) needs the DeepSeek-OCR engine; this server runs the "
            f"{settings.DEEPREAD_ENGINE} CPU engine, which cannot do it. Ask the operator to set DEEPREAD_ENGINE=vllm.",
            param="mode",
        )
