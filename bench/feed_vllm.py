"""Does DeepRead keep a GPU's batch full? Measured against the fake vLLM server's capacity model (not a test).

Two figures, each from a real stack (gunicorn + the gpu worker on threads + the filesystem broker + SQLite), with
the fake vLLM server in a process of its own and work submitted through the public API as clients do:

1. Feeding: the fake serves C=64 requests at once, L=4 s each, so its ceiling is C/L = 16 pages/s. 500 one-page
   jobs and 20 PDFs of 25 pages are submitted; pages/s is measured at the fake, from its first request to its
   last answer, and printed with its ratio to the ceiling (target ≥ 0.9).
2. The orchestration's own ceiling: C=512, L=0.02 s, so the fake is never the limit. Pages/s, and the CPU ms per
   page of web and worker together (from /proc, the processes' own CPU times), separately for one-page images and
   for PDF pages (targets ≤ 15 ms per one-page job, ≤ 50 ms per PDF page including rendering and encoding).

    .venv/bin/python -m bench.feed_vllm [--quick]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from bench.proctree import tree_cpu_seconds
from devtools.samples import encode, render_lines
from devtools.stack import free_port, running_stack

ROOT = Path(__file__).resolve().parents[1]


def start_fake(capacity: int, latency: float) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "devtools.fake_vllm", "--port", str(port), "--capacity", str(capacity),
         "--latency", str(latency)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    proc.stdout.readline()  # LISTENING
    return proc, f"http://127.0.0.1:{port}"


def page_png(n: int) -> bytes:
    return encode(render_lines([f"Invoice {n:05d} for Northwind Traders", "Total amount payable: 1,284.50 EUR"]))


def pdf(pages: int, n: int) -> bytes:
    import io

    images = [render_lines([f"Report {n} page {p}", "Lorem ipsum dolor sit amet " * 3]) for p in range(pages)]
    buf = io.BytesIO()
    images[0].save(buf, format="PDF", save_all=True, append_images=images[1:], resolution=144)
    return buf.getvalue()


class Client:
    def __init__(self, base_url: str, key: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers["X-API-Key"] = key

    def submit(self, name: str, data: bytes, content_type: str, mode: str = "ocr") -> str:
        ticket = self.session.post(
            f"{self.base_url}/api/v1/upload/signed-url",
            params={"mode": mode},
            json={"filename": name, "content_type": content_type},
            timeout=30,
        )
        ticket.raise_for_status()
        body = ticket.json()
        put = requests.put(body["upload_url"], data=data, headers={"Content-Type": content_type}, timeout=60)
        put.raise_for_status()
        return body["job_id"]

    def counts(self) -> dict:
        r = self.session.get(f"{self.base_url}/api/v1/processing-jobs", params={"limit": 1}, timeout=30)
        r.raise_for_status()
        return r.json()

    def failed(self) -> int:
        r = self.session.get(f"{self.base_url}/api/v1/processing-jobs", params={"limit": 1000}, timeout=30)
        return sum(1 for f in r.json()["files"] if f["status"] == "failed")


def submit_all(client: Client, items: list[tuple[str, bytes, str]], threads: int = 8) -> None:
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda item: client.submit(*item), items))


def wait_done(client: Client, total: int, stack, timeout: float = 900) -> None:
    """Until `total` jobs completed; failures are looked for every 10 s (a full listing would cost the web CPU)."""
    deadline = time.time() + timeout
    next_failure_check = time.time() + 10
    while time.time() < deadline:
        dead = [name for name, proc in stack.procs.items() if proc.poll() is not None]
        if dead:
            raise SystemExit(f"{dead} exited:\n{stack.log(dead[0])[-4000:]}")
        if client.counts()["completed_count"] >= total:
            return
        if time.time() > next_failure_check:
            if client.failed():
                raise SystemExit(f"Jobs failed: {client.failed()}")
            next_failure_check = time.time() + 10
        time.sleep(0.5)
    raise SystemExit(f"Timed out: {client.counts()}")


def fake_stats(fake_url: str) -> dict:
    return requests.get(f"{fake_url}/_fake/stats", timeout=10).json()


def stack_env(fake_url: str, inflight: int) -> dict[str, str]:
    return {
        "VLLM_BASE_URL": f"{fake_url}/v1",
        "DEEPREAD_VLLM_MAX_INFLIGHT": str(inflight),
        "DEEPREAD_BURST_PER_MINUTE": "1000000",
        "DEEPREAD_LOG_LEVEL": "WARNING",
    }


def feeding(quick: bool) -> None:
    capacity, latency = 64, 4.0
    images, pdfs, pdf_pages = (100, 4, 25) if quick else (500, 20, 25)
    fake, fake_url = start_fake(capacity, latency)
    try:
        with (
            tempfile.TemporaryDirectory() as var,
            running_stack(Path(var), engine="vllm", env=stack_env(fake_url, capacity)) as stack,
        ):
            client = Client(stack.base_url, stack.new_key("bench@example.com", "enterprise"))
            items = [(f"page-{n}.png", page_png(n), "image/png") for n in range(images)]
            items += [(f"report-{n}.pdf", pdf(pdf_pages, n), "application/pdf") for n in range(pdfs)]
            started = time.time()
            submit_all(client, items)
            wait_done(client, len(items), stack)
            wall = time.time() - started
            stats = fake_stats(fake_url)
            failed = client.failed()
    finally:
        fake.terminate()
    pages = images + pdfs * pdf_pages
    ceiling = capacity / latency
    served_window = stats["last_end"] - stats["first_start"]
    rate = stats["served"] / served_window
    print(f"\n1. Feeding: C={capacity}, L={latency:g} s, ceiling {ceiling:g} pages/s")
    print(f"   {images} one-page jobs + {pdfs} PDFs x {pdf_pages} pages = {pages} pages; failed jobs: {failed}")
    print(f"   served {stats['served']} pages in {served_window:.1f} s at the server ({wall:.1f} s end to end)")
    print(f"   max in flight at the server: {stats['max_inflight']}")
    print(f"   pages/s: {rate:.2f}   ratio to ceiling: {rate / ceiling:.3f}   (target >= 0.9)")


def orchestration(quick: bool) -> None:
    capacity, latency = 512, 0.02
    images, pdfs, pdf_pages = (100, 4, 25) if quick else (500, 20, 25)
    fake, fake_url = start_fake(capacity, latency)
    try:
        with (
            tempfile.TemporaryDirectory() as var,
            running_stack(Path(var), engine="vllm", env=stack_env(fake_url, 128)) as stack,
        ):
            client = Client(stack.base_url, stack.new_key("bench@example.com", "enterprise"))
            pids = {name: p.pid for name, p in stack.procs.items()}
            results = {}
            done = 0
            for label, items, pages in (
                ("one-page images", [(f"p-{n}.png", page_png(n), "image/png") for n in range(images)], images),
                (
                    "PDF pages",
                    [(f"r-{n}.pdf", pdf(pdf_pages, n), "application/pdf") for n in range(pdfs)],
                    pdfs * pdf_pages,
                ),
            ):
                cpu_before = {name: tree_cpu_seconds(pid) for name, pid in pids.items()}
                started = time.time()
                submit_all(client, items)
                done += len(items)
                wait_done(client, done, stack)
                wall = time.time() - started
                cpu = {name: tree_cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
                results[label] = (pages, wall, cpu)
            failed = client.failed()
    finally:
        fake.terminate()
    print(f"\n2. Orchestration ceiling: C={capacity}, L={latency:g} s (the fake is never the limit); failed: {failed}")
    for label, (pages, wall, cpu) in results.items():
        target = 15 if label.startswith("one") else 50
        total = sum(cpu.values())
        print(
            f"   {label:16s} {pages} pages in {wall:.1f} s = {pages / wall:6.1f} pages/s; "
            f"web+worker CPU {total * 1000 / pages:5.1f} ms/page (target <= {target}; "
            f"web {cpu['web'] * 1000 / pages:.1f}, worker {cpu['worker'] * 1000 / pages:.1f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="a fifth of the work, for a fast look")
    parser.add_argument("--only", choices=["feeding", "orchestration"])
    args = parser.parse_args()
    print(f"feed_vllm {dt.date.today().isoformat()} on {os.cpu_count()} cores")
    if args.only != "orchestration":
        feeding(args.quick)
    if args.only != "feeding":
        orchestration(args.quick)


if __name__ == "__main__":
    main()
