"""The command line that serves DeepSeek-OCR with vLLM, with the flags of the vLLM recipe (DESIGN.md):
- the n-gram logits processor, which `vllm_xargs` in each request configures (it guards against repetition loops);
- no prefix caching and no multimodal processor cache: every page is a new image, so they only cost memory."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

LOGITS_PROCESSOR = "vllm.model_executor.models.deepseek_ocr:NGramPerReqLogitsProcessor"


class VllmNotInstalled(RuntimeError):
    pass


def vllm_executable() -> str:
    beside = Path(sys.executable).with_name("vllm")
    found = str(beside) if beside.is_file() else shutil.which("vllm")
    if not found:
        raise VllmNotInstalled(
            "vLLM is not installed in this environment. On the GPU machine run: pip install '.[vllm]' "
            "(vllm==0.12.0, which needs an NVIDIA GPU and CUDA)."
        )
    return found


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
