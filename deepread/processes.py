"""The command lines of DeepRead's processes, in one place: `make run`, the end-to-end tests and the benchmarks
start exactly what production runs (README, "Deployment").

- web: uvicorn serving Django over ASGI, a few worker processes (`deepread.webserver`);
- worker (cpu): Celery's prefork pool, a process per core, for the embedded CPU engine;
- worker (gpu): Celery's thread pool, so that many page requests to vLLM are in flight at once;
- scheduler: Celery beat, for the sweep that re-enqueues lost jobs.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from pathlib import Path


def _bin(bin_dir: Path | str, name: str) -> str:
    return str(Path(bin_dir) / name)


def web(bin_dir: Path | str, *, bind: str, workers: int = 2, access_log: bool = True) -> list[str]:
    """The web server (`deepread.webserver`: uvicorn on ASGI) on `host:port` with `workers` processes."""
    command = [_bin(bin_dir, "python"), "-m", "deepread.webserver", "--bind", bind, "--workers", str(workers)]
    return command if access_log else [*command, "--no-access-log"]


def worker(
    bin_dir: Path | str, *, engine: str, concurrency: int, log_level: str = "INFO", pool: str | None = None
) -> list[str]:
    """The worker for an engine: `gpu` on threads for vLLM, `cpu` on processes for the CPU engine (`pool` names
    another Celery pool)."""
    host = socket.gethostname()
    queue = "gpu" if engine == "vllm" else "cpu"
    pool = ["--pool", pool or ("threads" if engine == "vllm" else "prefork")]
    return [
        _bin(bin_dir, "celery"),
        "-A",
        "deepread",
        "worker",
        "-Q",
        queue,
        *pool,
        "-c",
        str(concurrency),
        "-l",
        log_level,
        "-n",
        f"{queue}-{os.getpid()}@{host}",
    ]


def scheduler(bin_dir: Path | str, *, schedule_file: str | None = None) -> list[str]:
    """argv for the Celery beat scheduler, optionally with its schedule file."""
    command = [_bin(bin_dir, "celery"), "-A", "deepread", "beat", "-l", "INFO"]
    return [*command, "-s", schedule_file] if schedule_file else command


def worker_concurrency(engine: str, env: Mapping[str, str] = os.environ) -> int:
    """Threads for the gpu worker (the in-flight bound plus some that render and store), else one per core."""
    if engine == "vllm":
        inflight = int(env.get("DEEPREAD_VLLM_MAX_INFLIGHT", "64"))
        return int(env.get("DEEPREAD_GPU_WORKER_THREADS", str(inflight + 16)))
    return int(env.get("DEEPREAD_WORKER_CONCURRENCY", str(os.cpu_count() or 1)))
