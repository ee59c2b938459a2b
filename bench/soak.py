"""Sustained mixed traffic against gunicorn + the gpu worker with the fake engine (not a test).

For `--minutes` (10 by default), client threads keep submitting one-page jobs and small PDFs through the job API,
calling `/v1/ocr`, listing jobs and reading results. At the end it waits for every submitted job and prints the
requests served, the errors, p50/p99 latency, the jobs completed against those submitted (they must be equal),
and the RSS of each process tree (web and worker, children included): sampled every `--sample-s` seconds, with the
growth from the first minute to the end and over the second half alone. Memory that grows in the first minutes and
then stays flat is warm-up (caches, allocator arenas); memory still growing over the second half is a leak.

    .venv/bin/python -m bench.soak [--minutes 10] [--clients 6] [--sample-s 60] [--env MALLOC_ARENA_MAX=2]
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path

import requests

from bench.feed_vllm import pdf, start_fake
from bench.proctree import tree_rss_mb
from devtools.samples import encode, render_lines
from devtools.stack import running_stack

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--sample-s", type=float, default=60)
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the DeepRead processes")
    args = parser.parse_args()
    fake, fake_url = start_fake(64, 0.2)
    env = {"VLLM_BASE_URL": f"{fake_url}/v1", "DEEPREAD_BURST_PER_MINUTE": "10000000", "DEEPREAD_LOG_LEVEL": "WARNING"}
    env |= dict(item.split("=", 1) for item in args.env)
    png = encode(render_lines(["Soak test page", "Total 12.50 EUR"]))
    small_pdf = pdf(3, 0)
    latencies: list[float] = []
    errors: list[str] = []
    submitted: list[str] = []
    lock = threading.Lock()
    try:
        with tempfile.TemporaryDirectory() as var, running_stack(Path(var), engine="vllm", env=env) as stack:
            key = stack.new_key("soak@example.com", "enterprise")
            base, headers = stack.base_url, {"X-API-Key": key}
            pids = {name: proc.pid for name, proc in stack.procs.items()}
            stop = time.time() + args.minutes * 60
            first_minute: dict[str, float] = {}

            def timed(method: str, url: str, **kw) -> requests.Response | None:
                started = time.perf_counter()
                try:
                    response = requests.request(method, url, timeout=60, **kw)
                except requests.RequestException as exc:
                    with lock:
                        errors.append(f"{method} {url.split('?')[0]}: {type(exc).__name__}")
                    return None
                with lock:
                    latencies.append((time.perf_counter() - started) * 1000)
                    if response.status_code >= 400:
                        errors.append(f"{method} {url.split('?')[0].replace(base, '')}: {response.status_code}")
                return response

            def client() -> None:
                while time.time() < stop:
                    action = random.random()
                    if action < 0.4:
                        is_pdf = random.random() < 0.25
                        ticket = timed("POST", f"{base}/api/v1/upload/signed-url", params={"mode": "ocr"},
                                       headers=headers, json={"filename": "s.pdf" if is_pdf else "s.png"})  # fmt: skip
                        if ticket is None or ticket.status_code != 200:
                            continue
                        body = ticket.json()
                        ctype = "application/pdf" if is_pdf else "image/png"
                        put = timed("PUT", body["upload_url"], data=small_pdf if is_pdf else png,
                                    headers={"Content-Type": ctype})  # fmt: skip
                        if put is not None and put.status_code == 200:
                            with lock:
                                submitted.append(body["job_id"])
                    elif action < 0.55:
                        timed("POST", f"{base}/v1/ocr", headers=headers,
                              json={"image": base64.b64encode(png).decode(), "image_type": "base64"})  # fmt: skip
                    elif action < 0.8:
                        timed("GET", f"{base}/api/v1/processing-jobs", params={"limit": 50}, headers=headers)
                    else:
                        with lock:
                            job_id = random.choice(submitted) if submitted else None
                        if job_id:
                            timed("GET", f"{base}/api/v1/results/{job_id}", headers=headers)

            threads = [threading.Thread(target=client) for _ in range(args.clients)]
            for thread in threads:
                thread.start()
            samples: list[tuple[float, dict[str, float]]] = []
            started = time.time()
            while any(thread.is_alive() for thread in threads):
                time.sleep(min(args.sample_s, max(0.0, stop - time.time())) or 0.1)
                if time.time() < stop or not samples or samples[-1][0] < args.minutes * 60 - 1:
                    samples.append((time.time() - started, {name: tree_rss_mb(pid) for name, pid in pids.items()}))
            for thread in threads:
                thread.join()
            first_minute = next((rss for at, rss in samples if at >= min(60, args.minutes * 30)), samples[0][1])
            halfway = next(rss for at, rss in samples if at >= args.minutes * 30)
            end_rss = samples[-1][1]
            deadline = time.time() + 300
            while time.time() < deadline:
                counts = requests.get(f"{base}/api/v1/processing-jobs", params={"limit": 1}, headers=headers,
                                      timeout=60).json()  # fmt: skip
                if counts["completed_count"] + counts["pending_count"] == 0 or (
                    counts["completed_count"] >= len(submitted) and counts["pending_count"] == 0
                ):
                    break
                time.sleep(2)
            completed = counts["completed_count"]
    finally:
        fake.terminate()
    latencies.sort()
    print(f"soak {dt.date.today().isoformat()}: {args.minutes:g} min, {args.clients} clients, fake engine 0.2 s/page")
    print(f"  requests served: {len(latencies)}   errors: {len(errors)}"
          + (f" (first: {errors[:3]})" if errors else ""))  # fmt: skip
    p99 = latencies[int(0.99 * (len(latencies) - 1))]
    print(f"  latency p50 {statistics.median(latencies):.1f} ms   p99 {p99:.1f} ms")
    print(f"  jobs submitted {len(submitted)}   completed {completed}   "
          f"{'EQUAL' if completed == len(submitted) else 'MISMATCH'}")  # fmt: skip
    if args.env:
        print(f"  environment: {' '.join(args.env)}")
    for name in pids:
        growth, late = end_rss[name] - first_minute[name], end_rss[name] - halfway[name]
        print(f"  RSS {name}: {first_minute[name]:.0f} MB after the first minute -> {end_rss[name]:.0f} MB at the end "
              f"({growth:+.0f} MB; second half alone {late:+.0f} MB)")  # fmt: skip
        trajectory = " ".join(f"{rss[name]:.0f}" for _, rss in samples)
        print(f"    every {args.sample_s:g} s: {trajectory}")


if __name__ == "__main__":
    main()
