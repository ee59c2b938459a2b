"""The command line that serves DeepSeek-OCR or DeepSeek-OCR 2 with vLLM, with the flags of the vLLM recipes:
- the n-gram logits processor, which `vllm_xargs` in each request configures (it guards against repetition loops);
- no prefix caching and no multimodal processor cache: every page is a new image, so they only cost memory;
- `VLLM_USE_V2_MODEL_RUNNER=0` in its environment: releases that default to model runner V2 refuse the V1-style
  n-gram processor (inference/vllm_models.py has the pins and the reasons)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from inference.vllm_models import LOGITS_PROCESSOR, MODELS, OLD_RUNNER_ENV, profile_for

__all__ = ["LOGITS_PROCESSOR", "MODELS", "VllmNotInstalled", "serve_command", "serve_env", "vllm_executable"]


class VllmNotInstalled(RuntimeError):
    """The `vllm` command is not installed here."""


def vllm_executable() -> str:
    """Path of the `vllm` command, beside this Python first, then on PATH.

    Raises VllmNotInstalled with the install command when neither has one.
    """
    beside = Path(sys.executable).with_name("vllm")
    found = str(beside) if beside.is_file() else shutil.which("vllm")
    if not found:
        raise VllmNotInstalled(
            "vLLM is not installed in this environment. On the GPU machine run: pip install '.[vllm]' "
            "(vllm==0.12.0 for DeepSeek-OCR; '.[vllm-ocr2]' for DeepSeek-OCR 2; both need an NVIDIA GPU and CUDA)."
        )
    return found


def serve_env(model: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """The server's environment: `base` (this process's by default) plus the variable that keeps the V1 model
    runner, unless the operator set it already."""
    env = dict(os.environ if base is None else base)
    for key, value in OLD_RUNNER_ENV.items():
        env.setdefault(key, value)
    return env


def pin_for(model: str) -> str:
    """The tested vLLM release for a model, e.g. `vllm==0.12.0`."""
    return profile_for(model).pin


def serve_command(
    *,
    model: str = "deepseek-ai/DeepSeek-OCR",
    host: str = "0.0.0.0",  # noqa: S104 - a server for the workers on other machines
    port: int = 8001,
    served_model_name: str | None = None,
    max_num_seqs: int | None = None,
    gpu_memory_utilization: float | None = None,
    executable: str = "vllm",
    extra: list[str] | None = None,
) -> list[str]:
    """argv for `vllm serve` with DeepSeek-OCR's n-gram logits processor and caching off; `extra` is appended as is.

    `gpu_memory_utilization` is a fraction 0-1; `max_num_seqs` caps sequences in flight.
    """
    command = [
        executable,
        "serve",
        model,
        "--logits_processors",
        LOGITS_PROCESSOR,
        "--no-enable-prefix-caching",
        "--mm-processor-cache-gb",
        "0",
        "--host",
        host,
        "--port",
        str(port),
    ]
    if served_model_name:
        command += ["--served-model-name", served_model_name]
    if max_num_seqs:
        command += ["--max-num-seqs", str(max_num_seqs)]
    if gpu_memory_utilization:
        command += ["--gpu-memory-utilization", str(gpu_memory_utilization)]
    return command + list(extra or [])
