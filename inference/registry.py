"""One engine per process, built on first use (the worker warms it at start-up)."""

from __future__ import annotations

import functools

from inference.base import Engine, EngineError


@functools.cache
def get_engine(name: str, **options: object) -> Engine:
    """A new engine by name ("rapidocr" or "vllm"), `options` passed to its constructor.

    Raises EngineError for any other name.
    """
    if name == "rapidocr":
        from inference.rapid import RapidOcrEngine

        return RapidOcrEngine(**options)  # type: ignore[arg-type]
    if name == "vllm":
        from inference.vllm_engine import VllmEngine

        return VllmEngine(**options)  # type: ignore[arg-type]
    raise EngineError(f"The {name!r} engine is not available in this build of DeepRead; use rapidocr or vllm.")


def engine_supports(name: str, output_kind: str) -> bool:
    """Whether an engine can honestly serve a mode's output kind, without loading it."""
    if name == "rapidocr":
        from inference.rapid import SUPPORTED_KINDS

        return output_kind in SUPPORTED_KINDS
    return True
