"""`POST /v1/ocr` under overload beside a page poller (not a test; issue 13 item 3).

A stack on embedded defaults with the CPU engine (as `make run`), then for `--seconds`: `--callers` clients calling
`/v1/ocr` back to back with one 40-line PNG (base64), and a poller requesting `/accounts/login/` every 0.25 s on a
fresh connection (a timeout counts as its 30 s). Prints the callers' throughput and answers by status and code, and
the poller's p50/p99/max.

    .venv/bin/python -m bench.sync_admission          # 10 callers, 60 s
"""

from __future__ import annotations

import argparse
import base64
import collections
import statistics
import tempfile
import threading
import time
from pathlib import Path

import requests

from devtools.samples import encode, render_lines
from devtools.stack import running_stack

LINES = [f"Line {n:02d}: the quick brown fox jumps over the lazy dog {n * 37 % 1000}" for n in range(40)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--callers", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    image = base64.b64encode(encode(render_lines(LINES), "PNG")).decode()
    env = {"DEEPREAD_BURST_PER_MINUTE": "1000000"}
    with tempfile.TemporaryDirectory() as var, running_stack(Path(var), env=env) as stack:
        key = stack.new_key("bench@example.com", tier="enterprise")
        url, headers = f"{stack.base_url}/v1/ocr", {"Authorization": f"Bearer {key}"}
        body = {"image": image, "image_type": "base64"}
        deadline = time.time() + 180
        while requests.post(url, json=body, headers=headers, timeout=120).status_code != 200:  # engine loaded
            if time.time() > deadline:
                raise SystemExit("the engine never answered")
            time.sleep(1)
        answers: collections.Counter[str] = collections.Counter()
        ok_latencies: list[float] = []
        page_latencies: list[float] = []
        stop = threading.Event()

        def caller() -> None:
            while not stop.is_set():
                started = time.perf_counter()
                try:
                    response = requests.post(url, json=body, headers=headers, timeout=120)
                except requests.RequestException as exc:
                    answers[f"client error {type(exc).__name__}"] += 1
                    continue
                if response.status_code == 200:
                    ok_latencies.append(time.perf_counter() - started)
                    answers["200"] += 1
                else:
                    code = (response.json().get("error") or {}).get("code", "?") if response.content else "?"
                    answers[f"{response.status_code} {code}"] += 1
                    if response.headers.get("Retry-After"):
                        stop.wait(min(float(response.headers["Retry-After"]), 1.0))  # a polite client backs off

        def poller() -> None:
            while not stop.is_set():
                started = time.perf_counter()
                try:
                    ok = requests.get(f"{stack.base_url}/accounts/login/", timeout=30).status_code == 200
                except requests.RequestException:
                    ok = False
                page_latencies.append(time.perf_counter() - started if ok else 30.0)
                stop.wait(0.25)

        threads = [threading.Thread(target=caller) for _ in range(args.callers)] + [threading.Thread(target=poller)]
        started = time.time()
        for thread in threads:
            thread.start()
        time.sleep(args.seconds)
        stop.set()
        for thread in threads:
            thread.join()
        elapsed = time.time() - started

    pages = sorted(page_latencies)
    p99 = pages[min(len(pages) - 1, int(0.99 * len(pages)))]
    print(f"{args.callers} callers for {elapsed:.0f} s: {answers['200']} answered 200 "
          f"({answers['200'] / elapsed:.2f}/s, p50 {statistics.median(ok_latencies or [0]):.2f} s); "
          f"answers: {dict(answers.most_common())}")  # fmt: skip
    print(f"page poller: {len(pages)} requests, p50 {statistics.median(pages) * 1000:.0f} ms, "
          f"p99 {p99 * 1000:.0f} ms, max {pages[-1] * 1000:.0f} ms, failed/timed out {pages.count(30.0)}")  # fmt: skip


if __name__ == "__main__":
    main()
