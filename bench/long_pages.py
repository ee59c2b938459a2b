"""Seconds per page for a very long page and for an ordinary A4 page, CPU engine, side by side in one run (not a
test). The long page is the 600×15000 screenshot of the field reports (../shared/data/field/08-long-screenshot.png,
or one drawn the same way when that file is absent), read in overlapping strips; the A4 page (1191×1684, a page
rendered at 144 DPI with 40 lines) is read in one pass as before, which the plan check below shows.

    .venv/bin/python -m bench.long_pages [--rounds 3] [--threads 2]

Rounds alternate the two pages, so both see the same machine load; the best and the median are printed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import statistics
import time
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from inference import strips
from inference.base import ModeSpec
from inference.documents import inspect_document, iter_pages
from inference.rapid import RapidOcrEngine

ROOT = Path(__file__).resolve().parents[1]

OCR = ModeSpec("ocr", "OCR", "", "<|grounding|>OCR this image.", "text")
FIELD = ROOT.parent / "shared" / "data" / "field" / "08-long-screenshot.png"


def long_page() -> tuple[Image.Image, str]:
    if FIELD.is_file():
        data = FIELD.read_bytes()
        page = next(iter_pages(data, inspect_document(data, max_pixels=60_000_000, max_pages=1), dpi=144,
                               max_pixels=60_000_000))  # fmt: skip
        return page.image.convert("RGB"), FIELD.name
    font = ImageFont.load_default(size=26)
    image = Image.new("RGB", (600, 15000), "white")
    draw = ImageDraw.Draw(image)
    for n in range(210):
        draw.text((30, 40 + 70 * n), f"Message {n + 1:03d} from Alex about lunch", fill="black", font=font)
    return image, "drawn 600x15000 screenshot"


def a4_page() -> Image.Image:
    font = ImageFont.load_default(size=20)
    image = Image.new("RGB", (1191, 1684), "white")
    draw = ImageDraw.Draw(image)
    for n in range(40):
        text = f"Line {n + 1:02d}: the quarterly statement lists every payment made"
        draw.text((110, 110 + 36 * n), text, fill="black", font=font)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return Image.open(io.BytesIO(out.getvalue())).convert("RGB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=max(1, os.cpu_count() or 1))
    args = parser.parse_args()
    engine = RapidOcrEngine(threads=args.threads)
    long_image, long_name = long_page()
    a4 = a4_page()
    pages = {f"long page ({long_name})": long_image, "A4 page (1191x1684)": a4}
    for name, image in pages.items():
        plan = strips.plan_strips(*image.size, max_side=engine.max_side)
        print(f"{name}: {image.width}x{image.height}, {len(plan.strips) if plan else 'no'} strips")
    engine.recognize(a4, OCR)  # warm-up: model sessions and allocator
    times: dict[str, list[float]] = {name: [] for name in pages}
    lines: dict[str, int] = {}
    for _ in range(args.rounds):
        for name, image in pages.items():
            start = time.perf_counter()
            result = engine.recognize(image, OCR)
            times[name].append(time.perf_counter() - start)
            lines[name] = len(result.text.splitlines())
    print(f"\n{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, {args.threads} engine threads, "
          f"{args.rounds} rounds")  # fmt: skip
    print(f"{'page':<50} {'best s/page':>12} {'median s/page':>14} {'lines read':>11}")
    for name, values in times.items():
        print(f"{name:<50} {min(values):>12.2f} {statistics.median(values):>14.2f} {lines[name]:>11}")


if __name__ == "__main__":
    main()
