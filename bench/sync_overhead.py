"""What `POST /v1/ocr` adds to the engine's own time (not a test).

p50 and p99 latency of /v1/ocr through gunicorn (base64 body, one-page image) against calling the same engine
directly in-process on the same image, and the overhead in ms and as a ratio. Target: overhead <= 15 ms at p50.

    .venv/bin/python -m bench.sync_overhead [--engine rapidocr|vllm] [--n 40]

With `--engine vllm` the engine is the DeepSeek-OCR client against the fake vLLM server (20 ms a page, in a
process of its own), which isolates DeepRead's own overhead; with `rapidocr` the CPU engine's own time adds its
noise.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import os
import statistics
import tempfile
import time
from pathlib import Path

import requests

from bench.feed_vllm import start_fake
from devtools.samples import png_bytes
from devtools.stack import running_stack
from inference.base import ModeSpec
from inference.documents import inspect_document, iter_pages
from inference.registry import get_engine

ROOT = Path(__file__).resolve().parents[1]

OCR = ModeSpec("ocr", "OCR", "", "<|grounding|>OCR this image.", "text")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def direct(engine, data: bytes, n: int) -> list[float]:
    times = []
    for _ in range(n + 3):
        started = time.perf_counter()
        info = inspect_document(data, max_pixels=60_000_000, max_pages=10)
        for page in iter_pages(data, info, dpi=144, max_pixels=60_000_000):
            engine.recognize(page.image, OCR, source=page.source)
        times.append((time.perf_counter() - started) * 1000)
    return times[3:]


def via_api(base_url: str, key: str, data: bytes, n: int) -> list[float]:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"
    body = {"image": base64.b64encode(data).decode(), "image_type": "base64"}
    deadline = time.time() + 120
    while session.post(f"{base_url}/v1/ocr", json=body, timeout=60).status_code == 503:  # engine warming up
        if time.time() > deadline:
            raise SystemExit("engine never ready")
        time.sleep(1)
    times = []
    for _ in range(n + 3):
        started = time.perf_counter()
        response = session.post(f"{base_url}/v1/ocr", json=body, timeout=60)
        times.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return times[3:]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", choices=["rapidocr", "vllm"], default="vllm")
    parser.add_argument("--n", type=int, default=40)
    args = parser.parse_args()
    data = png_bytes()
    fake, fake_url = start_fake(64, 0.02) if args.engine == "vllm" else (None, "")
    env = {"DEEPREAD_BURST_PER_MINUTE": "100000", "DEEPREAD_LOG_LEVEL": "WARNING"}
    if fake:
        env["VLLM_BASE_URL"] = f"{fake_url}/v1"
        engine = get_engine("vllm", base_urls=(f"{fake_url}/v1",))
    else:
        engine = get_engine("rapidocr", threads=os.cpu_count() or 1)
    try:
        with tempfile.TemporaryDirectory() as var, running_stack(Path(var), engine=args.engine, env=env) as stack:
            key = stack.new_key("bench@example.com", "enterprise")
            api = via_api(stack.base_url, key, data, args.n)
        own = direct(engine, data, args.n)
    finally:
        if fake:
            fake.terminate()
    print(f"sync_overhead {dt.date.today().isoformat()} on {os.cpu_count()} cores, engine {args.engine}, n={args.n}")
    print(f"{'':18s}{'p50 ms':>9s}{'p99 ms':>9s}")
    print(f"{'engine direct':18s}{statistics.median(own):9.1f}{percentile(own, 0.99):9.1f}")
    print(f"{'POST /v1/ocr':18s}{statistics.median(api):9.1f}{percentile(api, 0.99):9.1f}")
    overhead = statistics.median(api) - statistics.median(own)
    print(f"overhead at p50: {overhead:.1f} ms   ratio: {statistics.median(api) / statistics.median(own):.2f}x"
          f"   (target <= 15 ms)")  # fmt: skip


if __name__ == "__main__":
    main()
