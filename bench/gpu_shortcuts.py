"""How many model requests do the shortcuts save? A generated mixed corpus through the job API, against the fake vLLM
server at its ceiling, once with every shortcut on and once with all of them off (not a test).

The corpus, per unit of 10 pages (all `ocr` mode):
- 4 born-digital pages (40 %): one PDF whose pages carry real, visible text;
- 3 scanned pages and 1 blank page (30 % and 10 %): one PDF of page images and a white page;
- 2 duplicated pages (20 %): a 2-page PDF of scans identical to two pages seen before; in every other unit it is
  an identical re-upload of the previous unit's file (the whole result is reused), in the others its pages repeat
  the same unit's scanned pages (each page's result is reused).
Originals are submitted first and duplicates once they are done (a page can only reuse a stored result).

Printed: model requests per page submitted, and pages/s (pages submitted over the wall time from the first upload
to the last completed job), for both runs, and the ratios. The fake serves C requests at once, L seconds each.

    .venv/bin/python -m bench.gpu_shortcuts [--units 20] [--capacity 8] [--latency 1.0]
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

from bench.feed_vllm import Client, fake_stats, stack_env, start_fake, submit_all, wait_done
from devtools.pdfgen import PROSE, build_pdf
from devtools.stack import running_stack

ROOT = Path(__file__).resolve().parents[1]

OFF = {"DEEPREAD_SKIP_BLANK": "0", "DEEPREAD_TEXT_LAYER": "0", "DEEPREAD_REUSE_RESULTS": "0"}
PDF = "application/pdf"


def corpus(units: int) -> tuple[list[tuple[str, bytes, str]], list[tuple[str, bytes, str]], int]:
    """(originals, duplicates, pages in all)."""
    originals, duplicates = [], []
    previous_dup = b""
    for k in range(units):
        digital = [("digital", [f"Statement {k} page {p}", *PROSE]) for p in range(4)]
        scans = [("scan", [f"Scanned letter {k}", f"Page {p} of the letter", "Kind regards"]) for p in range(3)]
        originals.append((f"digital-{k}.pdf", build_pdf(digital), PDF))
        originals.append((f"scans-{k}.pdf", build_pdf([*scans, ("blank", [])]), PDF))
        duplicate = previous_dup if k % 2 else build_pdf(scans[:2])
        duplicates.append((f"dup-{k}.pdf", duplicate, PDF))
        previous_dup = duplicate
    return originals, duplicates, units * 10


def run(units: int, capacity: int, latency: float, env_extra: dict[str, str]) -> dict:
    originals, duplicates, pages = corpus(units)
    fake, fake_url = start_fake(capacity, latency)
    try:
        with tempfile.TemporaryDirectory() as var:
            env = {**stack_env(fake_url, capacity * 2), **env_extra}
            with running_stack(Path(var), engine="vllm", env=env) as stack:
                client = Client(stack.base_url, stack.new_key("bench@example.com", "enterprise"))
                received_before = fake_stats(fake_url)["received"]  # the worker's start-up guard probe
                start = time.time()
                submit_all(client, originals)
                wait_done(client, len(originals), stack)
                submit_all(client, duplicates)
                wait_done(client, len(originals) + len(duplicates), stack)
                elapsed = time.time() - start
                received = fake_stats(fake_url)["received"] - received_before
    finally:
        fake.terminate()
        fake.wait(timeout=10)
    return {"pages": pages, "requests": received, "seconds": elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--units", type=int, default=20, help="units of 10 pages")
    parser.add_argument("--capacity", type=int, default=8)
    parser.add_argument("--latency", type=float, default=1.0)
    args = parser.parse_args()
    print(
        f"{dt.date.today()}  corpus: {args.units * 10} pages (40 % born-digital, 30 % scans, 20 % duplicates, "
        f"10 % blank); fake vLLM C={args.capacity}, L={args.latency} s, ceiling {args.capacity / args.latency:g} req/s"
    )
    results = {}
    for name, env in (("shortcuts on", {}), ("shortcuts off", OFF)):
        r = run(args.units, args.capacity, args.latency, env)
        results[name] = r
        print(
            f"{name:14s} requests/page {r['requests'] / r['pages']:.2f} ({r['requests']} for {r['pages']} pages)   "
            f"pages/s {r['pages'] / r['seconds']:.1f} ({r['seconds']:.1f} s)"
        )
    on, off = results["shortcuts on"], results["shortcuts off"]
    print(
        f"ratio          requests ×{off['requests'] / max(1, on['requests']):.2f} fewer   "
        f"pages/s ×{(on['pages'] / on['seconds']) / (off['pages'] / off['seconds']):.2f} faster"
    )


if __name__ == "__main__":
    main()
